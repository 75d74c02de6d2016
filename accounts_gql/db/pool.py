"""Connection pools: one for writes (the primary), one for reads (a replica or the primary)."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from accounts_gql.core.settings import Settings


async def _keep_session(connection: asyncpg.Connection) -> None:
    """Skips asyncpg's reset query on release.

    The default reset (advisory unlock, CLOSE ALL, UNLISTEN *, RESET ALL) costs a
    round trip per release. Pool connections never take session state (no SET,
    LISTEN, advisory locks or cursors outside a transaction), so nothing needs
    resetting; asyncpg still rolls back a transaction left open.
    """


async def create_pool(dsn: str, settings: Settings) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        dsn,
        min_size=settings.db_pool_min,
        max_size=settings.db_pool_max,
        reset=_keep_session,
        server_settings={"application_name": "accounts-gql"},
    )
    assert pool is not None
    return pool


@dataclass(slots=True)
class Database:
    """The pools a process uses; `read` is `write` when no replica is configured."""

    write: asyncpg.Pool
    read: asyncpg.Pool

    @classmethod
    async def connect(cls, dsn: str, settings: Settings) -> Database:
        write = await create_pool(dsn, settings)
        if settings.read_database_url:
            read = await create_pool(settings.read_database_url, settings)
        else:
            read = write
        return cls(write=write, read=read)

    async def close(self) -> None:
        if self.read is not self.write:
            await self.read.close()
        await self.write.close()
