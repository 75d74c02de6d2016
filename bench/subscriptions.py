"""Events per second one replica streams to idle plus active subscribers, and memory
per subscriber (issue 15).

    .venv/bin/python bench/subscriptions.py [--idle 1000] [--active 100] [--events 2000]

Starts one service process (core 0 where `taskset` exists) on a database of its
own (BENCH_SUBSCRIPTIONS_DATABASE_URL, default `accounts_bench_subscriptions` on
the local server), opens `--idle` subscriptions of users whose accounts see no
event of the run and `--active` subscriptions of an admin (who sees them all),
one WebSocket each, from this process. The resident set size (VmRSS) of the
service is read before and after they open: the difference per subscription is
the memory per subscriber. Then `--events` events commit (user.updated, in
transactions of 20, from 4 connections), and the time from the first commit to
the last event at the last active subscriber gives events per second (each one
sent to every active subscriber). Bounded: everything on 127.0.0.1, at most a
few thousand events, a timeout of 120 s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
import httpx
import orjson
from websockets.asyncio.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from accounts_gql.core.security import issue_access_token  # noqa: E402
from accounts_gql.core.settings import Settings  # noqa: E402
from accounts_gql.db.migrations import migrate  # noqa: E402
from bench.memory import free_port  # noqa: E402

SERVER_URL = os.environ.get("BENCH_SERVER_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
DATABASE = os.environ.get(
    "BENCH_SUBSCRIPTIONS_DATABASE_URL",
    SERVER_URL.rsplit("/", 1)[0] + "/accounts_bench_subscriptions",
)
JWT_SECRET = "bench-secret-" + "s" * 32
SUBSCRIBE = (
    'subscription { accountEvents(types: ["user.updated"]) '
    "{ id type subject time sequence actorid data } }"
)
TIMEOUT = 120.0


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def prepare(users: int) -> list[uuid.UUID]:
    admin = await asyncpg.connect(SERVER_URL)
    name = DATABASE.rsplit("/", 1)[1]
    if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
        await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    await migrate(DATABASE)
    db = await asyncpg.connect(DATABASE)
    try:
        tag = uuid.uuid4().hex[:6]
        ids: list[uuid.UUID] = []
        for n in range(users):
            ids.append(
                await db.fetchval(
                    "SELECT id FROM accounts.create_user($1, $2, '{}'::jsonb, '{}', NULL)",
                    f"b{tag}{n}",
                    f"Bench {n}",
                )
            )
        return ids
    finally:
        await db.close()


def start(port: int, per_user: int) -> subprocess.Popen[bytes]:
    env = os.environ | {
        "DATABASE_URL": DATABASE,
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "JWT_SECRET": JWT_SECRET,
        "RELAY_ENABLED": "false",
        "LOG_LEVEL": "WARNING",
        "LOG_DIR": tempfile.mkdtemp(prefix="accounts-bench-logs-"),
        "SUBSCRIPTION_MAX_PER_USER": str(per_user),
        "SUBSCRIPTION_SEND_QUEUE": "100000",
    }
    command = [str(ROOT / ".venv" / "bin" / "accounts-gql"), "serve"]
    if shutil.which("taskset"):
        command = ["taskset", "-c", "0", *command]
    process = subprocess.Popen(command, env=env, cwd=ROOT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.2)
    process.terminate()
    raise SystemExit("server did not start")


async def open_subscription(url: str, token: str) -> ClientConnection:
    socket = await connect(url, subprotocols=["graphql-transport-ws"])  # type: ignore[list-item]
    init = {"type": "connection_init", "payload": {"token": token}}
    await socket.send(orjson.dumps(init).decode())
    ack = orjson.loads(await socket.recv())
    assert ack["type"] == "connection_ack", ack
    subscribe = {"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIBE}}
    await socket.send(orjson.dumps(subscribe).decode())
    return socket


async def receive(socket: ClientConnection, count: int, done: list[float]) -> None:
    got = 0
    while got < count:
        message = orjson.loads(await socket.recv())
        if message.get("type") == "next":
            got += 1
    done.append(time.perf_counter())


async def write(users: list[uuid.UUID], events: int) -> float:
    """Commits `events` user.updated events; the time of the first commit."""
    pool = await asyncpg.create_pool(DATABASE, min_size=4, max_size=4)
    assert pool is not None
    first: list[float] = []

    async def batch(start: int) -> None:
        async with pool.acquire() as db, db.transaction():
            for n in range(start, min(start + 20, events)):
                await db.execute(
                    "SELECT FROM accounts.update_user($1, NULL, $2, NULL, NULL, NULL)",
                    users[n % len(users)],
                    f"Bench {n}",
                )
        first.append(time.perf_counter())

    try:
        await asyncio.gather(*(batch(start) for start in range(0, events, 20)))
    finally:
        await pool.close()
    return min(first)


async def run(idle: int, active: int, events: int) -> None:
    # Idle subscribers are users the run never changes; the events change others.
    users = await prepare(idle + 50)
    idle_users, changed = users[:idle], users[idle:]
    settings = Settings(jwt_secret=JWT_SECRET)
    admin = uuid.uuid4()
    port = free_port()
    process = start(port, per_user=active + 10)
    url = f"ws://127.0.0.1:{port}/graphql"
    sockets: list[ClientConnection] = []
    try:
        await asyncio.sleep(1.0)
        before = rss_kib(process.pid)
        for n, user in enumerate(idle_users):
            sockets.append(await open_subscription(url, issue_access_token(settings, user, ())))
            if n % 200 == 199:
                await asyncio.sleep(0)
        admin_token = issue_access_token(settings, admin, ("admin",))
        actives = [await open_subscription(url, admin_token) for _ in range(active)]
        sockets += actives
        await asyncio.sleep(2.0)
        after = rss_kib(process.pid)
        done: list[float] = []
        receivers = [asyncio.create_task(receive(s, events, done)) for s in actives]
        await asyncio.sleep(0.5)
        started = time.perf_counter()
        first_commit = await write(changed, events)
        await asyncio.wait_for(asyncio.gather(*receivers), TIMEOUT)
        elapsed = max(done) - min(first_commit, started)
        subscribers = idle + active
        per_subscriber = (after - before) / subscribers
        print(f"subscribers: {idle} idle + {active} active on one replica (one process, core 0)")
        print(f"memory: {before} KiB before, {after} KiB after: {per_subscriber:.1f} KiB each")
        print(
            f"events: {events} in {elapsed:.2f} s: {events / elapsed:.0f} events/s to each "
            f"active subscriber, {events * active / elapsed:.0f} messages/s sent"
        )
    finally:
        for socket in sockets:
            await socket.close()
        process.terminate()
        process.wait(timeout=15)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--idle", type=int, default=1000)
    parser.add_argument("--active", type=int, default=100)
    parser.add_argument("--events", type=int, default=2000)
    args = parser.parse_args()
    if args.idle > 5000 or args.active > 1000 or args.events > 20000:
        raise SystemExit("bounded: at most 5,000 idle, 1,000 active, 20,000 events")
    asyncio.run(run(args.idle, args.active, args.events))


if __name__ == "__main__":
    main()
