"""Demo data for development and benchmarks: sql/0006_seed.sql."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg


@dataclass(frozen=True, slots=True)
class SeedCounts:
    users: int
    contacts: int
    groups: int
    memberships: int


async def seed_demo(
    db: asyncpg.Pool | asyncpg.Connection, users: int, groups: int | None
) -> SeedCounts:
    record = await db.fetchrow("SELECT * FROM accounts.seed_demo($1, $2)", users, groups)
    assert record is not None
    return SeedCounts(*record)
