"""PostgreSQL cut, stalled or slow under a running service (PRODUCT §7): every
request gets a fast, typed, retryable error, /readyz says so within a second,
the log says it once, and the service recovers by itself."""

from __future__ import annotations

import asyncio
import time
import uuid

import asyncpg
import httpx

from tests.faults.conftest import (
    CONTACT_TYPES,
    LogLines,
    admin_headers,
    code_of,
    post,
)
from tests.proxy import TcpProxy

CREATE_CONTACT_TYPE = """mutation($code: String!) {
  createContactType(input: {code: $code, name: "Fault"}) {
    __typename ... on ContactTypePayloadSuccess { contactType { code } } } }"""


async def _until_served(client: httpx.AsyncClient, within: float) -> float:
    """Seconds until a query is answered with data again."""
    started = time.monotonic()
    while True:
        response = await post(client, CONTACT_TYPES)
        if response.status_code == 200 and response.json().get("data"):
            return time.monotonic() - started
        assert time.monotonic() - started < within, response.text
        await asyncio.sleep(0.02)


def _assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "1"
    assert code_of(response) == "SERVICE_UNAVAILABLE"
    assert "data" not in response.json()


async def test_a_cut_database_answers_service_unavailable_and_recovers(
    proxied: tuple[httpx.AsyncClient, TcpProxy], log_lines: LogLines
) -> None:
    client, proxy = proxied
    assert (await post(client, CONTACT_TYPES)).json()["data"]["contactTypes"]
    await proxy.cut()

    for _ in range(5):
        _assert_unavailable(await post(client, CONTACT_TYPES))
    mutation = await post(
        client, CREATE_CONTACT_TYPE, {"code": f"f{uuid.uuid4().hex[:8]}"}, headers=admin_headers()
    )
    _assert_unavailable(mutation)
    # application/json: the GraphQL-over-HTTP specification answers 200, the code says it.
    plain = await post(client, CONTACT_TYPES, headers={"accept": "application/json"})
    assert plain.status_code == 200
    assert code_of(plain) == "SERVICE_UNAVAILABLE"
    ready = await client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"].startswith("unavailable")

    await proxy.resume()
    recovery = await _until_served(client, within=5)
    print(f"served again {recovery:.3f} s after the cut ended")
    assert (await client.get("/readyz")).status_code == 200

    # One line when it went away, one when it came back; no traceback at all.
    assert len(log_lines.matching("database unavailable")) == 1
    assert len(log_lines.matching("database available again")) == 1
    assert log_lines.tracebacks() == []


async def test_a_stalled_database_answers_fast_and_readyz_within_a_second(
    proxied: tuple[httpx.AsyncClient, TcpProxy], log_lines: LogLines
) -> None:
    client, proxy = proxied
    assert (await post(client, CONTACT_TYPES)).json()["data"]["contactTypes"]
    await proxy.stall()
    try:
        started = time.monotonic()
        ready = await client.get("/readyz")
        assert time.monotonic() - started < 1.0
        assert ready.status_code == 503

        # The command timeout (statement timeout 1 s + 1 s) bounds a request.
        started = time.monotonic()
        responses = await asyncio.gather(*(post(client, CONTACT_TYPES) for _ in range(6)))
        elapsed = time.monotonic() - started
        for response in responses:
            _assert_unavailable(response)
        assert elapsed < 2.0 + 1.5, elapsed
        mutation = await post(
            client,
            CREATE_CONTACT_TYPE,
            {"code": f"f{uuid.uuid4().hex[:8]}"},
            headers=admin_headers(),
        )
        _assert_unavailable(mutation)

        started = time.monotonic()
        assert (await client.get("/readyz")).status_code == 503
        assert time.monotonic() - started < 1.0
    finally:
        await proxy.resume()
    await _until_served(client, within=10)
    assert (await client.get("/readyz")).status_code == 200
    assert len(log_lines.matching("database unavailable")) == 1
    assert log_lines.tracebacks() == []


async def test_a_slow_statement_is_cut_by_the_statement_timeout(
    proxied: tuple[httpx.AsyncClient, TcpProxy], pool: asyncpg.Pool, unique: str
) -> None:
    """A statement that waits on a lock longer than DB_STATEMENT_TIMEOUT (1 s
    here) is cancelled by PostgreSQL; the request is SERVICE_UNAVAILABLE."""
    client, _ = proxied
    code = f"s{unique}"
    async with pool.acquire() as holder, holder.transaction():
        await holder.execute("LOCK TABLE accounts.contact_types IN ACCESS EXCLUSIVE MODE")
        started = time.monotonic()
        response = await post(client, CREATE_CONTACT_TYPE, {"code": code}, headers=admin_headers())
        elapsed = time.monotonic() - started
    _assert_unavailable(response)
    assert 0.9 < elapsed < 2.0, elapsed
    created = await post(client, CREATE_CONTACT_TYPE, {"code": code}, headers=admin_headers())
    assert created.json()["data"]["createContactType"]["contactType"]["code"] == code
