"""Connection pools: one for writes (the primary), one for reads (a replica or the primary)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from functools import partial
from typing import Any

import asyncpg
import orjson
from asyncpg.pool import PoolConnectionProxy

from accounts_gql.core.settings import Settings
from accounts_gql.db.lending import ConnectionLending


class RequestConnection:
    """One pool connection for every statement of a query request.

    Taken at the request's first statement and given back by `release` when the
    request ends: once per request instead of once per statement, through the
    pool's `lending` (db/lending.py). Statements of one request run one after
    another on it: loads of one level wait for each other a round trip, which a
    CPU-bound replica does not notice. Only for requests that take no other
    connection meanwhile (queries), so that a full pool cannot deadlock.
    A statement that comes after `release` (a load nobody waits for any more)
    runs on the pool, so that no connection is left taken.
    """

    __slots__ = ("_connection", "_lock", "_pool", "_released", "_uses")

    def __init__(self, pool: BoundedPool) -> None:
        self._pool = pool
        self._connection: Any = None
        self._uses = 0
        self._lock = asyncio.Lock()
        self._released = False

    async def fetch(self, query: str, *args: object) -> list[asyncpg.Record]:
        records: list[asyncpg.Record] = await self._run("fetch", query, args)
        return records

    async def fetchrow(self, query: str, *args: object) -> asyncpg.Record | None:
        record: asyncpg.Record | None = await self._run("fetchrow", query, args)
        return record

    async def fetchval(self, query: str, *args: object) -> Any:
        return await self._run("fetchval", query, args)

    async def execute(self, query: str, *args: object) -> str:
        status: str = await self._run("execute", query, args)
        return status

    async def _run(self, method: str, query: str, args: tuple[object, ...]) -> Any:
        async with self._lock:
            if self._released:
                return await getattr(self._pool, method)(query, *args)
            connection = self._connection
            if connection is None:
                connection, self._uses = await self._pool.lending.lend()
                self._connection = connection
            try:
                return await getattr(connection, method)(query, *args)
            except TimeoutError:
                # The server did not answer within the command timeout (it hangs,
                # or the network does): the connection is of no further use, and
                # waiting for its cancellation would hold the request longer.
                self._connection = None
                connection.terminate()
                await self._pool.lending.discard(connection)
                raise
            except asyncio.CancelledError:
                # asyncpg cancels the statement on the server, and the connection
                # takes no other until that is done: the pool waits for it.
                self._connection = None
                await asyncio.shield(self._pool.lending.discard(connection))
                raise

    async def release(self) -> None:
        """Gives the connection back to the pool once no statement runs on it;
        to the end even when the request is cancelled meanwhile."""
        if self._lock.locked():  # a statement in flight: wait for it, shielded
            await asyncio.shield(self._release())
        else:  # the common case, without a task (asyncpg shields its own release)
            await self._release()

    async def _release(self) -> None:
        async with self._lock:
            self._released = True
            connection, self._connection = self._connection, None
            if connection is not None:
                await self._pool.lending.take_back(connection, self._uses)


# Anything a repository can run a statement on: a pool, a connection of one, or
# a request's connection.
Executor = asyncpg.Pool | asyncpg.Connection | PoolConnectionProxy | RequestConnection


async def _keep_session(connection: asyncpg.Connection) -> None:
    """Skips asyncpg's reset query on release.

    The default reset (advisory unlock, CLOSE ALL, UNLISTEN *, RESET ALL) costs a
    round trip per release. Pool connections never take session state (no SET,
    LISTEN, advisory locks or cursors outside a transaction), so nothing needs
    resetting; asyncpg still rolls back a transaction left open.
    """


class StatementCounter:
    """Counts the statements sent to PostgreSQL (tests and the bench only)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, record: object) -> None:
        self.count += 1

    async def settled(self) -> int:
        """The count once the statements sent so far are in: asyncpg calls its
        query loggers on the loop's next turn, which a request may not leave it."""
        await asyncio.sleep(0)
        return self.count


async def init_connection(connection: asyncpg.Connection, counter: StatementCounter | None) -> None:
    # jsonb as Python objects, decoded and encoded by orjson.
    await connection.set_type_codec(
        "jsonb",
        schema="pg_catalog",
        encoder=lambda value: orjson.dumps(value).decode(),
        decoder=orjson.loads,
        format="text",
    )
    if counter is not None:
        connection.add_query_logger(counter)


class BoundedPool(asyncpg.Pool):
    """A pool whose `acquire` (and so every `pool.fetch…`) waits at most
    `acquire_timeout` seconds unless told otherwise: with the database stalled
    or the pool exhausted, a request fails fast instead of queueing forever.
    Query requests borrow its connections through `lending` (db/lending.py),
    at most `lendable` at once (half the pool by default)."""

    def __init__(
        self, dsn: str, *, acquire_timeout: float, lendable: int | None = None, **options: Any
    ) -> None:
        self.acquire_timeout = acquire_timeout
        super().__init__(dsn, **options)
        limit = lendable if lendable is not None else max(1, self.get_max_size() // 2)
        self.lending = ConnectionLending(self, limit, acquire_timeout)

    def acquire(self, *, timeout: float | None = None) -> Any:
        return super().acquire(timeout=self.acquire_timeout if timeout is None else timeout)

    async def close(self) -> None:
        await self.lending.close()  # asyncpg's close waits for what it lent
        await super().close()

    def terminate(self) -> None:
        self.lending.terminate()
        super().terminate()


async def create_pool(
    dsn: str,
    settings: Settings,
    counter: StatementCounter | None = None,
    *,
    lendable: int | None = None,
) -> BoundedPool:
    """A pool whose every statement and acquire is bounded in time (docs/operations.md)."""
    pool = BoundedPool(
        dsn,
        acquire_timeout=settings.db_acquire_timeout,
        lendable=lendable,
        min_size=settings.db_pool_min,
        max_size=settings.db_pool_max,
        max_queries=50_000,
        max_inactive_connection_lifetime=300.0,
        loop=None,
        connection_class=asyncpg.Connection,
        record_class=asyncpg.Record,
        reset=_keep_session,
        init=partial(init_connection, counter=counter),
        # Connecting, the server's statement timeout, and the client's own.
        timeout=settings.db_acquire_timeout,
        command_timeout=settings.db_command_timeout,
        server_settings=settings.db_server_settings("accounts-gql"),
    )
    await pool
    return pool


async def create_replica_pool(
    dsn: str, settings: Settings, counter: StatementCounter | None = None
) -> BoundedPool:
    """The replica's pool, all of it for queries; a replica that is away at
    start connects later (queries read the primary meanwhile, db/replica.py)."""
    lendable = settings.db_pool_max
    try:
        return await create_pool(dsn, settings, counter, lendable=lendable)
    except Exception:
        unconnected = settings.model_copy(update={"db_pool_min": 0})
        return await create_pool(dsn, unconnected, counter, lendable=lendable)


@dataclass(slots=True)
class Database:
    """The pools a process uses; `read` is `write` when no replica is configured."""

    write: BoundedPool
    read: BoundedPool
    counter: StatementCounter | None = None

    @classmethod
    async def connect(
        cls, dsn: str, settings: Settings, counter: StatementCounter | None = None
    ) -> Database:
        write = await create_pool(dsn, settings, counter)
        if settings.read_database_url:
            read = await create_replica_pool(settings.read_database_url, settings, counter)
        else:
            read = write
        return cls(write=write, read=read, counter=counter)

    async def close(self) -> None:
        if self.read is not self.write:
            await self.read.close()
        await self.write.close()
