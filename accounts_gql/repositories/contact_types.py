"""Contact types: calls of the stored functions in sql/0003_contacts.sql."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from accounts_gql.db.pool import Executor
from accounts_gql.repositories.batches import batch_call, fetch_rows
from accounts_gql.repositories.errors import domain_errors
from accounts_gql.repositories.rows import maker


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


_row = maker(ContactTypeRow)


async def list_contact_types(db: Executor, include_inactive: bool = False) -> list[ContactTypeRow]:
    records = await db.fetch("SELECT * FROM accounts.contact_types_list($1)", include_inactive)
    return [_row(record) for record in records]


CONTACT_TYPES_BY_IDS = batch_call(
    "contact_types_by_ids($1)",
    "id uuid, code text, name text, validation_pattern text, is_unique bool, is_active bool,"
    " version int4, created_at timestamptz, updated_at timestamptz",
    ContactTypeRow,
    key="id",
    unique="id",
)


async def contact_types_by_ids(db: Executor, ids: list[uuid.UUID]) -> list[ContactTypeRow]:
    rows: list[ContactTypeRow] = await fetch_rows(db, CONTACT_TYPES_BY_IDS, ids)
    return rows


async def create_contact_type(
    db: Executor,
    code: str,
    name: str,
    validation_pattern: str | None = None,
    is_unique: bool = False,
    actor_id: uuid.UUID | None = None,
) -> ContactTypeRow:
    async with domain_errors():
        record = await db.fetchrow(
            "SELECT * FROM accounts.create_contact_type($1, $2, $3, $4, $5)",
            code,
            name,
            validation_pattern,
            is_unique,
            actor_id,
        )
    assert record is not None, "create_contact_type returns its row"
    return _row(record)


async def update_contact_type(
    db: Executor,
    contact_type_id: uuid.UUID,
    *,
    name: str | None = None,
    validation_pattern: str | None = None,
    is_unique: bool | None = None,
    is_active: bool | None = None,
    expected_version: int | None = None,
    actor_id: uuid.UUID | None = None,
) -> ContactTypeRow:
    """Changes the given fields (None keeps; an empty validation_pattern removes it)."""
    async with domain_errors():
        record = await db.fetchrow(
            "SELECT * FROM accounts.update_contact_type($1, $2, $3, $4, $5, $6, $7)",
            contact_type_id,
            name,
            validation_pattern,
            is_unique,
            is_active,
            expected_version,
            actor_id,
        )
    assert record is not None, "update_contact_type returns its row"
    return _row(record)
