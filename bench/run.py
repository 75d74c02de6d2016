"""Load bench of Q1–Q3 (PRODUCT §8): requests/s, p50 and p99 per operation.

    .venv/bin/python bench/run.py [--users 20000] [--duration 10] [--connections 8 32]

Seeds a database of its own (BENCH_DATABASE_URL, default `accounts_bench` on the
local server), starts the service as one process pinned to core 0 and the floor
(bench/floor.py: the same SQL and JSON without GraphQL) likewise, and drives
them one at a time with wrk pinned to core 1 (`apt-get install wrk`). Each
operation is warmed up, then run in interleaved repeats (service, floor, service,
…); the best repeat of each is reported, with the service's throughput as a
fraction of the floor's, best over best and as the median of each repeat's
ratio. It also prints the SQL statements each operation issues.
`--server-env GC_TUNING=false` passes settings to the service (e.g. for a
before/after comparison). `--floors statement request` runs a second floor
whose requests hold one connection each, as the service's queries do, and
prints the ratio to it too.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from accounts_gql.api.ids import encode_id  # noqa: E402
from accounts_gql.app import create_app  # noqa: E402
from accounts_gql.core.security import issue_access_token  # noqa: E402
from accounts_gql.core.settings import Settings  # noqa: E402
from accounts_gql.db.migrations import migrate  # noqa: E402
from accounts_gql.db.pool import StatementCounter  # noqa: E402
from accounts_gql.repositories.demo import seed_demo  # noqa: E402
from bench.operations import OPERATIONS  # noqa: E402

SERVER_URL = os.environ.get("BENCH_SERVER_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
DATABASE = os.environ.get("BENCH_DATABASE_URL", SERVER_URL.rsplit("/", 1)[0] + "/accounts_bench")
JWT_SECRET = "bench-secret-" + "b" * 32
# The floor's name in the table, by how its requests take connections.
_FLOOR_TARGETS = {"statement": "floor", "request": "floor/request"}


@dataclass
class Result:
    operation: str
    connections: int
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int


async def prepare(users: int) -> dict[str, dict[str, object]]:
    """Creates, migrates and seeds the bench database; returns each operation's variables."""
    admin = await asyncpg.connect(SERVER_URL)
    name = DATABASE.rsplit("/", 1)[1]
    if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
        await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    await migrate(DATABASE)
    db = await asyncpg.connect(DATABASE)
    try:
        have = await db.fetchval("SELECT count(*) FROM accounts.users")
        if have < users:
            print(f"seeding {users - have} users …", flush=True)
            await seed_demo(db, users - have, None)
            # Fresh visibility map and statistics, as a long-running database has.
            await db.execute("VACUUM ANALYZE")
        user_id = await db.fetchval(
            """SELECT u.id FROM accounts.users u
               WHERE u.active_contacts >= 3
                 AND (SELECT count(*) FROM accounts.user_group_memberships m
                      WHERE m.user_id = u.id) >= 2
               ORDER BY u.created_at LIMIT 1"""
        )
        group_id = await db.fetchval(
            """SELECT group_id FROM accounts.user_group_memberships
               GROUP BY group_id HAVING count(*) >= 100 ORDER BY group_id LIMIT 1"""
        )
    finally:
        await db.close()
    return {
        "Q1": {"id": encode_id("User", user_id)},
        "Q2": {},
        "Q3": {"id": encode_id("Group", group_id)},
    }


def settings() -> Settings:
    return Settings(database_url=DATABASE, jwt_secret=JWT_SECRET, relay_enabled=False)


def admin_token() -> str:
    return issue_access_token(settings(), uuid.uuid4(), ["admin"], ttl=24 * 3600)


async def count_statements(variables: dict[str, dict[str, object]]) -> dict[str, int]:
    """Runs each operation once in process and counts its SQL statements."""
    counter = StatementCounter()
    app = create_app(settings(), DATABASE, counter)
    counts: dict[str, int] = {}
    headers = {"authorization": f"Bearer {admin_token()}"}
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://bench") as client,
    ):
        # The second run counts: the first also pays asyncpg's one-off type
        # introspection on each new connection.
        for _ in range(2):
            for name, query in OPERATIONS.items():
                before = counter.count
                response = await client.post(
                    "/graphql",
                    json={"query": query, "variables": variables[name]},
                    headers=headers,
                )
                body = response.json()
                if body.get("errors"):
                    raise SystemExit(f"{name} failed: {body['errors']}")
                counts[name] = counter.count - before
    return counts


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(
    port: int, extra_env: dict[str, str], floor: bool = False
) -> subprocess.Popen[bytes]:
    env = (
        os.environ
        | {
            "DATABASE_URL": DATABASE,
            "PORT": str(port),
            "HOST": "127.0.0.1",
            "JWT_SECRET": JWT_SECRET,
            "RELAY_ENABLED": "false",
            "LOG_LEVEL": "WARNING",
            "DB_POOL_MIN": "8",
            "DB_POOL_MAX": "16",
        }
        | extra_env
    )
    command = [str(ROOT / ".venv" / "bin" / "accounts-gql"), "serve"]
    if floor:
        command = [
            str(ROOT / ".venv" / "bin" / "uvicorn"),
            "bench.floor:app",
            f"--port={port}",
            "--host=127.0.0.1",
            "--loop=uvloop",
            "--http=httptools",
            "--no-access-log",
            "--log-level=warning",
        ]
    if shutil.which("taskset"):
        command = ["taskset", "-c", "0", *command]
    process = subprocess.Popen(command, env=env, cwd=ROOT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if floor:
                response = httpx.post(f"http://127.0.0.1:{port}/Q2", content=b"{}", timeout=2)
            else:
                response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            if response.status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.2)
    process.terminate()
    raise SystemExit("server did not start")


_LATENCY = re.compile(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(
    url: str, body_file: str, token: str, connections: int, seconds: int
) -> tuple[float, float, float, int]:
    command = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{seconds}s",
        "--latency",
        "-s",
        str(ROOT / "bench" / "post.lua"),
        url,
    ]
    if shutil.which("taskset"):
        command = ["taskset", "-c", "1", *command]
    env = os.environ | {"BENCH_BODY": body_file, "BENCH_TOKEN": token}
    output = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    latency = {
        m.group(1): float(m.group(2)) * _UNITS[m.group(3)] for m in _LATENCY.finditer(output)
    }
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return (
        rps,
        latency.get("50", 0.0),
        latency.get("99", 0.0),
        int(errors.group(1)) if errors else 0,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=20000)
    parser.add_argument("--duration", type=int, default=10, help="seconds per run")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of warm-up per operation")
    parser.add_argument("--connections", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--ops", nargs="+", default=list(OPERATIONS))
    parser.add_argument(
        "--server-env", nargs="*", default=[], help="KEY=VALUE settings for the service"
    )
    parser.add_argument("--no-floor", action="store_true", help="skip the floor endpoint")
    parser.add_argument(
        "--floors",
        nargs="+",
        choices=list(_FLOOR_TARGETS),
        default=["statement"],
        help="the floor's connections: one per statement (PRODUCT §8), one per request",
    )
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed: apt-get install wrk")

    variables = asyncio.run(prepare(args.users))
    statements = asyncio.run(count_statements(variables))
    token = admin_token()
    port = free_port()
    url = f"http://127.0.0.1:{port}/graphql"
    bodies = {}
    folder = Path(tempfile.mkdtemp(prefix="accounts-bench-"))
    for name in args.ops:
        path = folder / f"{name}.json"
        path.write_bytes(orjson.dumps({"query": OPERATIONS[name], "variables": variables[name]}))
        bodies[name] = str(path)

    server_env = dict(item.split("=", 1) for item in args.server_env)
    server = start_server(port, server_env)
    targets = {"graphql": url}
    floors: list[subprocess.Popen[bytes]] = []
    for connection in [] if args.no_floor else args.floors:
        floor_port = free_port()
        floors.append(start_server(floor_port, {"FLOOR_CONNECTION": connection}, floor=True))
        targets[_FLOOR_TARGETS[connection]] = f"http://127.0.0.1:{floor_port}"
    best: dict[tuple[str, str, int], Result] = {}
    # Every repeat's req/s: a repeat runs the service and the floors back to back.
    runs: dict[tuple[str, str, int], list[float]] = {}

    def target_url(target: str, name: str) -> str:
        return targets[target] if target == "graphql" else f"{targets[target]}/{name}"

    try:
        for target in targets:
            for name in args.ops:
                wrk(
                    target_url(target, name),
                    bodies[name],
                    token,
                    max(args.connections),
                    args.warmup,
                )
        for _ in range(args.repeats):
            for connections in args.connections:
                for name in args.ops:
                    for target in targets:
                        rps, p50, p99, errors = wrk(
                            target_url(target, name),
                            bodies[name],
                            token,
                            connections,
                            args.duration,
                        )
                        key = (target, name, connections)
                        runs.setdefault(key, []).append(rps)
                        if key not in best or rps > best[key].requests_per_second:
                            best[key] = Result(name, connections, rps, p50, p99, errors)
    finally:
        for process in (server, *floors):
            process.terminate()
            process.wait(timeout=30)
        shutil.rmtree(folder, ignore_errors=True)

    floor_targets = [target for target in targets if target != "graphql"] or ["floor"]
    header = ["op", "conns", "req/s", "p50 ms", "p99 ms", "non-2xx", "SQL"]
    for target in floor_targets:
        header += [target, "ratio", "paired"]
    print("\n{:<4} {:>5} {:>9} {:>8} {:>8} {:>8} {:>4}".format(*header[:7]), end="")
    print("".join(f" {column:>13}" for column in header[7:]))
    for connections in args.connections:
        for name in args.ops:
            result = best[("graphql", name, connections)]
            line = (
                f"{name:<4} {connections:>5} {result.requests_per_second:>9.1f} "
                f"{result.p50_ms:>8.2f} {result.p99_ms:>8.2f} {result.errors:>8} "
                f"{statements[name]:>4}"
            )
            for target in floor_targets:
                floor_result = best.get((target, name, connections))
                floor_rps = floor_result.requests_per_second if floor_result else float("nan")
                ratio = result.requests_per_second / floor_rps
                median = paired(runs, target, name, connections)
                line += f" {floor_rps:>13.1f} {ratio:>13.3f} {median:>13.3f}"
            print(line)
    print(
        "req/s, p50 and p99 of the best repeat; ratio: best over best; paired: the median"
        " over repeats of the service's req/s over the floor's, measured back to back"
    )


def paired(
    runs: dict[tuple[str, str, int], list[float]], floor: str, name: str, connections: int
) -> float:
    """The median ratio of the service to `floor` over repeats: steadier than best
    over best when the machine's speed drifts between repeats."""
    served = runs.get(("graphql", name, connections), [])
    bare = runs.get((floor, name, connections), [])
    ratios = [one / other for one, other in zip(served, bare, strict=False) if other]
    return statistics.median(ratios) if ratios else float("nan")


if __name__ == "__main__":
    main()
