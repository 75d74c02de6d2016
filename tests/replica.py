"""A real streaming replica for the tests: a primary and a standby of their own.

The shared test cluster allows no replication connections (its pg_hba.conf has
no `replication` entry, and the tests do not change its configuration), so the
fixture starts a small primary of its own with `initdb` (whose default
pg_hba.conf lets 127.0.0.1 replicate), takes a `pg_basebackup -R` of it
(standby.signal and primary_conninfo) and starts that as a hot standby
streaming from it: two postmasters on free ports of 127.0.0.1, in a temporary
folder owned by the `postgres` OS user (the postmaster refuses to run as root).
Both are stopped by their pids at the end and the folder removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

from accounts_gql.db.migrations import migrate
from tests.ports import free_port

BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
OS_USER = "postgres"
DATABASE = "accounts"


def _as_postgres(*command: str | Path) -> list[str]:
    args = [str(part) for part in command]
    return args if os.geteuid() != 0 else ["runuser", "-u", OS_USER, "--", *args]


def _run(*command: str | Path) -> None:
    done = subprocess.run(_as_postgres(*command), capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"{Path(str(command[0])).name} failed: {done.stderr.strip()}")


@dataclass
class Server:
    """One postmaster of the pair."""

    data: Path
    port: int
    socket_dir: Path

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{DATABASE}"

    def start(self) -> None:
        _run(
            BIN / "pg_ctl",
            "-D",
            self.data,
            "-l",
            self.data.parent / f"{self.data.name}.log",
            "-o",
            f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1",
            "-w",
            "-t",
            "60",
            "start",
        )

    def pid(self) -> int | None:
        pid_file = self.data / "postmaster.pid"
        if not pid_file.exists():
            return None
        return int(pid_file.read_text().split("\n", 1)[0])

    def stop(self) -> None:
        """Fast shutdown by the postmaster's pid, waiting until it is gone."""
        pid = self.pid()
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGINT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)


@dataclass
class StreamingReplica:
    """The pair: `primary` takes writes, `standby` replays them."""

    primary: Server
    standby: Server

    async def standby_execute(self, statement: str) -> None:
        connection = await asyncpg.connect(self.standby.url)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    async def pause_replay(self) -> None:
        await self.standby_execute("SELECT pg_wal_replay_pause()")

    async def resume_replay(self) -> None:
        await self.standby_execute("SELECT pg_wal_replay_resume()")

    async def wait_replayed(self, position: int, within: float = 20) -> None:
        """Until the standby has replayed `position` (a WAL position, as bigint)."""
        deadline = time.monotonic() + within
        connection = await asyncpg.connect(self.standby.url)
        try:
            while True:
                # The server's own function: the migrations may not be replayed yet.
                replayed = await connection.fetchval(
                    "SELECT (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint"
                )
                if replayed >= position:
                    return
                if time.monotonic() > deadline:
                    raise AssertionError(f"the standby replayed {replayed}, not {position}")
                await asyncio.sleep(0.02)
        finally:
            await connection.close()

    async def primary_position(self) -> int:
        connection = await asyncpg.connect(self.primary.url)
        try:
            position: int = await connection.fetchval("SELECT accounts.wal_position()")
            return position
        finally:
            await connection.close()


def _configure_primary(data: Path) -> None:
    with (data / "postgresql.conf").open("a") as conf:
        conf.write(
            "\n# accounts-gql tests: a small primary that streams to one standby\n"
            "wal_level = replica\nmax_wal_senders = 4\nfsync = off\n"
            "synchronous_commit = on\nfull_page_writes = off\nshared_buffers = 32MB\n"
            "max_connections = 60\nwal_keep_size = 256MB\n"
        )


@contextlib.contextmanager
def _folder() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="accounts-replica-"))
    try:
        if os.geteuid() == 0:
            user = pwd.getpwnam(OS_USER)
            os.chown(root, user.pw_uid, user.pw_gid)
        root.chmod(0o700)
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def replication_unavailable() -> str | None:
    """Why this machine cannot run the pair, if it cannot."""
    if not (BIN / "pg_basebackup").exists():
        return f"no PostgreSQL server binaries in {BIN}"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(OS_USER)
        except KeyError:
            return f"no {OS_USER} OS user to run the postmasters as"
    return None


@pytest.fixture(scope="session")
async def streaming_replica() -> AsyncIterator[StreamingReplica]:
    """A migrated primary and a hot standby streaming from it, for the session."""
    reason = replication_unavailable()
    if reason is not None:
        pytest.skip(reason)
    async with running_pair() as pair:
        yield pair


@contextlib.asynccontextmanager
async def running_pair() -> AsyncIterator[StreamingReplica]:
    """The pair, from nothing to stopped and removed (the fixture, and bench/)."""
    with _folder() as root:
        primary = Server(root / "primary", free_port(), root)
        standby = Server(root / "standby", free_port(), root)
        _run(BIN / "initdb", "-D", primary.data, "-U", "postgres", "--auth=trust", "-N")
        _configure_primary(primary.data)
        primary.start()
        try:
            _run(
                BIN / "pg_basebackup",
                "-h",
                "127.0.0.1",
                "-p",
                str(primary.port),
                "-U",
                "postgres",
                "-D",
                standby.data,
                "-R",  # standby.signal + primary_conninfo
                "-X",
                "stream",
                "-c",
                "fast",
            )
            standby.start()
            try:
                admin = await asyncpg.connect(
                    f"postgresql://postgres@127.0.0.1:{primary.port}/postgres"
                )
                try:
                    await admin.execute(f"CREATE DATABASE {DATABASE}")
                finally:
                    await admin.close()
                await migrate(primary.url)
                pair = StreamingReplica(primary, standby)
                await _wait_streaming(pair)
                await pair.wait_replayed(await pair.primary_position())
                yield pair
            finally:
                standby.stop()
        finally:
            primary.stop()


async def _wait_streaming(pair: StreamingReplica, within: float = 30) -> None:
    """Until the standby accepts connections to the migrated database, in recovery."""
    deadline = time.monotonic() + within
    while True:
        try:
            connection = await asyncpg.connect(pair.standby.url, timeout=2)
        except (OSError, asyncpg.PostgresError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)
            continue
        try:
            assert await connection.fetchval("SELECT pg_is_in_recovery()"), "a standby"
            return
        finally:
            await connection.close()
