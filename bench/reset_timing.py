"""Password recovery timing (PRODUCT §6): does `requestPasswordReset` reveal whether
the login names an account?

    .venv/bin/python bench/reset_timing.py [--rounds 300] [--min-response S] [--keep-database]

Builds the app in process (as bench/login_timing.py does) on a scratch database
(RESET_TIMING_DATABASE_URL, default `accounts_reset_timing` on the local server),
signs up one user with a verified email, then times `requestPasswordReset` over
GraphQL: ROUNDS requests naming the account (by its email) and ROUNDS naming no
account, interleaved (the order inside each pair alternates). Every request for
the account stores a code and records the event with it: the resend limits and
the throttle are raised for the run, so no request is skipped. It prints both
medians, their ratio, and the answers seen (which must be one). `--min-response 0`
shows the difference that PASSWORD_RESET_MIN_RESPONSE (default 0.15 s) hides.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from accounts_gql.app import create_app  # noqa: E402
from accounts_gql.core.security import issue_access_token  # noqa: E402
from accounts_gql.core.settings import Settings  # noqa: E402
from accounts_gql.db.migrations import migrate  # noqa: E402

SERVER_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_DATABASE = os.environ.get(
    "RESET_TIMING_DATABASE_URL", SERVER_URL.rsplit("/", 1)[0] + "/accounts_reset_timing"
)
PASSWORD = "correct horse battery"
REQUEST = """mutation($login: String!) { requestPasswordReset(input: {login: $login}) {
    __typename ... on RequestPasswordResetSuccess { message } } }"""
SIGN_UP = """mutation($input: SignUpInput!) { signUp(input: $input) {
    __typename ... on AuthPayload { user { id } } } }"""
ADD_CONTACT = """mutation($input: AddContactInput!) { addContact(input: $input) { __typename } }"""


async def post(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any], token: str | None = None
) -> dict[str, Any]:
    headers = {"accept": "application/graphql-response+json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables}, headers=headers
    )
    response.raise_for_status()
    value: dict[str, Any] = next(iter(response.json()["data"].values()))
    return value


async def timed_request(client: httpx.AsyncClient, login: str, answers: set[str]) -> float:
    started = time.perf_counter()
    answer = await post(client, REQUEST, {"login": login})
    elapsed = time.perf_counter() - started
    answers.add(f"{answer['__typename']}: {answer.get('message')}")
    return elapsed


async def measure(
    database_url: str, rounds: int, min_response: float | None
) -> tuple[list[float], list[float], set[str]]:
    settings = Settings(
        database_url=database_url,
        jwt_secret="reset-timing-secret-" + "r" * 24,
        rabbitmq_url=None,
        relay_enabled=False,
        login_max_failures_per_pair=1_000_000,
        login_max_failures_per_client=1_000_000,
        login_slowdown_after=1_000_000,
        verification_resend_interval=0,
        verification_max_sends_per_hour=1_000_000,
    )
    if min_response is not None:
        settings = settings.model_copy(update={"password_reset_min_response": min_response})
    app = create_app(settings, database_url)
    transport = httpx.ASGITransport(app=app)
    name = f"timing{int(time.time())}"
    email = f"{name}@example.org"
    existing: list[float] = []
    absent: list[float] = []
    answers: set[str] = set()
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://timing", timeout=60) as client,
    ):
        signed_up = await post(client, SIGN_UP, {"input": {"username": name, "password": PASSWORD}})
        admin = issue_access_token(settings, uuid.uuid4(), ["admin"])
        added = await post(
            client,
            ADD_CONTACT,
            {
                "input": {
                    "userId": signed_up["user"]["id"],
                    "type": "email",
                    "value": email,
                    "isVerified": True,
                }
            },
            admin,
        )
        if added["__typename"] != "ContactPayloadSuccess":
            raise RuntimeError(f"could not add the email: {added}")
        for i in range(10):  # warm up both paths
            await timed_request(client, email, set())
            await timed_request(client, f"nobody{i}x{email}", set())
        for i in range(rounds):
            pair = [(existing, email), (absent, f"nobody{i}{email}")]
            if i % 2:
                pair.reverse()
            for samples, login in pair:
                samples.append(await timed_request(client, login, answers))
    return existing, absent, answers


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE)
    parser.add_argument("--min-response", type=float, default=None)
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
        existing, absent, answers = await measure(args.database_url, args.rounds, args.min_response)
    finally:
        if not args.keep_database:
            admin = await asyncpg.connect(SERVER_URL)
            try:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                await admin.close()

    existing_ms = statistics.median(existing) * 1000
    absent_ms = statistics.median(absent) * 1000
    print(f"requests per case: {len(existing)} (interleaved)")
    print(f"account exists (code sent): median {existing_ms:.2f} ms")
    print(f"no such account:            median {absent_ms:.2f} ms")
    print(f"ratio (exists / absent): {existing_ms / absent_ms:.3f}")
    for label, samples in (("exists", existing), ("absent", absent)):
        ordered = sorted(samples)
        p10 = ordered[len(ordered) // 10] * 1000
        p90 = ordered[len(ordered) * 9 // 10] * 1000
        print(f"  {label}: p10 {p10:.2f} ms, p90 {p90:.2f} ms")
    print(f"distinct answers: {len(answers)}: {sorted(answers)}")


if __name__ == "__main__":
    asyncio.run(main())
