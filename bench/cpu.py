"""CPU and garbage-collector time per request, in process (PRODUCT §8).

    .venv/bin/python bench/cpu.py [--ops Q1 Q2 Q3] [--requests 320] [--concurrency 32]
    .venv/bin/python bench/cpu.py --rounds 5 [--ops Q1 Q3 filtered nodes groups] [--requests 960]

Runs each operation against the application in this process (ASGI calls, no
sockets for HTTP; the real PostgreSQL of bench/run.py), for each execution path
(planned, standard graphql-core) with and without the GC tuning, and against the
floor (bench/floor.py), and prints the process CPU per request and the share of
it the collector took (`gc.callbacks`). Besides Q1–Q3 it runs the other shapes of
bench/operations.py (`SHAPES`), which have no floor.
CPU per request does not depend on how busy the other core is, so it compares
paths and settings more steadily than throughput does. With `--rounds N` it
runs only the served path (planned, collector tuned) and the floor, alternating
N times, and prints their medians and the floor's CPU as a fraction of the
service's: the ratio the bench would show if the service's core were all that
limited it.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from accounts_gql.app import create_app
from accounts_gql.core.security import issue_access_token
from accounts_gql.core.settings import Settings
from bench import floor
from bench.operations import OPERATIONS, SHAPES
from bench.run import DATABASE, JWT_SECRET, prepare


class CollectorClock:
    """Sums the process time the garbage collector takes while installed."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.collections = [0, 0, 0]
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.process_time()
        else:
            self.seconds += time.process_time() - self._started
            self.collections[info["generation"]] += 1


async def post(app: Any, path: str, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 8000),
    }
    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop()
        await asyncio.Event().wait()  # the client never disconnects
        raise AssertionError

    statuses: list[int] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    await app(scope, receive, send)
    if statuses != [200]:
        raise SystemExit(f"request failed: {statuses}")


@dataclass
class Figures:
    """Per request: process CPU and collector time, in ms; collections per generation."""

    cpu_ms: float
    gc_ms: float
    collections: list[int]

    def __str__(self) -> str:
        share = 100 * self.gc_ms / self.cpu_ms
        return f"{self.cpu_ms:9.2f} {self.gc_ms:9.3f} {share:6.1f}%  {self.collections}"


async def timed(app: Any, path: str, body: bytes, token: str, args: argparse.Namespace) -> Figures:
    """CPU and collector time per request of `args.requests` requests."""
    headers = [
        (b"content-type", b"application/json"),
        (b"authorization", f"Bearer {token}".encode()),
    ]

    async def client(count: int) -> None:
        for _ in range(count):
            await post(app, path, body, headers)

    await asyncio.gather(*(client(5) for _ in range(args.concurrency)))  # warm up
    clock = CollectorClock()
    gc.callbacks.append(clock)
    started = time.process_time()
    per_client = max(1, args.requests // args.concurrency)
    await asyncio.gather(*(client(per_client) for _ in range(args.concurrency)))
    cpu = time.process_time() - started
    gc.callbacks.remove(clock)
    count = per_client * args.concurrency
    return Figures(cpu * 1000 / count, clock.seconds * 1000 / count, clock.collections)


def default_collector() -> None:
    gc.unfreeze()  # undo an earlier tuned run in this process
    gc.set_threshold(700, 10, 10)  # CPython's defaults


def service_settings(**settings: Any) -> Settings:
    """The service's settings in this process: the bench database, no broker."""
    return Settings(
        database_url=DATABASE,
        jwt_secret=JWT_SECRET,
        rabbitmq_url=None,
        relay_enabled=False,
        log_level="WARNING",
        **settings,
    )


async def measure(
    operation: str, variables: dict[str, object], args: argparse.Namespace, **settings: Any
) -> Figures:
    config = service_settings(db_pool_min=8, db_pool_max=16, **settings)
    app = create_app(config, DATABASE)
    token = issue_access_token(config, uuid.uuid4(), ["admin"])
    body = orjson.dumps({"query": {**OPERATIONS, **SHAPES}[operation], "variables": variables})
    if not settings["gc_tuning"]:
        default_collector()
    async with app.router.lifespan_context(app):
        return await timed(app, "/graphql", body, token, args)


async def measure_floor(
    operation: str, variables: dict[str, object], args: argparse.Namespace
) -> Figures:
    """The floor (bench/floor.py) the same way, with the collector as CPython sets it."""
    os.environ["DATABASE_URL"] = DATABASE
    default_collector()
    events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    answers: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    lifespan = asyncio.create_task(floor.app({"type": "lifespan"}, events.get, answers.put))
    await events.put({"type": "lifespan.startup"})
    await answers.get()
    try:
        body = orjson.dumps({"variables": variables})
        return await timed(floor.app, f"/{operation}", body, "", args)
    finally:
        await events.put({"type": "lifespan.shutdown"})
        await lifespan


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--ops", nargs="+", default=list(OPERATIONS), choices=[*OPERATIONS, *SHAPES]
    )
    parser.add_argument("--requests", type=int, default=320)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--users", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=0)
    args = parser.parse_args()
    variables = await prepare(args.users)
    if args.rounds:
        await alternate(variables, args)
        return
    print(f"{'op':4} {'path':9} {'gc tuned':8} {'CPU ms':>9} {'GC ms':>9} {'GC %':>7}  gen0/1/2")
    for operation in args.ops:
        for compiled in (False, True):
            for tuned in (False, True):
                figures = await measure(
                    operation,
                    variables[operation],
                    args,
                    compiled_execution=compiled,
                    gc_tuning=tuned,
                )
                path = "planned" if compiled else "standard"
                print(f"{operation:4} {path:9} {tuned!s:8} {figures}", flush=True)
        if operation in OPERATIONS:
            figures = await measure_floor(operation, variables[operation], args)
            print(f"{operation:4} {'floor':9} {'False':8} {figures}", flush=True)


async def alternate(variables: dict[str, dict[str, object]], args: argparse.Namespace) -> None:
    """The served path and the floor in turns: their median CPU per request."""
    print(f"{'op':4} {'service ms':>10} {'floor ms':>10} {'floor/service':>13}")
    for operation in args.ops:
        served: list[float] = []
        bare: list[float] = []
        for _ in range(args.rounds):
            figures = await measure(
                operation, variables[operation], args, compiled_execution=True, gc_tuning=True
            )
            served.append(figures.cpu_ms)
            if operation in OPERATIONS:  # the floor has the bench's three only
                bare.append((await measure_floor(operation, variables[operation], args)).cpu_ms)
        service_ms = statistics.median(served)
        floor_ms = statistics.median(bare) if bare else float("nan")
        print(
            f"{operation:4} {service_ms:10.2f} {floor_ms:10.2f} {floor_ms / service_ms:13.2f}",
            flush=True,
        )


if __name__ == "__main__":
    uvloop.run(main())
