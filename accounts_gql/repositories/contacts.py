"""User contacts: calls of the stored functions in sql/0003_contacts.sql."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

# Re-exported: callers of this module name their executor from here.
from accounts_gql.db.pool import Executor as Executor
from accounts_gql.repositories.batches import batch_call, fetch_rows
from accounts_gql.repositories.errors import domain_errors
from accounts_gql.repositories.rows import maker


@dataclass(frozen=True, slots=True)
class ContactRow:
    id: uuid.UUID
    user_id: uuid.UUID
    contact_type_id: uuid.UUID
    type_code: str
    value: str
    is_primary: bool
    is_verified: bool
    is_active: bool
    created_at: datetime
    updated_at: datetime
    deactivated_at: datetime | None


_row = maker(ContactRow)


# A write returns accounts.user_contacts; contact_with_type adds the type code.
# The write sits in FROM so that it runs once (a `(f(...)).*` would call it per column).
def _write(call: str) -> str:
    return f"SELECT v.* FROM {call} AS w CROSS JOIN LATERAL accounts.contact_with_type(w) AS v"


_ADD = _write("accounts.add_contact($1, $2, $3, $4, $5, $6)")
_UPDATE = _write("accounts.update_contact($1, $2, $3, $4)")
_SET_PRIMARY = _write("accounts.set_primary_contact($1, $2)")
_DEACTIVATE = _write("accounts.deactivate_contact($1, $2)")


# The contacts of these users ($2: inactive ones too), ordered by user, then oldest first.
_COLUMNS = (
    "id uuid, user_id uuid, contact_type_id uuid, type_code text, value text, is_primary bool,"
    " is_verified bool, is_active bool, created_at timestamptz, updated_at timestamptz,"
    " deactivated_at timestamptz"
)
CONTACTS_BY_USER_IDS = batch_call(
    "contacts_by_user_ids($1, $2)", _COLUMNS, ContactRow, key="user_id", unique="id"
)
CONTACTS_BY_IDS = batch_call("contacts_by_ids($1)", _COLUMNS, ContactRow, key="id", unique="id")


async def contacts_by_user_ids(
    db: Executor, user_ids: list[uuid.UUID], include_inactive: bool = False
) -> list[ContactRow]:
    rows: list[ContactRow] = await fetch_rows(db, CONTACTS_BY_USER_IDS, user_ids, include_inactive)
    return rows


async def contacts_by_ids(db: Executor, ids: list[uuid.UUID]) -> list[ContactRow]:
    rows: list[ContactRow] = await fetch_rows(db, CONTACTS_BY_IDS, ids)
    return rows


async def _write_one(db: Executor, statement: str, *args: object) -> ContactRow:
    async with domain_errors():
        record = await db.fetchrow(statement, *args)
    assert record is not None, "a contact write returns its row"
    return _row(record)


async def add_contact(
    db: Executor,
    user_id: uuid.UUID,
    type_code: str,
    value: str,
    is_primary: bool = False,
    is_verified: bool = False,
    actor_id: uuid.UUID | None = None,
) -> ContactRow:
    return await _write_one(db, _ADD, user_id, type_code, value, is_primary, is_verified, actor_id)


async def update_contact(
    db: Executor,
    contact_id: uuid.UUID,
    value: str | None = None,
    is_verified: bool | None = None,
    actor_id: uuid.UUID | None = None,
) -> ContactRow:
    return await _write_one(db, _UPDATE, contact_id, value, is_verified, actor_id)


async def set_primary_contact(
    db: Executor, contact_id: uuid.UUID, actor_id: uuid.UUID | None = None
) -> ContactRow:
    return await _write_one(db, _SET_PRIMARY, contact_id, actor_id)


async def deactivate_contact(
    db: Executor, contact_id: uuid.UUID, actor_id: uuid.UUID | None = None
) -> ContactRow:
    return await _write_one(db, _DEACTIVATE, contact_id, actor_id)


async def normalize_contact_value(db: Executor, type_code: str, value: str) -> str:
    """A value in its stored form (e.g. to look a contact up by what a user typed)."""
    async with domain_errors():
        normalized: str = await db.fetchval(
            "SELECT accounts.normalize_contact_value($1, $2)", type_code, value
        )
    return normalized
