"""Replica routing overhead per query (issue 15, part 2; accounts_gql/db/replica.py).

    .venv/bin/python bench/replica_routing.py [--requests 2000] [--repeats 3]

Starts the tests' streaming pair (a primary and a hot standby of its own,
tests/replica.py; run as root it starts the postmasters as `postgres`) and
serves one small query in process (httpx's ASGI transport, one request at a
time), in interleaved repeats of four modes:

- primary:  no READ_DATABASE_URL (no router work at all);
- replica:  READ_DATABASE_URL set, no token;
- token:    with a token the last sample has already seen replayed;
- checked:  with a token newer than the last sample (one replay check on the
            replica, on the connection the query then uses).

It prints the median over repeats of the service's CPU per request and of the
wall time per request, and the cost of the routing decision alone.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from accounts_gql.app import create_app
from accounts_gql.core.settings import Settings
from accounts_gql.db.replica import ReadRouter, encode_token
from tests.replica import StreamingReplica, running_pair

QUERY = {"query": "{ contactTypes { code name } }"}
MODES = ("primary", "replica", "token", "checked")


def settings_for(pair: StreamingReplica, mode: str) -> Settings:
    return Settings(
        database_url=pair.primary.url,
        read_database_url=None if mode == "primary" else pair.standby.url,
        jwt_secret="b" * 40,
        rabbitmq_url=None,
        relay_enabled=False,
        db_pool_min=2,
        db_pool_max=4,
        replica_check_interval=3600.0,  # no sampling during a run
        log_level="WARNING",
    )


async def run_mode(pair: StreamingReplica, mode: str, requests: int) -> tuple[float, float]:
    """CPU and wall seconds per request of `requests` sequential queries."""
    app = create_app(settings_for(pair, mode), pair.primary.url)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://b") as client,
    ):
        router: ReadRouter = app.state.router
        seen = router.replay_position
        tokens = mode in ("token", "checked")
        headers = {"x-consistency-token": encode_token(seen)} if tokens else {}
        for _ in range(200):  # warm up
            await client.post("/graphql", json=QUERY, headers=headers)
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(requests):
            if mode == "checked":
                router.replay_position = seen - 1  # as if the last sample was older
            response = await client.post("/graphql", json=QUERY, headers=headers)
            assert response.status_code == 200
        return (
            (time.process_time() - cpu) / requests,
            (time.perf_counter() - wall) / requests,
        )


async def decision_cost(pair: StreamingReplica, rounds: int = 100_000) -> float:
    """Seconds the routing decision takes for a query without a token (no I/O)."""
    app = create_app(settings_for(pair, "replica"), pair.primary.url)
    async with app.router.lifespan_context(app):
        router: ReadRouter = app.state.router
        started = time.perf_counter()
        for _ in range(rounds):
            await router.reader(None)
        return (time.perf_counter() - started) / rounds


async def main(requests: int, repeats: int) -> None:
    async with running_pair() as pair:
        results: dict[str, list[tuple[float, float]]] = {mode: [] for mode in MODES}
        for _ in range(repeats):
            for mode in MODES:
                results[mode].append(await run_mode(pair, mode, requests))
        decision = await decision_cost(pair)
    base_cpu = statistics.median(cpu for cpu, _ in results["primary"])
    base_wall = statistics.median(wall for _, wall in results["primary"])
    print(f"{requests} requests x {repeats} repeats, one at a time, in process")
    print(
        f"{'mode':<8} {'CPU us/req':>11} {'vs primary':>11} {'wall us/req':>12} {'vs primary':>11}"
    )
    for mode in MODES:
        cpu = statistics.median(c for c, _ in results[mode]) * 1e6
        wall = statistics.median(w for _, w in results[mode]) * 1e6
        row: list[Any] = [mode, cpu, cpu - base_cpu * 1e6, wall, wall - base_wall * 1e6]
        print(f"{row[0]:<8} {row[1]:>11.1f} {row[2]:>+11.1f} {row[3]:>12.1f} {row[4]:>+11.1f}")
    print(f"routing decision alone (no token): {decision * 1e9:.0f} ns")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    options = parser.parse_args()
    asyncio.run(main(options.requests, options.repeats))
