"""Queries from a real streaming replica, with read-your-writes (issue 15, part 2).

The service runs with DATABASE_URL on the pair's primary and READ_DATABASE_URL
on its hot standby (tests/replica.py). Replay is paused on the standby to make it
stale on purpose; which server answered is told by what the answer shows and by
the routing metric.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx

from accounts_gql.api.metrics import registry
from accounts_gql.app import create_app
from accounts_gql.core.security import issue_access_token
from accounts_gql.core.settings import Settings
from accounts_gql.db.replica import Route, decode_token
from tests.replica import StreamingReplica

CREATE = """mutation($u: String!) { createUser(input: {username: $u}) {
    __typename ... on UserPayloadSuccess { user { id username } } } }"""
READ = "query($u: String!) { user(username: $u) { username } }"
# The in-process app's metrics port (api/listeners.py): a request "arrives" there.
METRICS_PORT = 9464
METRICS_URL = f"http://127.0.0.1:{METRICS_PORT}/metrics"


def settings_for(pair: StreamingReplica, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": pair.primary.url,
        "read_database_url": pair.standby.url,
        "jwt_secret": "r" * 40,
        "rabbitmq_url": None,
        "relay_enabled": False,
        "db_pool_min": 1,
        "db_pool_max": 4,
        "replica_check_interval": 0.1,
        "replica_max_lag": 30.0,
        "gc_tuning": False,
        "metrics_port": METRICS_PORT,
        **overrides,
    }
    return Settings(**values)


@asynccontextmanager
async def service(pair: StreamingReplica, **overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
    settings = settings_for(pair, **overrides)
    app = create_app(settings, pair.primary.url)
    admin = await _admin(pair)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://r") as client,
    ):
        client.headers["authorization"] = f"Bearer {issue_access_token(settings, admin, ['admin'])}"
        yield client


async def _admin(pair: StreamingReplica) -> uuid.UUID:
    connection = await asyncpg.connect(pair.primary.url)
    try:
        admin: uuid.UUID = await connection.fetchval(
            "SELECT (accounts.create_user($1, 'Admin', '{}', '{admin}', NULL)).id",
            f"adm{uuid.uuid4().hex[:10]}",
        )
        return admin
    finally:
        await connection.close()


def routed(route: Route) -> float:
    """How many queries took `route` so far (the metric /metrics shows)."""
    labels = {"target": route.target, "reason": route.value}
    return registry.get_sample_value("accounts_read_queries_total", labels) or 0.0


async def create_user(client: httpx.AsyncClient, username: str) -> str:
    response = await client.post("/graphql", json={"query": CREATE, "variables": {"u": username}})
    body = response.json()
    assert body["data"]["createUser"]["__typename"] == "UserPayloadSuccess", body
    token = response.headers["x-consistency-token"]
    assert body["extensions"] == {"consistencyToken": token}
    assert decode_token(token) is not None
    return token


async def read_user(
    client: httpx.AsyncClient, username: str, token: str | None = None
) -> dict[str, Any] | None:
    headers = {"x-consistency-token": token} if token else {}
    response = await client.post(
        "/graphql", json={"query": READ, "variables": {"u": username}}, headers=headers
    )
    assert response.status_code == 200, response.text
    user: dict[str, Any] | None = response.json()["data"]["user"]
    return user


async def test_a_write_is_read_back_with_its_token_while_the_replica_is_paused(
    streaming_replica: StreamingReplica,
) -> None:
    pair = streaming_replica
    username = f"ryw{uuid.uuid4().hex[:10]}"
    async with service(pair) as client:
        await pair.pause_replay()
        try:
            token = await create_user(client, username)

            ahead = routed(Route.PRIMARY_TOKEN_AHEAD)
            assert await read_user(client, username, token) == {"username": username}
            assert routed(Route.PRIMARY_TOKEN_AHEAD) == ahead + 1, "the primary answered"

            # Without the token the query reads the replica, which has not replayed it.
            plain = routed(Route.REPLICA)
            assert await read_user(client, username) is None
            assert routed(Route.REPLICA) == plain + 1
        finally:
            await pair.resume_replay()

        position = decode_token(token)
        assert position is not None
        await pair.wait_replayed(position)
        replayed = routed(Route.REPLICA_TOKEN_REPLAYED)
        assert await read_user(client, username, token) == {"username": username}
        assert routed(Route.REPLICA_TOKEN_REPLAYED) == replayed + 1, "the replica answered"
        assert await read_user(client, username) == {"username": username}


async def test_a_token_waits_a_bounded_time_for_the_replica(
    streaming_replica: StreamingReplica,
) -> None:
    pair = streaming_replica
    username = f"wait{uuid.uuid4().hex[:10]}"
    async with service(pair, replica_wait=3.0) as client:
        await pair.pause_replay()
        try:
            token = await create_user(client, username)
            waited = routed(Route.REPLICA_TOKEN_WAITED)
            reading = asyncio.create_task(read_user(client, username, token))
            await asyncio.sleep(0.3)
            assert not reading.done(), "waits for the replica"
        finally:
            await pair.resume_replay()
        assert await reading == {"username": username}
        assert routed(Route.REPLICA_TOKEN_WAITED) == waited + 1

        # A replica that stays behind: the primary answers once the wait is over.
        await pair.pause_replay()
        try:
            late = await create_user(client, f"late{uuid.uuid4().hex[:10]}")
            ahead = routed(Route.PRIMARY_TOKEN_AHEAD)
            started = time.monotonic()
            async with service(pair, replica_wait=0.5) as short:
                assert await read_user(short, username, late) == {"username": username}
            assert routed(Route.PRIMARY_TOKEN_AHEAD) == ahead + 1
            assert time.monotonic() - started < 3
        finally:
            await pair.resume_replay()


async def test_a_lagging_replica_sends_queries_to_the_primary_and_readyz_says_degraded(
    streaming_replica: StreamingReplica,
) -> None:
    pair = streaming_replica
    username = f"lag{uuid.uuid4().hex[:10]}"
    async with service(pair, replica_max_lag=0.5) as client:
        assert (await client.get("/readyz")).json()["status"] == "ready"
        await pair.pause_replay()
        try:
            await create_user(client, username)
            deadline = time.monotonic() + 10
            while (await client.get("/readyz")).json()["checks"]["replica"] == "ok":
                assert time.monotonic() < deadline, "the lag never showed"
                await asyncio.sleep(0.1)
            ready = (await client.get("/readyz")).json()
            assert ready["status"] == "degraded"
            assert ready["checks"]["replica"].startswith("lagging: ")
            metrics = (await client.get(METRICS_URL)).text
            assert "accounts_replica_available 0.0" in metrics
            lag = registry.get_sample_value("accounts_replica_lag_seconds")
            assert lag is not None
            assert lag > 0.5

            lagging = routed(Route.PRIMARY_REPLICA_LAGGING)
            assert await read_user(client, username) == {"username": username}, "no token"
            assert routed(Route.PRIMARY_REPLICA_LAGGING) == lagging + 1
        finally:
            await pair.resume_replay()
        deadline = time.monotonic() + 10
        while (await client.get("/readyz")).json()["status"] != "ready":
            assert time.monotonic() < deadline, "the replica never caught up"
            await asyncio.sleep(0.1)


async def test_a_replica_that_goes_down_falls_back_to_the_primary(
    streaming_replica: StreamingReplica,
) -> None:
    pair = streaming_replica
    username = f"down{uuid.uuid4().hex[:10]}"
    # A long check interval: the first query after the stop meets the dead
    # replica itself, before any sample notices.
    async with service(pair, replica_check_interval=30.0) as client:
        token = await create_user(client, username)
        position = decode_token(token)
        assert position is not None
        await pair.wait_replayed(position)
        pair.standby.stop()
        try:
            assert await read_user(client, username) == {"username": username}
            ready = (await client.get("/readyz")).json()
            assert ready["status"] == "degraded"
            assert ready["checks"]["database"] == "ok"
            assert ready["checks"]["replica"].startswith("unavailable: ")
            down = routed(Route.PRIMARY_REPLICA_DOWN)
            assert await read_user(client, username, token) == {"username": username}
            assert routed(Route.PRIMARY_REPLICA_DOWN) == down + 1
            assert "accounts_replica_lag_seconds -1.0" in (await client.get(METRICS_URL)).text
        finally:
            pair.standby.start()
    async with service(pair) as client:
        assert (await client.get("/readyz")).json()["status"] == "ready", "back"
        assert await read_user(client, username) == {"username": username}
