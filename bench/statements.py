"""PostgreSQL's CPU per statement of each shape, as the service sends them (PRODUCT §8).

    .venv/bin/python bench/statements.py [--ops Q1 Q3 nodes] [--rounds 25] [--runs 30]
    .venv/bin/python bench/statements.py --save before.pickle      # on one commit
    .venv/bin/python bench/statements.py --against before.pickle   # on another

Runs each operation once against the application in this process (as
bench/cpu.py does) and records the statements it sends, with their arguments.
Then replays each statement on an idle connection of its own, prepared as
asyncpg prepares it, its backend pinned to core 1 and this process to core 0,
`--runs` executions a round, the statements' rounds interleaved, and prints the
CPU per execution of the backend (/proc) and of this process: medians over the
rounds. `--against` replays another checkout's statements of the same
operations (`--save`d there, on the same database) beside these and prints the
ratio of each round's backend CPU to theirs, paired, per operation: for a
change of the SQL or of how the calls are composed, which the bench's
throughput is too noisy to show. An operation of several statements counts
them together. bench/sql_cost.py measures the functions one call at a time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pickle
import statistics
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from accounts_gql.app import create_app
from accounts_gql.core.security import issue_access_token
from accounts_gql.db.pool import StatementCounter
from bench.cpu import post, service_settings
from bench.operations import OPERATIONS, SHAPES
from bench.proc import cpu_seconds
from bench.run import DATABASE, prepare

# A statement and its arguments, as asyncpg sent them.
Statement = tuple[str, tuple[Any, ...]]


class Recorder(StatementCounter):
    """Keeps the statements requests send, without asyncpg's type introspection
    (once per connection and type, no cost per request)."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[Statement] = []

    def __call__(self, record: object) -> None:
        query: str = getattr(record, "query", "")
        if "typeinfo_tree" in query or "set_config('jit'" in query:
            return
        self.sent.append((query, tuple(getattr(record, "args", ()))))
        super().__call__(record)


async def record(
    operations: list[str], variables: dict[str, dict[str, Any]]
) -> dict[str, list[Statement]]:
    """Each operation's statements: run once to warm up, then once recorded."""
    recorder = Recorder()
    # No ticks of the event stream among the statements.
    config = service_settings(subscription_tick_interval=3600)
    app = create_app(config, DATABASE, recorder)
    token = issue_access_token(config, uuid.uuid4(), ["admin"])
    headers = [
        (b"content-type", b"application/json"),
        (b"authorization", f"Bearer {token}".encode()),
    ]
    recorded: dict[str, list[Statement]] = {}
    async with app.router.lifespan_context(app):
        for operation in operations:
            query = {**OPERATIONS, **SHAPES}[operation]
            body = orjson.dumps({"query": query, "variables": variables[operation]})
            await post(app, "/graphql", body, headers)
            await recorder.settled()
            recorder.sent.clear()
            await post(app, "/graphql", body, headers)
            await recorder.settled()
            recorded[operation] = list(recorder.sent)
    return recorded


@dataclass
class Replay:
    """An operation's statements prepared on a connection of their own."""

    connection: asyncpg.Connection
    backend: int
    statements: list[tuple[asyncpg.prepared_stmt.PreparedStatement, tuple[Any, ...]]]

    async def round(self, runs: int) -> tuple[float, float]:
        """Backend and client CPU per execution of the whole operation, µs."""
        backend, client = cpu_seconds(self.backend), time.process_time()
        for _ in range(runs):
            for statement, args in self.statements:
                await statement.fetch(*args)
        backend_us = (cpu_seconds(self.backend) - backend) * 1e6 / runs
        return backend_us, (time.process_time() - client) * 1e6 / runs


async def replay(sent: list[Statement]) -> Replay:
    connection = await asyncpg.connect(DATABASE)
    backend: int = await connection.fetchval("SELECT pg_backend_pid()")
    os.sched_setaffinity(backend, {1})
    prepared = [(await connection.prepare(query), args) for query, args in sent]
    made = Replay(connection, backend, prepared)
    await made.round(20)  # plans made, caches warm
    return made


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--ops", nargs="+", default=[*OPERATIONS, *SHAPES], choices=[*OPERATIONS, *SHAPES]
    )
    parser.add_argument("--rounds", type=int, default=25)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--users", type=int, default=20000)
    parser.add_argument("--save", type=Path, help="write the recorded statements here and stop")
    parser.add_argument("--against", type=Path, help="statements --saved by another checkout")
    args = parser.parse_args()
    os.sched_setaffinity(0, {0})
    variables = await prepare(args.users)
    recorded = await record(args.ops, variables)
    if args.save:
        args.save.write_bytes(pickle.dumps(recorded))
        return
    theirs: dict[str, list[Statement]] = (
        pickle.loads(args.against.read_bytes()) if args.against else {}
    )
    replays = {name: [await replay(sent)] for name, sent in recorded.items()}
    for name, replayed in replays.items():
        if name in theirs:
            replayed.append(await replay(theirs[name]))
    figures: dict[str, list[list[tuple[float, float]]]] = {
        name: [[] for _ in r] for name, r in replays.items()
    }
    for _ in range(args.rounds):
        for name, replayed in replays.items():
            for index, made in enumerate(replayed):
                figures[name][index].append(await made.round(args.runs))
    print(
        f"{'op':9} {'statements':>10} {'backend µs':>10} {'client µs':>10}"
        + (f" {'theirs':>6} {'backend µs':>10} {'paired':>6}" if theirs else "")
    )
    for name, (ours, *other) in figures.items():
        backend = statistics.median(b for b, _ in ours)
        client = statistics.median(c for _, c in ours)
        line = f"{name:9} {len(recorded[name]):10} {backend:10.1f} {client:10.1f}"
        if other:
            [saved] = other
            paired = statistics.median(b / s for (b, _), (s, _) in zip(ours, saved, strict=True))
            saved_backend = statistics.median(b for b, _ in saved)
            line += f" {len(theirs[name]):6} {saved_backend:10.1f} {paired:6.3f}"
        print(line, flush=True)
    for replayed in replays.values():
        for made in replayed:
            await made.connection.close()


if __name__ == "__main__":
    asyncio.run(main())
