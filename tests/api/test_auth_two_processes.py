"""Login throttling holds across replicas (PRODUCT §6): failures are counted in
PostgreSQL, so two real server processes on one database refuse together."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
SERVER = Path(sys.executable).parent / "accounts-gql"
# Both processes see the test's connections as coming from here.
CLIENT_IP = "127.0.0.1"
LIMIT = 4
PASSWORD = "correct horse battery"
JWT_SECRET = "two-processes-secret-" + "t" * 24

LOGIN = """mutation($input: LoginInput!) { login(input: $input) {
    __typename
    ... on AuthPayload { accessToken user { username } }
    ... on TooManyAttempts { retryAfterSeconds }
    ... on Error { message } } }"""
SIGN_UP = """mutation($input: SignUpInput!) { signUp(input: $input) {
    __typename ... on AuthPayload { user { id } } ... on Error { message } } }"""


class Server:
    """One `accounts-gql serve` process."""

    def __init__(
        self,
        database_url: str,
        workdir: Path,
        name: str,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / f"{name}.log"
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("RABBITMQ_", "JWT_", "LOGIN_", "DATABASE_", "PORT", "HOST"))
        }
        env.update(
            DATABASE_URL=database_url,
            HOST="127.0.0.1",
            PORT=str(self.port),
            JWT_SECRET=JWT_SECRET,
            RELAY_ENABLED="false",
            LOGIN_MAX_FAILURES_PER_PAIR=str(LIMIT),
            LOG_LEVEL="WARNING",
            LOG_DIR=str(workdir / f"{name}-logs"),
            DB_POOL_MIN="1",
            DB_POOL_MAX="3",
            # Cheaper hashing keeps the test quick; the throttle does not depend on it.
            ARGON2_MEMORY_COST="1024",
            ARGON2_TIME_COST="1",
        )
        env.update(extra_env or {})
        # cwd: no .env of the checkout is read.
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [str(SERVER), "serve"], cwd=workdir, env=env, stdout=log, stderr=log
            )

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"server exited with {self.process.returncode}: {self.output()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        pytest.fail(f"server on {self.url} not ready after {timeout}s: {self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


@pytest.fixture
def two_servers(database_url: str, tmp_path: Path) -> Iterator[tuple[Server, Server]]:
    servers: list[Server] = []
    try:
        servers.append(Server(database_url, tmp_path, "a"))
        servers.append(Server(database_url, tmp_path, "b"))
        for server in servers:
            server.wait_ready()
        yield servers[0], servers[1]
    finally:
        for server in servers:
            server.stop()


@pytest.fixture
async def no_recent_failures(pool: asyncpg.Pool) -> AsyncIterator[None]:
    """Forgets the failed logins of 127.0.0.1 before and after, as test_auth_api does,
    so that this test and the others do not throttle each other."""
    forget = "DELETE FROM accounts.login_attempts WHERE client_ip = $1"
    await pool.execute(forget, CLIENT_IP)
    yield
    await pool.execute(forget, CLIENT_IP)


async def call(
    http: httpx.AsyncClient, server: Server, query: str, variables: dict[str, Any]
) -> dict[str, Any]:
    response = await http.post(
        f"{server.url}/graphql",
        json={"query": query, "variables": variables},
        headers={"accept": "application/graphql-response+json"},
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body
    return body


async def login(
    http: httpx.AsyncClient, server: Server, username: str, password: str
) -> dict[str, Any]:
    body = await call(http, server, LOGIN, {"input": {"username": username, "password": password}})
    result: dict[str, Any] = body["data"]["login"]
    return result


async def test_failed_logins_spread_over_two_processes_throttle_both(
    two_servers: tuple[Server, Server], unique: str, no_recent_failures: None
) -> None:
    a, b = two_servers
    username = f"twoproc{unique}"
    async with httpx.AsyncClient(timeout=30.0) as http:
        signed_up = await call(
            http, a, SIGN_UP, {"input": {"username": username, "password": PASSWORD}}
        )
        assert signed_up["data"]["signUp"]["__typename"] == "AuthPayload", signed_up
        # The account made through one process signs in through the other.
        assert (await login(http, b, username, PASSWORD))["__typename"] == "AuthPayload"

        # LIMIT failures, alternating: neither process alone has seen LIMIT of them.
        servers = [a, b]
        for attempt in range(LIMIT):
            failed = await login(http, servers[attempt % 2], username, f"wrong {attempt}")
            assert failed["__typename"] == "InvalidCredentials", (attempt, failed)

        # The right password is now refused by each process.
        for server in (a, b, a):
            refused = await login(http, server, username, PASSWORD)
            assert refused["__typename"] == "TooManyAttempts", (server.url, refused)
            assert refused["retryAfterSeconds"] > 0

    # Both processes were alive throughout.
    assert a.process.poll() is None
    assert b.process.poll() is None


async def test_the_processes_do_not_throttle_before_the_limit(
    two_servers: tuple[Server, Server], unique: str, no_recent_failures: None
) -> None:
    """LIMIT - 1 failures across both processes leave the right password working."""
    a, b = two_servers
    username = f"underlimit{unique}"
    async with httpx.AsyncClient(timeout=30.0) as http:
        signed_up = await call(
            http, b, SIGN_UP, {"input": {"username": username, "password": PASSWORD}}
        )
        assert signed_up["data"]["signUp"]["__typename"] == "AuthPayload", signed_up
        results = await asyncio.gather(
            *(
                login(http, (a, b)[attempt % 2], username, f"wrong {attempt}")
                for attempt in range(LIMIT - 1)
            )
        )
        assert [result["__typename"] for result in results] == ["InvalidCredentials"] * (LIMIT - 1)
        session = await login(http, a, username, PASSWORD)
        assert session["__typename"] == "AuthPayload", session
        assert session["user"]["username"] == username
