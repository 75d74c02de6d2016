"""compose.yaml's topology as processes (issue 15, part 3): two `serve` processes
(real uvicorn servers on free ports of 127.0.0.1), a primary and a streaming
replica (tests/replica.py), the broker. The services get the environment
compose.yaml gives its replicas, with the hosts made local.

A write through one replica of the service is read through the other with its
consistency token, while the database replica's replay is paused (so only the
token can make the read see it); its event reaches a consumer on the broker.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from accounts_gql.core.security import issue_access_token
from accounts_gql.core.settings import Settings
from tests.events.conftest import (
    AMQP_URL,
    BindQueue,
    bind_queue,
    broker,
    exchange_name,
    wait_until,
)
from tests.ports import free_port
from tests.replica import StreamingReplica
from tests.test_compose import SERVICE_REPLICAS, service_environment

__all__ = ["bind_queue", "broker", "exchange_name"]  # the broker's fixtures

ROOT = Path(__file__).resolve().parent.parent
SECRET = "stack-" + "s" * 40


def _environment(pair: StreamingReplica, exchange: str, port: int, logs: Path) -> dict[str, str]:
    compose = service_environment()
    # The pair has one role (postgres) that owns and serves.
    local = {
        "MIGRATION_DATABASE_URL": pair.primary.url,
        "DATABASE_URL": pair.primary.url,
        "READ_DATABASE_URL": pair.standby.url,
        "RABBITMQ_URL": AMQP_URL,
        "EVENTS_EXCHANGE": exchange,
        "JWT_SECRET": SECRET,
    }
    assert set(local) <= set(compose), "the variables compose.yaml sets"
    inherited = {k: v for k, v in os.environ.items() if k not in compose}
    return (
        inherited
        | compose
        | local
        | {
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "LOG_DIR": str(logs),
            "REPLICA_CHECK_INTERVAL": "0.2",
        }
    )


# A service replica's base URL -> its metrics listener's.
METRICS: dict[str, str] = {}


def _wait_ready(base: str, process: subprocess.Popen[bytes], within: float = 60) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"serve exited with {process.returncode}")
        try:
            if httpx.get(f"{base}/readyz", timeout=1).json().get("status") == "ready":
                return
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.2)
    pytest.fail(f"{base} did not become ready")


@pytest.fixture
def stack(
    streaming_replica: StreamingReplica, exchange_name: str, tmp_path: Path
) -> Iterator[list[str]]:
    """The two service replicas' base URLs, stopped (SIGTERM, by pid) at the end."""
    processes: list[subprocess.Popen[bytes]] = []
    bases: list[str] = []
    try:
        for name in SERVICE_REPLICAS:
            port = free_port()
            logs = tmp_path / name
            logs.mkdir()
            environment = _environment(streaming_replica, exchange_name, port, logs)
            metrics_port = free_port()
            METRICS[f"http://127.0.0.1:{port}"] = f"http://127.0.0.1:{metrics_port}"
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "accounts_gql.cli", "serve"],
                    cwd=tmp_path,
                    env=environment | {"PYTHONPATH": str(ROOT), "METRICS_PORT": str(metrics_port)},
                    stdout=subprocess.DEVNULL,
                    stderr=(logs / "stderr").open("wb"),
                )
            )
            bases.append(f"http://127.0.0.1:{port}")
        for base, process in zip(bases, processes, strict=True):
            _wait_ready(base, process)
        yield bases
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


async def test_a_write_through_one_service_replica_is_read_through_the_other(
    stack: list[str], streaming_replica: StreamingReplica, bind_queue: BindQueue
) -> None:
    collector = await bind_queue()
    pair = streaming_replica
    settings = Settings(jwt_secret=SECRET)
    token = issue_access_token(settings, uuid.uuid4(), ["admin"])
    auth = {"authorization": f"Bearer {token}"}
    username = f"stack{uuid.uuid4().hex[:10]}"
    one, other = stack
    read = {"query": "query($u: String!) { user(username: $u) { username } }"}
    async with httpx.AsyncClient(timeout=10) as client:
        await pair.pause_replay()
        try:
            created = await client.post(
                f"{one}/graphql",
                json={
                    "query": """mutation($u: String!) { createUser(input: {username: $u}) {
                        __typename } }""",
                    "variables": {"u": username},
                },
                headers=auth,
            )
            assert created.json()["data"]["createUser"]["__typename"] == "UserPayloadSuccess"
            consistency = created.headers["x-consistency-token"]

            stale = await client.post(
                f"{other}/graphql", json={**read, "variables": {"u": username}}, headers=auth
            )
            assert stale.json()["data"]["user"] is None, "the paused replica lacks it"
            fresh = await client.post(
                f"{other}/graphql",
                json={**read, "variables": {"u": username}},
                headers=auth | {"x-consistency-token": consistency},
            )
            assert fresh.json()["data"]["user"] == {"username": username}
        finally:
            await pair.resume_replay()

        def arrived() -> bool:
            return any(
                r.envelope["type"] == "user.created"
                and r.envelope["data"]["user"]["username"] == username
                for r in collector.received
            )

        await wait_until(arrived, within=15, what="user.created on the broker")
        # Caught up, the other replica reads it from the database replica, token or not.
        for _ in range(100):
            again = await client.post(
                f"{other}/graphql", json={**read, "variables": {"u": username}}, headers=auth
            )
            if again.json()["data"]["user"] is not None:
                break
            await asyncio.sleep(0.05)
        assert again.json()["data"]["user"] == {"username": username}
        assert (await client.get(f"{other}/metrics")).status_code == 404, "not on the public port"
        metrics = (await client.get(f"{METRICS[other]}/metrics")).text
        assert 'accounts_read_queries_total{reason="token_ahead",target="primary"} 1.0' in metrics
        assert 'target="replica"' in metrics
