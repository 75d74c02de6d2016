"""The database and the broker fail independently (PRODUCT §7): an outage of
one leaves the relay's connection to the other as it was, and /readyz reports
each as it is."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx

from accounts_gql.core.security import issue_access_token
from tests.events.conftest import BindQueue, relay_settings, wait_until
from tests.faults.conftest import LogLines, serving
from tests.proxy import TcpProxy, proxied_url

CREATE_USER = """mutation($u: String!) { createUser(input: {username: $u}) {
    ... on UserPayloadSuccess { user { id } } } }"""


def _settings(exchange: str, amqp_url: str | None = None, **overrides: Any) -> Any:
    base = relay_settings(exchange, amqp_url) if amqp_url else relay_settings(exchange)
    return base.model_copy(
        update={
            "jwt_secret": "i" * 40,
            "db_pool_min": 1,
            "db_pool_max": 3,
            "db_statement_timeout": 1.0,
            "db_acquire_timeout": 1.0,
            **overrides,
        }
    )


async def _create_user(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post(
        "/graphql",
        json={"query": CREATE_USER, "variables": {"u": f"ri{uuid.uuid4().hex[:10]}"}},
        headers={"authorization": f"Bearer {token}"},
    )


async def _readiness_for(client: httpx.AsyncClient, seconds: float) -> list[dict[str, Any]]:
    """/readyz's answers, polled for `seconds`."""
    answers = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        response = await client.get("/readyz")
        answers.append({"status_code": response.status_code, **response.json()})
        await asyncio.sleep(0.1)
    return answers


async def test_a_database_outage_keeps_the_broker_connection(
    database_url: str,
    exchange_name: str,
    bind_queue: BindQueue,
    pg_proxy: TcpProxy,
    log_lines: LogLines,
) -> None:
    dsn = proxied_url(database_url, pg_proxy)
    settings = _settings(exchange_name, database_url=dsn)
    token = issue_access_token(settings, uuid.uuid4(), ["admin"])
    collector = await bind_queue()
    async with serving(settings, dsn) as client:
        relay = client._transport.app.state.relay  # type: ignore[attr-defined]
        await wait_until(lambda: relay.state().broker_connected, 10, "the relay to connect")
        await pg_proxy.cut()
        during = await _readiness_for(client, 3.0)
        assert all(a["status_code"] == 503 for a in during)
        assert all(a["checks"]["database"].startswith("unavailable") for a in during)
        assert all(a["checks"]["broker"] == "ok" for a in during), during
        await pg_proxy.resume()
        await wait_until(lambda: relay.state().database_connected, 10, "the relay's database")
        created = await _create_user(client, token)
        assert created.json()["data"]["createUser"]["user"]["id"]
        await wait_until(lambda: bool(collector.received), 10, "the event")
        after = await client.get("/readyz")
        assert after.json()["status"] == "ready"
    # The broker connection made at start served the whole test.
    assert len(log_lines.matching("outbox relay connected to the broker")) == 1
    assert log_lines.matching("outbox relay lost the broker") == []
    # The outage is a warning or two (lost, cannot reconnect), not one per retry.
    assert len(log_lines.matching("outbox relay", level="WARNING")) <= 2
    assert log_lines.tracebacks() == []


async def test_a_broker_outage_leaves_the_database_serving(
    database_url: str,
    exchange_name: str,
    bind_queue: BindQueue,
    amqp_proxy: TcpProxy,
) -> None:
    from tests.events.conftest import AMQP_URL

    settings = _settings(exchange_name, proxied_url(AMQP_URL, amqp_proxy))
    token = issue_access_token(settings, uuid.uuid4(), ["admin"])
    collector = await bind_queue()
    async with serving(settings, database_url) as client:
        relay = client._transport.app.state.relay  # type: ignore[attr-defined]
        await wait_until(lambda: relay.state().broker_connected, 10, "the relay to connect")
        await amqp_proxy.cut()
        await wait_until(lambda: not relay.state().broker_connected, 10, "the relay to notice")
        during = await _readiness_for(client, 1.0)
        assert all(a["status_code"] == 200 and a["status"] == "degraded" for a in during)
        assert all(a["checks"]["database"] == "ok" for a in during)
        assert all(a["checks"]["broker"] == "unavailable" for a in during)
        # Writes go on; their events wait in the outbox.
        created = await _create_user(client, token)
        user_id = created.json()["data"]["createUser"]["user"]["id"]
        assert user_id
        await amqp_proxy.resume()
        await wait_until(lambda: bool(collector.received), 20, "the event after the outage")
        assert (await client.get("/readyz")).json()["status"] == "ready"
