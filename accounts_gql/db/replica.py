"""Reads from a streaming replica, with read-your-writes (PRODUCT §7, issue 15).

Queries go to READ_DATABASE_URL, mutations to the primary. A mutation's answer
carries a consistency token: the primary's WAL position after the commit
(`accounts.wal_position()`). A query that sends it back is served by the replica
only once the replica has replayed that position (`accounts.replay_position()`),
else, after at most REPLICA_WAIT seconds, by the primary. A replica that is away,
or lags more than REPLICA_MAX_LAG seconds, sends every query to the primary
until it is back; /readyz says "degraded" meanwhile.

The router samples both servers every REPLICA_CHECK_INTERVAL seconds on
connections of its own (a full pool is not an outage, and a stalled replica must
not hold a pool connection), so that routing a query costs no round trip: only a
token the last sample has not reached is checked against the replica, on the
connection the query then reads from.

Lag is measured in time without relying on clocks or on commits arriving: each
sample records the primary's position; the lag is the age of the oldest sampled
position the replica has not replayed yet (0 when it has replayed them all). It
is so exact to one sampling interval, and does not grow while the primary is idle.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections import deque
from dataclasses import dataclass
from enum import Enum

import asyncpg
from loguru import logger

from accounts_gql.core.settings import Settings
from accounts_gql.db.health import describe, unavailable_cause
from accounts_gql.db.pool import Database, RequestConnection

WAL_POSITION = "SELECT accounts.wal_position()"
REPLAY_POSITION = "SELECT accounts.replay_position()"

_TOKEN = re.compile(r"[0-9A-F]{1,8}/[0-9A-F]{1,8}", re.IGNORECASE)
POLL_INTERVAL = 0.005  # seconds between checks while a query waits for its token


def encode_token(position: int) -> str:
    """A WAL position as PostgreSQL writes an LSN ("16/B374D848")."""
    return f"{position >> 32:X}/{position & 0xFFFFFFFF:X}"


def decode_token(token: str) -> int | None:
    """The WAL position of a token, or None when it is not one."""
    if not _TOKEN.fullmatch(token):
        return None
    high, low = token.split("/")
    return (int(high, 16) << 32) | int(low, 16)


class Route(Enum):
    """Why a query reads where it does (the `reason` of the routing metric)."""

    REPLICA = "replica"  # no token
    REPLICA_TOKEN_REPLAYED = "token_replayed"  # the replica had replayed the token
    REPLICA_TOKEN_WAITED = "token_waited"  # ... after a wait of at most REPLICA_WAIT
    PRIMARY_TOKEN_AHEAD = "token_ahead"  # the replica had not replayed it in time
    PRIMARY_REPLICA_DOWN = "replica_down"
    PRIMARY_REPLICA_LAGGING = "replica_lagging"
    PRIMARY_ONLY = "no_replica"  # READ_DATABASE_URL unset

    @property
    def target(self) -> str:
        return "replica" if self.name.startswith("REPLICA") else "primary"


@dataclass(frozen=True, slots=True)
class ReplicaState:
    """What /readyz and /metrics show of the replica."""

    available: bool
    lag: float | None  # seconds; None while unknown (never sampled, or away)
    replay_position: int
    problem: str | None  # why it is away, when it is


class ReadRouter:
    """Chooses the server each query reads from; samples the replica's state."""

    def __init__(self, db: Database, settings: Settings, primary_dsn: str) -> None:
        self.db = db
        self.settings = settings
        self.primary_dsn = primary_dsn
        self.configured = db.read is not db.write and settings.read_database_url is not None
        self.replay_position = 0  # the highest the replica was seen to have replayed
        self.lag: float | None = None
        self.available = False
        self.problem: str | None = "not checked yet"
        self._samples: deque[tuple[float, int]] = deque(maxlen=3600)
        self._replica: asyncpg.Connection | None = None
        self._primary: asyncpg.Connection | None = None
        self._watch: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Samples once, so that the first queries route right, then keeps sampling."""
        if not self.configured:
            return
        await self.sample()
        self._watch = asyncio.create_task(self._watch_replica(), name="replica-watch")

    async def close(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(BaseException):
                await self._watch
        for connection in (self._replica, self._primary):
            if connection is not None:
                connection.terminate()
        self._replica = self._primary = None

    def state(self) -> ReplicaState:
        return ReplicaState(self.available, self.lag, self.replay_position, self.problem)

    @property
    def usable(self) -> bool:
        return self.available and self.lag is not None and self.lag <= self.settings.replica_max_lag

    # Routing ----------------------------------------------------------------

    async def reader(self, seen: int | None) -> tuple[RequestConnection, Route]:
        """The connection a query reads from: the replica when it is usable and,
        for a query that carries a token (`seen`), has replayed it."""
        if not self.configured:
            return RequestConnection(self.db.write), Route.PRIMARY_ONLY
        if not self.available:
            return RequestConnection(self.db.write), Route.PRIMARY_REPLICA_DOWN
        if not self.usable:
            return RequestConnection(self.db.write), Route.PRIMARY_REPLICA_LAGGING
        if seen is None:
            return RequestConnection(self.db.read), Route.REPLICA
        if seen <= self.replay_position:
            return RequestConnection(self.db.read), Route.REPLICA_TOKEN_REPLAYED
        return await self._reader_for_token(seen)

    async def _reader_for_token(self, seen: int) -> tuple[RequestConnection, Route]:
        """Asks the replica itself, on the connection the query will use, and
        waits up to REPLICA_WAIT for it to replay `seen`."""
        connection = RequestConnection(self.db.read)
        deadline = time.monotonic() + self.settings.replica_wait
        waited = False
        try:
            while True:
                position: int = await connection.fetchval(REPLAY_POSITION)
                self.replay_position = max(self.replay_position, position)
                if position >= seen:
                    route = Route.REPLICA_TOKEN_WAITED if waited else Route.REPLICA_TOKEN_REPLAYED
                    return connection, route
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                waited = True
                await asyncio.sleep(min(POLL_INTERVAL, remaining))
        except Exception as error:
            await connection.release()
            if unavailable_cause(error) is None:
                raise
            self.failed(error)
            return RequestConnection(self.db.write), Route.PRIMARY_REPLICA_DOWN
        await connection.release()
        return RequestConnection(self.db.write), Route.PRIMARY_TOKEN_AHEAD

    def failed(self, error: BaseException) -> None:
        """A query met the replica away: the primary serves until a sample finds it back."""
        if self.available:
            logger.warning(
                "read replica unavailable ({}): queries read the primary until it is back",
                describe(unavailable_cause(error) or error),
            )
        self.available = False
        self.lag = None
        self.problem = describe(unavailable_cause(error) or error)

    async def commit_position(self) -> int | None:
        """The primary's WAL position now (after a mutation committed): the
        consistency token. None without a replica, or when the primary does not
        answer (the mutation is done; its answer goes out without a token)."""
        if not self.configured:
            return None
        try:
            position: int = await self.db.write.fetchval(WAL_POSITION)
        except Exception as error:
            if unavailable_cause(error) is None:
                raise
            return None
        return position

    # Sampling ---------------------------------------------------------------

    async def sample(self) -> None:
        """One sample of the primary's position and the replica's replay."""
        timeout = min(1.0, self.settings.replica_check_interval)
        try:
            self._primary = await _connected(self._primary, self.primary_dsn, self)
            primary: int | None = await self._primary.fetchval(WAL_POSITION, timeout=timeout)
        except Exception:
            # The primary's own health is DatabaseHealth's concern; the replica
            # is judged by its replay only, this round.
            self._primary = _dropped(self._primary)
            primary = None
        now = time.monotonic()
        if primary is not None:
            self._samples.append((now, primary))
        try:
            self._replica = await _connected(self._replica, self.settings.read_database_url, self)
            replayed: int = await self._replica.fetchval(REPLAY_POSITION, timeout=timeout)
        except Exception as error:
            self._replica = _dropped(self._replica)
            self.failed(error)
            return
        self.replay_position = max(self.replay_position, replayed)
        while self._samples and self._samples[0][1] <= self.replay_position:
            self._samples.popleft()
        self.lag = time.monotonic() - self._samples[0][0] if self._samples else 0.0
        if not self.available:
            logger.info("read replica available (lag {:.1f} s)", self.lag)
        self.available = True
        self.problem = None

    async def _watch_replica(self) -> None:
        while True:
            await asyncio.sleep(self.settings.replica_check_interval)
            await self.sample()


async def _connected(
    connection: asyncpg.Connection | None, dsn: str | None, router: ReadRouter
) -> asyncpg.Connection:
    if connection is not None and not connection.is_closed():
        return connection
    settings = router.settings
    return await asyncpg.connect(
        dsn,
        timeout=min(settings.db_acquire_timeout, 2.0),
        command_timeout=settings.db_command_timeout,
        server_settings=settings.db_server_settings("accounts-gql-replica-watch"),
    )


def _dropped(connection: asyncpg.Connection | None) -> asyncpg.Connection | None:
    """None, once `connection` (if any) is closed: the next sample connects anew."""
    if connection is not None:
        connection.terminate()
    return None
