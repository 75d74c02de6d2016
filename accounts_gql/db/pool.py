"""Connection pools: one for writes (the primary), one for reads (a replica or the primary)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import asyncpg
import orjson
from asyncpg.pool import PoolConnectionProxy

from accounts_gql.core.settings import Settings

# Anything a repository can run a statement on: a pool, or a connection of one.
Executor = asyncpg.Pool | asyncpg.Connection | PoolConnectionProxy


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


async def create_pool(
    dsn: str, settings: Settings, counter: StatementCounter | None = None
) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        dsn,
        min_size=settings.db_pool_min,
        max_size=settings.db_pool_max,
        reset=_keep_session,
        init=partial(init_connection, counter=counter),
        server_settings={"application_name": "accounts-gql"},
    )
    assert pool is not None
    return pool


@dataclass(slots=True)
class Database:
    """The pools a process uses; `read` is `write` when no replica is configured."""

    write: asyncpg.Pool
    read: asyncpg.Pool
    counter: StatementCounter | None = None

    @classmethod
    async def connect(
        cls, dsn: str, settings: Settings, counter: StatementCounter | None = None
    ) -> Database:
        write = await create_pool(dsn, settings, counter)
        if settings.read_database_url:
            read = await create_pool(settings.read_database_url, settings, counter)
        else:
            read = write
        return cls(write=write, read=read, counter=counter)

    async def close(self) -> None:
        if self.read is not self.write:
            await self.read.close()
        await self.write.close()
