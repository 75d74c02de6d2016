"""Login timing (PRODUCT §6): does a failed login reveal whether the username exists?

    .venv/bin/python bench/login_timing.py [--rounds 200] [--keep-database]

Builds the app in process (as bench/run.py does) on a scratch database
(LOGIN_TIMING_DATABASE_URL, default `accounts_login_timing` on the local server),
signs up one user, then times `login` over GraphQL: ROUNDS attempts with an
unknown username and ROUNDS with the known username and a wrong password,
interleaved (the order inside each pair alternates). It prints both medians and
their ratio. The throttle's limits are raised for the run, so every attempt checks
a password; argon2 runs with the service's default parameters.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from accounts_gql.app import create_app  # noqa: E402
from accounts_gql.core.settings import Settings  # noqa: E402
from accounts_gql.db.migrations import migrate  # noqa: E402

SERVER_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_DATABASE = SERVER_URL.rsplit("/", 1)[0] + "/accounts_login_timing"
PASSWORD = "correct horse battery"
LOGIN = """mutation($input: LoginInput!) { login(input: $input) { __typename } }"""
SIGN_UP = """mutation($input: SignUpInput!) { signUp(input: $input) { __typename } }"""


async def post(client: httpx.AsyncClient, query: str, variables: dict[str, Any]) -> str:
    response = await client.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"accept": "application/graphql-response+json"},
    )
    response.raise_for_status()
    data = response.json()["data"]
    typename: str = next(iter(data.values()))["__typename"]
    return typename


async def timed_login(client: httpx.AsyncClient, username: str, password: str) -> float:
    started = time.perf_counter()
    outcome = await post(client, LOGIN, {"input": {"username": username, "password": password}})
    elapsed = time.perf_counter() - started
    if outcome != "InvalidCredentials":
        raise RuntimeError(f"expected InvalidCredentials, got {outcome} (throttled?)")
    return elapsed


async def measure(database_url: str, rounds: int) -> tuple[list[float], list[float]]:
    settings = Settings(
        database_url=database_url,
        jwt_secret="login-timing-secret-" + "l" * 24,
        rabbitmq_url=None,
        relay_enabled=False,
        # Far above what the run sends, so no attempt is refused before hashing.
        login_max_failures_per_pair=1_000_000,
        login_slowdown_after=1_000_000,
        login_max_failures_per_client=1_000_000,
    )
    app = create_app(settings, database_url)
    transport = httpx.ASGITransport(app=app)
    known = f"timing{int(time.time())}"
    unknown: list[float] = []
    wrong_password: list[float] = []
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://timing", timeout=60) as client,
    ):
        outcome = await post(client, SIGN_UP, {"input": {"username": known, "password": PASSWORD}})
        if outcome != "AuthPayload":
            raise RuntimeError(f"sign-up failed: {outcome}")
        # Warm up both paths (connections, prepared statements, caches).
        for i in range(10):
            await timed_login(client, f"nobody{i}x{known}", "wrong password")
            await timed_login(client, known, f"wrong password {i}")
        for i in range(rounds):
            pair = [
                (unknown, f"nobody{i}{known}", "wrong password"),
                (wrong_password, known, f"wrong password {i}"),
            ]
            if i % 2:
                pair.reverse()
            for samples, username, password in pair:
                samples.append(await timed_login(client, username, password))
    return unknown, wrong_password


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE)
    parser.add_argument("--keep-database", action="store_true")
    args = parser.parse_args()

    name = args.database_url.rsplit("/", 1)[1]
    admin = await asyncpg.connect(SERVER_URL)
    try:
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        await migrate(args.database_url)
        unknown, wrong_password = await measure(args.database_url, args.rounds)
    finally:
        if not args.keep_database:
            admin = await asyncpg.connect(SERVER_URL)
            try:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                await admin.close()

    unknown_ms = statistics.median(unknown) * 1000
    wrong_ms = statistics.median(wrong_password) * 1000
    print(f"logins per case: {len(unknown)} (interleaved)")
    print(f"unknown username:              median {unknown_ms:.2f} ms")
    print(f"known username, wrong password: median {wrong_ms:.2f} ms")
    print(f"ratio (known / unknown): {wrong_ms / unknown_ms:.3f}")
    for label, samples in (("unknown", unknown), ("known", wrong_password)):
        ordered = sorted(samples)
        p10 = ordered[len(ordered) // 10] * 1000
        p90 = ordered[len(ordered) * 9 // 10] * 1000
        print(f"  {label}: p10 {p10:.2f} ms, p90 {p90:.2f} ms")


if __name__ == "__main__":
    asyncio.run(main())
