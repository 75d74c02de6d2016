"""Load bench of Q1–Q3 (PRODUCT §8): the service against its peer and its floor.

    .venv/bin/python bench/run.py [--users 20000] [--duration 10] [--connections 8 32]

Seeds a database of its own (BENCH_DATABASE_URL, default `accounts_bench` on the
local server) and starts, each as one process pinned to core 0, the service,
its peer (bench/peer.py: PostGraphile v5 over the same schema, installed by
`npm ci` in bench/postgraphile on first use) and the floor (bench/floor.py: the
same SQL and JSON without GraphQL). It checks that the service and the peer
answer each operation with the same rows, then drives one server at a time
with wrk pinned to core 1 (`apt-get install wrk`), PostgreSQL sharing that
core. Each operation is warmed up, then run in interleaved repeats (service,
peer, floor, service, …). It prints, per operation and connection count, the
best repeat's req/s, p50 and p99 of each server, the service's throughput as a
fraction of each other's (best over best, and as the median of each repeat's
back-to-back ratio), the SQL statements the service issues, and the CPU per
request of each server's process and of the bench database's PostgreSQL
backends while it alone was under load (/proc, bench/proc.py).
`--server-env GC_TUNING=false` passes settings to the service (e.g. for a
before/after comparison). `--floors statement request` runs a second floor
whose requests hold one connection each, as the service's queries do;
`--floors statement json` one that reads the same calls as JSON built by
PostgreSQL (bench/floor.py).
`--no-peer` / `--no-floor` leave either out.
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
from urllib.parse import urlsplit, urlunsplit

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
from bench import peer, proc  # noqa: E402
from bench.operations import OPERATIONS  # noqa: E402

SERVER_URL = os.environ.get("BENCH_SERVER_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
DATABASE = os.environ.get("BENCH_DATABASE_URL", SERVER_URL.rsplit("/", 1)[0] + "/accounts_bench")
# The service and the floor connect as a role that may only execute the
# functions (PRODUCT §6, docs/database.md "Roles"), as deployed; DATABASE's
# role owns the schema and migrates it, and the peer connects as it.
SERVICE_ROLE = os.environ.get("BENCH_SERVICE_ROLE", "accounts_bench_service")
_parts = urlsplit(DATABASE)
SERVICE_DATABASE = urlunsplit(
    _parts._replace(netloc=f"{SERVICE_ROLE}@{_parts.hostname}:{_parts.port or 5432}")
)
JWT_SECRET = "bench-secret-" + "b" * 32
# The floor's name in the table, by how its requests take connections.
_FLOOR_TARGETS = {"statement": "floor", "request": "floor/request", "json": "floor/json"}
# Each floor's settings (bench/floor.py).
_FLOOR_ENV = {
    "statement": {"FLOOR_CONNECTION": "statement"},
    "request": {"FLOOR_CONNECTION": "request"},
    "json": {"FLOOR_ROWS": "json"},
}


async def prepare(users: int) -> dict[str, dict[str, object]]:
    """Creates, migrates and seeds the bench database; returns each operation's variables."""
    admin = await asyncpg.connect(SERVER_URL)
    name = DATABASE.rsplit("/", 1)[1]
    if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
        await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    await _create_role(DATABASE, SERVICE_ROLE)
    await migrate(DATABASE, service_role=SERVICE_ROLE)
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
        contact = await db.fetchrow(
            "SELECT id, contact_type_id FROM accounts.user_contacts WHERE user_id = $1 LIMIT 1",
            user_id,
        )
    finally:
        await db.close()
    user = encode_id("User", user_id)
    nodes = [user, encode_id("Group", group_id), encode_id("Contact", contact["id"])]
    return {
        "Q1": {"id": user},
        "Q2": {},
        "Q3": {"id": encode_id("Group", group_id)},
        "filtered": {"search": "ada"},
        "nodes": {"ids": [*nodes, encode_id("ContactType", contact["contact_type_id"])]},
        "groups": {"id": user},
        "counted": {},
    }


async def _create_role(url: str, role: str) -> None:
    """The service's role, if missing: it logs in and may do nothing until
    `migrate` grants it EXECUTE on the functions."""
    connection = await asyncpg.connect(url)
    try:
        if not await connection.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role):
            await connection.execute(f'CREATE ROLE "{role}" LOGIN')
    finally:
        await connection.close()


def settings() -> Settings:
    return Settings(database_url=SERVICE_DATABASE, jwt_secret=JWT_SECRET, relay_enabled=False)


def admin_token() -> str:
    return issue_access_token(settings(), uuid.uuid4(), ["admin"], ttl=24 * 3600)


async def count_statements(variables: dict[str, dict[str, object]]) -> dict[str, int]:
    """Runs each operation once in process and counts its SQL statements."""
    counter = StatementCounter()
    app = create_app(settings(), SERVICE_DATABASE, counter)
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
                counts[name] = await counter.settled() - before
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
            "DATABASE_URL": SERVICE_DATABASE,
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


_REQUESTS = re.compile(r"^\s*(\d+) requests in", re.MULTILINE)


@dataclass
class Load:
    """What wrk measured of one run."""

    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int


def wrk(url: str, body_file: str, token: str, connections: int, seconds: int) -> Load:
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
    requests = _REQUESTS.search(output)
    return Load(
        rps,
        latency.get("50", 0.0),
        latency.get("99", 0.0),
        int(requests.group(1)) if requests else 0,
        int(errors.group(1)) if errors else 0,
    )


@dataclass
class Target:
    """One server under test: its process, URL per operation, request bodies."""

    name: str
    process: subprocess.Popen[bytes]
    urls: dict[str, str]
    bodies: dict[str, str]
    token: str = ""


@dataclass
class Run:
    """One timed run of one target: wrk's figures and the CPU per request, in ms,
    of the server's process and of the bench database's PostgreSQL backends."""

    load: Load
    server_ms: float
    database_ms: float


def timed(target: Target, name: str, connections: int, seconds: int) -> Run:
    database = DATABASE.rsplit("/", 1)[1]
    before = proc.sample(target.process.pid, database)
    load = wrk(target.urls[name], target.bodies[name], target.token, connections, seconds)
    server, backends = proc.spent(before, proc.sample(target.process.pid, database))
    count = max(load.requests, 1)
    return Run(load, server * 1000 / count, backends * 1000 / count)


def check_same_rows(service: Target, other: Target, ops: list[str]) -> None:
    """Both servers answer each operation with the same rows, or the bench stops."""
    for name in ops:
        answers = []
        for target in (service, other):
            headers = {"authorization": f"Bearer {target.token}"} if target.token else {}
            with open(target.bodies[name], "rb") as body:
                response = httpx.post(
                    target.urls[name],
                    content=body.read(),
                    headers=headers | {"content-type": "application/json"},
                    timeout=30,
                )
            answer = response.json()
            if response.status_code != 200 or answer.get("errors"):
                raise SystemExit(f"{target.name} failed {name}: {response.text[:500]}")
            answers.append(answer["data"])
        if peer.rows(name, answers[0], served=True) != peer.rows(name, answers[1], served=False):
            raise SystemExit(f"{name}: the service and {other.name} answer different rows")
    print(f"same rows from the service and {other.name}: {', '.join(ops)}", flush=True)


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
    parser.add_argument("--no-peer", action="store_true", help="skip PostGraphile")
    parser.add_argument("--no-floor", action="store_true", help="skip the floor endpoint")
    parser.add_argument(
        "--floors",
        nargs="+",
        choices=list(_FLOOR_TARGETS),
        default=["statement"],
        help="the floors: a connection per statement (PRODUCT §8), one per request,"
        " the same calls as JSON built by PostgreSQL",
    )
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed: apt-get install wrk")

    variables = asyncio.run(prepare(args.users))
    statements = asyncio.run(count_statements(variables))
    folder = Path(tempfile.mkdtemp(prefix="accounts-bench-"))

    def bodies(
        prefix: str, documents: dict[str, str], given: dict[str, dict[str, object]]
    ) -> dict[str, str]:
        """Request bodies on disk for wrk, one per operation."""
        paths: dict[str, str] = {}
        for name in args.ops:
            path = folder / f"{prefix}-{name}.json"
            path.write_bytes(orjson.dumps({"query": documents[name], "variables": given[name]}))
            paths[name] = str(path)
        return paths

    targets: list[Target] = []
    try:
        port = free_port()
        targets.append(
            Target(
                "service",
                start_server(port, dict(item.split("=", 1) for item in args.server_env)),
                dict.fromkeys(args.ops, f"http://127.0.0.1:{port}/graphql"),
                bodies("service", OPERATIONS, variables),
                admin_token(),
            )
        )
        if not args.no_peer:
            port = free_port()
            targets.append(
                Target(
                    "postgraphile",
                    peer.start(port, DATABASE, folder / "postgraphile.log"),
                    dict.fromkeys(args.ops, f"http://127.0.0.1:{port}/graphql"),
                    bodies("peer", peer.OPERATIONS, peer.variables(variables)),
                )
            )
            check_same_rows(targets[0], targets[-1], args.ops)
        for kind in [] if args.no_floor else args.floors:
            port = free_port()
            targets.append(
                Target(
                    _FLOOR_TARGETS[kind],
                    start_server(port, _FLOOR_ENV[kind], floor=True),
                    {name: f"http://127.0.0.1:{port}/{name}" for name in args.ops},
                    bodies("service", OPERATIONS, variables),
                )
            )
        runs = measure(targets, args)
    finally:
        for target in targets:
            target.process.terminate()
            target.process.wait(timeout=30)
        shutil.rmtree(folder, ignore_errors=True)
    report(runs, [target.name for target in targets], statements, args)


def measure(
    targets: list[Target], args: argparse.Namespace
) -> dict[tuple[str, str, int], list[Run]]:
    """Warms every target up on every operation, then runs the repeats, each
    repeat running the targets back to back on one operation and connection count."""
    for target in targets:
        for name in args.ops:
            wrk(
                target.urls[name],
                target.bodies[name],
                target.token,
                max(args.connections),
                args.warmup,
            )
    runs: dict[tuple[str, str, int], list[Run]] = {}
    for _ in range(args.repeats):
        for connections in args.connections:
            for name in args.ops:
                for target in targets:
                    run = timed(target, name, connections, args.duration)
                    runs.setdefault((target.name, name, connections), []).append(run)
    return runs


def report(
    runs: dict[tuple[str, str, int], list[Run]],
    names: list[str],
    statements: dict[str, int],
    args: argparse.Namespace,
) -> None:
    others = [name for name in names if name != "service"]

    def best(name: str, op: str, connections: int) -> Load | None:
        found = runs.get((name, op, connections))
        return (
            max((run.load for run in found), key=lambda load: load.requests_per_second)
            if found
            else None
        )

    print("\nThroughput and latency (best repeat); ratio: the service's req/s over the other's,")
    print("best over best, and paired: the median over repeats of the ratio measured back to back")
    header = f"{'op':<4} {'conns':>5} {'SQL':>4}"
    for name in names:
        header += f" | {name:>13} {'p50 ms':>7} {'p99 ms':>7}"
        if name != "service":
            header += f" {'ratio':>6} {'paired':>6}"
    print(header)
    for connections in args.connections:
        for op in args.ops:
            line = f"{op:<4} {connections:>5} {statements[op]:>4}"
            served = best("service", op, connections)
            for name in names:
                load = best(name, op, connections)
                if load is None or served is None:
                    continue
                line += (
                    f" | {load.requests_per_second:>13.1f} {load.p50_ms:>7.2f} {load.p99_ms:>7.2f}"
                )
                if name != "service":
                    ratio = served.requests_per_second / load.requests_per_second
                    line += f" {ratio:>6.2f} {paired(runs, name, op, connections):>6.2f}"
                if load.errors:
                    line += f" ({load.errors} non-2xx)"
            print(line)

    print(
        "\nCPU ms per request (median over repeats): the server's process | PostgreSQL's backends"
    )
    header = f"{'op':<4} {'conns':>5}"
    header += "".join(f" {name[:13]:>13}" for name in names) + " |"
    header += "".join(f" {name[:13]:>13}" for name in names)
    print(header)
    for connections in args.connections:
        for op in args.ops:
            line = f"{op:<4} {connections:>5}"
            found = [runs.get((name, op, connections), []) for name in names]
            line += "".join(
                f" {statistics.median(run.server_ms for run in one):>13.3f}" for one in found if one
            )
            line += " |"
            line += "".join(
                f" {statistics.median(run.database_ms for run in one):>13.3f}"
                for one in found
                if one
            )
            print(line)
    if others:
        print(f"(compared with: {', '.join(others)}; one run, figures comparable within it only)")


def paired(
    runs: dict[tuple[str, str, int], list[Run]], other: str, op: str, connections: int
) -> float:
    """The median ratio of the service's req/s to `other`'s over repeats: steadier
    than best over best when the machine's speed drifts between repeats."""
    served = runs.get(("service", op, connections), [])
    bare = runs.get((other, op, connections), [])
    ratios = [
        one.load.requests_per_second / two.load.requests_per_second
        for one, two in zip(served, bare, strict=False)
        if two.load.requests_per_second
    ]
    return statistics.median(ratios) if ratios else float("nan")


if __name__ == "__main__":
    main()
