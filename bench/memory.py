"""Memory under distinct documents, and what the GC tuning buys (PRODUCT §8).

    .venv/bin/python bench/memory.py [--documents 100000] [--warmup 20000] [--seconds 8]

Starts two service processes on core 0, one with `GC_TUNING=true` and one with
`GC_TUNING=false`, on a database of its own (BENCH_MEMORY_DATABASE_URL, default
`accounts_bench_memory` on the local server, seeded with a few hundred users).
Each gets `--warmup` distinct documents (its caches fill). The tuned one then
gets `--documents` more in four quarters, the untuned one `--compare-documents`
(its distinct-document throughput, for the ratio), sent by this process on
core 1 over 16 connections (no text is sent twice: an anonymous query told
apart by a comment, and named operations); the resident set size (VmRSS) is
read after the warm-up and after each quarter. Then both serve Q2 (a page of 50
users with their contacts and groups: the allocation-heavy case the tuning is
for) in interleaved runs, and the best of each is the throughput. Needs wrk
(`apt-get install wrk`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from accounts_gql.core.security import issue_access_token  # noqa: E402
from accounts_gql.core.settings import Settings  # noqa: E402
from accounts_gql.db.migrations import migrate  # noqa: E402
from accounts_gql.repositories.demo import seed_demo  # noqa: E402
from bench.operations import Q2  # noqa: E402

SERVER_URL = os.environ.get("BENCH_SERVER_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
DATABASE = os.environ.get(
    "BENCH_MEMORY_DATABASE_URL", SERVER_URL.rsplit("/", 1)[0] + "/accounts_bench_memory"
)
JWT_SECRET = "bench-secret-" + "m" * 32
USERS = 500
CONNECTIONS = 16


@dataclass
class Server:
    gc_tuning: bool
    port: int
    process: subprocess.Popen[bytes]
    rss_mb: list[float] = field(default_factory=list)  # after warm-up, then per quarter
    distinct_rps: list[float] = field(default_factory=list)
    q2_rps: list[float] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"GC_TUNING={'true' if self.gc_tuning else 'false'}"

    def rss(self) -> float:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
        assert match is not None
        return int(match.group(1)) / 1024


async def prepare() -> None:
    admin = await asyncpg.connect(SERVER_URL)
    name = DATABASE.rsplit("/", 1)[1]
    if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
        await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    await migrate(DATABASE)
    db = await asyncpg.connect(DATABASE)
    try:
        have = await db.fetchval("SELECT count(*) FROM accounts.users")
        if have < USERS:
            await seed_demo(db, USERS - have, None)
            await db.execute("VACUUM ANALYZE")
    finally:
        await db.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start(gc_tuning: bool) -> Server:
    port = free_port()
    env = os.environ | {
        "DATABASE_URL": DATABASE,
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "JWT_SECRET": JWT_SECRET,
        "RELAY_ENABLED": "false",
        "LOG_LEVEL": "WARNING",
        "LOG_DIR": tempfile.mkdtemp(prefix="accounts-bench-logs-"),
        "DB_POOL_MIN": "4",
        "DB_POOL_MAX": "8",
        "GC_TUNING": "true" if gc_tuning else "false",
    }
    command = [str(ROOT / ".venv" / "bin" / "accounts-gql"), "serve"]
    if shutil.which("taskset"):
        command = ["taskset", "-c", "0", *command]
    process = subprocess.Popen(command, env=env, cwd=ROOT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return Server(gc_tuning, port, process)
        except httpx.HTTPError:
            time.sleep(0.2)
    process.terminate()
    raise SystemExit("server did not start")


def q2(server: Server, seconds: int, body_file: str, token: str) -> float:
    """Q2 for `seconds` with wrk (bench/post.lua); returns requests/s."""
    command = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s"]
    command += ["-s", str(ROOT / "bench" / "post.lua"), f"http://127.0.0.1:{server.port}/graphql"]
    env = {"BENCH_BODY": body_file, "BENCH_TOKEN": token}
    if shutil.which("taskset"):
        command = ["taskset", "-c", "1", *command]
    output = subprocess.run(
        command, env=os.environ | env, capture_output=True, text=True, check=True
    ).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if errors:
        raise SystemExit(f"{server.name}: {errors.group(1)} failed responses\n{output}")
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    assert rps is not None, output
    return float(rps.group(1))


# Documents no one sent before: `{id}` is unique per request.
SHAPES = (
    "{{ contactTypes {{ code }} }} # {id}",
    "query D{id} {{ contactTypes {{ code name isUnique }} }}",
)


def distinct(server: Server, count: int) -> float:
    """Sends `count` documents never sent before; returns requests/s."""
    return asyncio.run(_distinct(server, count, uuid.uuid4().hex[:8]))


async def _distinct(server: Server, count: int, base: str) -> float:
    numbers = iter(range(count))
    failed: list[bytes] = []
    headers = {"content-type": "application/json", "accept": "application/graphql-response+json"}
    url = f"http://127.0.0.1:{server.port}/graphql"

    async def worker(client: httpx.AsyncClient) -> None:
        for n in numbers:
            query = SHAPES[n % 2].format(id=f"{base}x{n}")
            response = await client.post(
                url, content=orjson.dumps({"query": query}), headers=headers
            )
            if response.status_code != 200 or b'"errors"' in response.content:
                failed.append(response.content)

    limits = httpx.Limits(max_connections=CONNECTIONS)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(CONNECTIONS)))
        elapsed = time.perf_counter() - started
    if failed:
        raise SystemExit(f"{server.name}: {len(failed)} failed responses, e.g. {failed[0]!r}")
    return count / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--documents", type=int, default=100_000)
    parser.add_argument("--warmup", type=int, default=20_000)
    parser.add_argument("--compare-documents", type=int, default=10_000)
    parser.add_argument("--seconds", type=int, default=8, help="per Q2 run")
    parser.add_argument("--repeats", type=int, default=2, help="Q2 runs per server")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("needs wrk (apt-get install wrk)")
    asyncio.run(prepare())
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {1})  # the driver on core 1, the servers on core 0
    token = issue_access_token(
        Settings(jwt_secret=JWT_SECRET), uuid.uuid4(), ["admin"], ttl=24 * 3600
    )
    with tempfile.NamedTemporaryFile("wb", suffix=".json", delete=False) as body:
        body.write(orjson.dumps({"query": Q2}))
    servers = [start(True), start(False)]
    try:
        for server in servers:
            print(f"{server.name}: warming up with {args.warmup} distinct documents", flush=True)
            distinct(server, args.warmup)
            q2(server, 2, body.name, token)
            server.rss_mb.append(server.rss())
        for n in range(4):
            totals = (args.documents, args.compare_documents)
            for server, total in zip(servers, totals, strict=True):
                quarter = total // 4
                server.distinct_rps.append(distinct(server, quarter))
                server.rss_mb.append(server.rss())
                print(
                    f"{server.name}: {quarter * (n + 1)} distinct documents,"
                    f" RSS {server.rss_mb[-1]:.1f} MB",
                    flush=True,
                )
        for _ in range(args.repeats):
            for server in servers:
                server.q2_rps.append(q2(server, args.seconds, body.name, token))
    finally:
        for server in servers:
            server.process.terminate()
            server.process.wait(timeout=30)
        os.unlink(body.name)
    report(servers, args.documents, args.compare_documents)


def report(servers: list[Server], documents: int, compare_documents: int) -> None:
    print()
    print(
        "| server | distinct documents | RSS after warm-up | after each quarter"
        " | growth | distinct docs req/s | Q2 req/s (best) |"
    )
    print("|---|---|---|---|---|---|---|")
    for s, total in zip(servers, (documents, compare_documents), strict=True):
        quarters = " / ".join(f"{mb:.1f}" for mb in s.rss_mb[1:])
        growth = s.rss_mb[-1] - s.rss_mb[0]
        print(
            f"| {s.name} | {total} | {s.rss_mb[0]:.1f} MB | {quarters} MB | {growth:+.1f} MB"
            f" | {max(s.distinct_rps):.0f} | {max(s.q2_rps):.0f} |"
        )
    on, off = servers
    print(
        f"\nGC tuning: Q2 throughput x{max(on.q2_rps) / max(off.q2_rps):.2f},"
        f" distinct documents x{max(on.distinct_rps) / max(off.distinct_rps):.2f};"
        f" RSS growth over {documents} distinct documents with it:"
        f" {on.rss_mb[-1] - on.rss_mb[0]:+.1f} MB (bound: 15 MB)"
    )


if __name__ == "__main__":
    main()
