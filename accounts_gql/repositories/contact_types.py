"""Contact types: calls of the stored functions in sql/0003_contacts.sql."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

# A pool or a connection: anything asyncpg can run a statement on.
Executor = asyncpg.Pool | asyncpg.Connection


@dataclass(frozen=True, slots=True)
class ContactTypeRow:
    id: uuid.UUID
    code: str
    name: str
    validation_pattern: str | None
    is_unique: bool
    is_active: bool
    version: int
    created_at: datetime
    updated_at: datetime


def _row(record: asyncpg.Record) -> ContactTypeRow:
    return ContactTypeRow(*record)


async def list_contact_types(db: Executor, include_inactive: bool = False) -> list[ContactTypeRow]:
    records = await db.fetch("SELECT * FROM accounts.contact_types_list($1)", include_inactive)
    return [_row(record) for record in records]


async def contact_types_by_ids(db: Executor, ids: list[uuid.UUID]) -> list[ContactTypeRow]:
    records = await db.fetch("SELECT * FROM accounts.contact_types_by_ids($1)", ids)
    return [_row(record) for record in records]
