"""Repository of the event stream's functions (sql/0018_event_stream.sql): calls only.

The stream's order is (tick, position); the SQL file says why that order never
shows a later event before an earlier one to anyone.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from accounts_gql.db.pool import Executor
from accounts_gql.repositories.errors import domain_errors


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """An outbox event in the stream, with what the visibility rules look at."""

    tick: int
    position: int
    event_id: uuid.UUID
    event_type: str
    aggregate_type: str
    aggregate_id: uuid.UUID
    sequence: int
    payload: Any  # the JSON text on the stream's connection (no jsonb codec), else decoded
    actor_id: uuid.UUID | None
    created_at: datetime
    user_id: uuid.UUID | None  # the user it concerns: the aggregate, or a membership's user
    group_id: uuid.UUID | None  # the group of a group or membership event
    session_id: uuid.UUID | None  # the session a session.revoked ended
    role: str | None  # a membership's role after the event

    @property
    def cursor(self) -> tuple[int, int]:
        return (self.tick, self.position)

    def __getitem__(self, key: str) -> Any:
        """Lets `envelope.encode_row`-style readers take an event like a record."""
        return getattr(self, key)


def _event(record: asyncpg.Record) -> StreamEvent:
    return StreamEvent(*record.values())


async def tick(db: Executor) -> int:
    """Takes a tick if events committed since the last; the newest tick."""
    return int(await db.fetchval("SELECT accounts.event_tick()"))


async def last_tick(db: Executor) -> int:
    return int(await db.fetchval("SELECT accounts.event_last_tick()"))


async def events_after(
    db: Executor, cursor: tuple[int, int], upto: int, limit: int
) -> list[StreamEvent]:
    """Events after `cursor` up to tick `upto`, in stream order (keep the window small)."""
    records = await db.fetch(
        "SELECT * FROM accounts.events_after($1, $2, $3, $4)", cursor[0], cursor[1], upto, limit
    )
    return [_event(record) for record in records]


async def cursor_of(db: Executor, event_id: uuid.UUID) -> tuple[int, int]:
    """Where the stream stands just after `event_id`; EVENT_CURSOR_UNKNOWN if not kept."""
    async with domain_errors():
        record = await db.fetchrow("SELECT * FROM accounts.event_cursor($1)", event_id)
    assert record is not None
    return (record["tick"], record["position"])


async def prune_ticks(db: Executor, age: timedelta, limit: int) -> int:
    return int(await db.fetchval("SELECT accounts.event_ticks_prune($1, $2)", age, limit))
