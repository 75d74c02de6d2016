"""No secret reaches a log line (PRODUCT §6), in either log format, in any sink.

`accounts-gql serve` runs as an operator runs it, at DEBUG, on a database role
with a password (through a proxy the test cuts), a broker URL with a wrong
password (so the relay keeps failing to sign in), and a signing secret. Users
sign up, log in, refresh and send bearer tokens before and during the outage.
Then stderr and every file in LOG_DIR are searched for each secret.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import orjson
import pytest

from accounts_gql.core.security import issue_access_token
from accounts_gql.core.settings import Settings
from tests.conftest import admin_execute, database_url_for
from tests.ports import free_port
from tests.proxy import TcpProxy

# A password with characters a URL must escape: both spellings are secrets.
DB_PASSWORD = f"Db/Pass:w0rd-{uuid.uuid4().hex[:12]}"
JWT_SECRET = f"Jwt-Secret-{uuid.uuid4().hex}"
AMQP_PASSWORD = f"Amqp-Pass-{uuid.uuid4().hex[:12]}"
USER_PASSWORD = f"User-Passw0rd-{uuid.uuid4().hex[:12]}"

SIGN_UP = """mutation($u: String!, $p: String!) { signUp(input: {username: $u, password: $p}) {
  __typename ... on AuthPayload { accessToken refreshToken } } }"""
LOGIN = """mutation($u: String!, $p: String!) { login(input: {username: $u, password: $p}) {
  __typename ... on AuthPayload { accessToken refreshToken } } }"""
REFRESH = """mutation($t: String!) { refreshToken(input: {refreshToken: $t}) {
  __typename ... on AuthPayload { refreshToken } } }"""
ME = "{ me { username } }"


@pytest.fixture
async def secret_role_database(run_id: str, unique: str) -> AsyncIterator[tuple[str, str]]:
    """A role with DB_PASSWORD and an empty database it owns: (role, database)."""
    role, database = f"faults_{run_id}_{unique}", f"accounts_test_{run_id}_{unique}_secret"
    await admin_execute(f"CREATE ROLE \"{role}\" LOGIN SUPERUSER PASSWORD '{DB_PASSWORD}'")
    await admin_execute(f'CREATE DATABASE "{database}" OWNER "{role}"')
    yield role, database
    await admin_execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    await admin_execute(f'DROP ROLE IF EXISTS "{role}"')


async def _gql(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any], token: str | None = None
) -> dict[str, Any]:
    headers = {"accept": "application/graphql-response+json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables}, headers=headers
    )
    body: dict[str, Any] = response.json()
    return body


async def _traffic(client: httpx.AsyncClient, username: str, tokens: dict[str, str]) -> None:
    """What users send: passwords, refresh tokens, bearer tokens good and bad."""
    login = await _gql(client, LOGIN, {"u": username, "p": USER_PASSWORD})
    payload = (login.get("data") or {}).get("login") or {}
    if payload.get("refreshToken"):
        tokens[f"refresh-{len(tokens)}"] = payload["refreshToken"]
        tokens[f"access-{len(tokens)}"] = payload["accessToken"]
        refreshed = await _gql(client, REFRESH, {"t": payload["refreshToken"]})
        successor = ((refreshed.get("data") or {}).get("refreshToken") or {}).get("refreshToken")
        if successor:
            tokens[f"refresh-{len(tokens)}"] = successor
    await _gql(client, REFRESH, {"t": tokens["made-up refresh"]})
    await _gql(client, ME, {}, token=tokens["admin bearer"])
    await _gql(client, ME, {}, token=tokens["forged bearer"])
    await client.get("/readyz")


@pytest.mark.parametrize("app_env", ["production", "development"])
async def test_no_secret_in_any_log_line(
    app_env: str,
    secret_role_database: tuple[str, str],
    pg_proxy: TcpProxy,
    tmp_path: Path,
) -> None:
    role, database = secret_role_database
    dsn = database_url_for(
        f"postgresql://{role}:{quote(DB_PASSWORD, safe='')}@127.0.0.1:{pg_proxy.port}/x", database
    )
    port = free_port()
    log_dir = tmp_path / "logs"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JWT_", "LOG_", "DB_"))} | {
        "APP_ENV": app_env,
        "DATABASE_URL": dsn,
        "JWT_SECRET": JWT_SECRET,
        "RABBITMQ_URL": f"amqp://guest:{AMQP_PASSWORD}@127.0.0.1:5672/",
        "RELAY_ENABLED": "true",
        "EVENTS_EXCHANGE": f"accounts.events.test.{uuid.uuid4().hex[:8]}",
        "RELAY_BACKOFF_BASE": "0.2",
        "LOG_LEVEL": "DEBUG",
        "LOG_DIR": str(log_dir),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "DB_STATEMENT_TIMEOUT": "1",
        "DB_ACQUIRE_TIMEOUT": "1",
    }
    stderr_path = tmp_path / "stderr.log"
    username = f"s{uuid.uuid4().hex[:10]}"
    tokens = {
        "made-up refresh": secrets.token_urlsafe(32),
        "admin bearer": issue_access_token(
            Settings(jwt_secret=JWT_SECRET), uuid.uuid4(), ["admin"]
        ),
        "forged bearer": "eyJhbGciOiJIUzI1NiJ9." + secrets.token_urlsafe(24) + ".x",
    }
    with stderr_path.open("wb") as stderr:
        server = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "accounts_gql.cli",
            "serve",
            env=env,
            cwd=tmp_path,
            stdout=stderr,
            stderr=stderr,
        )
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=20) as client:
                await _until_ready(client, server)
                signed_up = await _gql(client, SIGN_UP, {"u": username, "p": USER_PASSWORD})
                assert signed_up["data"]["signUp"]["__typename"] == "AuthPayload", signed_up
                tokens["sign-up refresh"] = signed_up["data"]["signUp"]["refreshToken"]
                tokens["sign-up access"] = signed_up["data"]["signUp"]["accessToken"]
                await _traffic(client, username, tokens)

                await pg_proxy.cut()
                for _ in range(3):
                    await _traffic(client, username, tokens)
                await asyncio.sleep(1.5)  # the relay's reconnects, the health probe
                await pg_proxy.resume()
                await _traffic(client, username, tokens)
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(server.wait(), 30)
            except TimeoutError:
                server.kill()
                await server.wait()

    sinks = {"stderr": stderr_path.read_text(errors="replace")}
    for path in sorted(log_dir.glob("*")):
        sinks[path.name] = path.read_text(errors="replace")
    assert "accounts.log" in sinks
    everything = "\n".join(sinks.values())
    assert "database unavailable" in everything  # the outage was logged …
    assert "outbox relay cannot connect to the broker" in everything  # … and the broker's
    found = {
        f"{what} in {sink}"
        for what, secret in secret_values(tokens).items()
        for sink, text in sinks.items()
        if secret in text
    }
    assert not found, found
    if app_env == "production":
        for line in sinks["accounts.log"].splitlines():
            orjson.loads(line)  # JSON lines, one record each


def secret_values(tokens: dict[str, str]) -> dict[str, str]:
    return {
        "database password": DB_PASSWORD,
        "database password (URL-encoded)": quote(DB_PASSWORD, safe=""),
        "signing secret": JWT_SECRET,
        "broker password": AMQP_PASSWORD,
        "user password": USER_PASSWORD,
        **{f"token ({name})": value for name, value in tokens.items()},
    }


async def _until_ready(client: httpx.AsyncClient, server: asyncio.subprocess.Process) -> None:
    for _ in range(300):
        assert server.returncode is None, "the server exited"
        with contextlib.suppress(httpx.HTTPError):
            if (await client.get("/healthz")).status_code == 200:
                return
        await asyncio.sleep(0.1)
    raise AssertionError("the server did not start")
