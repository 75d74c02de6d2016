"""Repository of the outbox functions of `sql/0005_outbox.sql`: calls only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from accounts_gql.db.pool import Executor

STATUSES = ("pending", "failed", "published", "all")


@dataclass(frozen=True, slots=True)
class OutboxRow:
    position: int
    event_id: UUID
    event_type: str
    aggregate_type: str
    aggregate_id: UUID
    sequence: int
    payload: Any  # decoded JSON, or its text on a connection without a jsonb codec
    actor_id: UUID | None
    created_at: datetime
    published_at: datetime | None
    attempts: int
    last_error: str | None
    next_attempt_at: datetime
    # The writing transaction (sql/0018): orders the subscriptions' stream.
    xid: int | None = None

    @classmethod
    def from_record(cls, record: asyncpg.Record) -> OutboxRow:
        return cls(**dict(record.items()))

    def __getitem__(self, key: str) -> Any:
        """Lets `envelope.encode_row` read a row and a record alike."""
        return getattr(self, key)


@dataclass(frozen=True, slots=True)
class OutboxStats:
    pending: int
    oldest_pending_age: float | None  # seconds


async def claim(connection: Executor, limit: int) -> list[OutboxRow]:
    """Claims due rows; call inside a transaction, which holds the claim until it ends."""
    records = await connection.fetch("SELECT * FROM accounts.outbox_claim($1)", limit)
    return [OutboxRow.from_record(record) for record in records]


async def mark_published(connection: Executor, positions: list[int]) -> int:
    result = await connection.fetchval(
        "SELECT accounts.outbox_mark_published($1::bigint[])", positions
    )
    return int(result)


async def record_failure(
    connection: Executor, positions: list[int], error: str, base: float, maximum: float
) -> int:
    result = await connection.fetchval(
        "SELECT accounts.outbox_record_failure($1::bigint[], $2, $3, $4)",
        positions,
        error,
        base,
        maximum,
    )
    return int(result)


async def list_rows(connection: Executor, status: str, limit: int) -> list[OutboxRow]:
    records = await connection.fetch("SELECT * FROM accounts.outbox_list($1, $2)", status, limit)
    return [OutboxRow.from_record(record) for record in records]


async def prune(connection: Executor, age: timedelta, limit: int) -> int:
    result = await connection.fetchval("SELECT accounts.outbox_prune($1, $2)", age, limit)
    return int(result)


async def stats(connection: Executor) -> OutboxStats:
    record = await connection.fetchrow("SELECT * FROM accounts.outbox_stats()")
    assert record is not None
    return OutboxStats(record["pending"], record["oldest_pending_age"])
