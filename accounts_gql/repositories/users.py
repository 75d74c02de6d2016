"""Users: calls of the stored functions in sql/0002_users.sql."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from accounts_gql.db.pool import Executor
from accounts_gql.repositories.batches import BatchCall, Fetch, batch_call, fetch_all, fetch_rows
from accounts_gql.repositories.errors import domain_errors
from accounts_gql.repositories.pages import Cursor, cursor_args
from accounts_gql.repositories.rows import maker

_COLUMNS = "id, username, display_name, profile, status, roles, version, created_at, updated_at"


@dataclass(frozen=True, slots=True)
class UserRow:
    id: uuid.UUID
    username: str
    display_name: str
    profile: dict[str, Any]
    status: str
    roles: list[str]
    version: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class UserPage:
    rows: list[UserRow]
    # Whether a further row exists in the direction of travel.
    has_more: bool


# A user of a record whose first columns are _COLUMNS.
_row = maker(UserRow)


async def _write(db: Executor, call: str, *args: object) -> UserRow:
    async with domain_errors():
        record = await db.fetchrow(f"SELECT {_COLUMNS} FROM {call}", *args)
    assert record is not None, call
    return _row(record)


_TYPED_COLUMNS = (
    "id uuid, username text, display_name text, profile jsonb, status text, roles text[],"
    " version int4, created_at timestamptz, updated_at timestamptz"
)
USERS_BY_IDS = batch_call("users_by_ids($1)", _TYPED_COLUMNS, UserRow, key="id", unique="id")
# A keyset page (sql/0016, sql/0019): first, last, the cursors' (key, id) after
# and before, the order, then the filters (search, status, group, role). Each
# row ends with has_more: whether a further row exists in the direction of travel.
USERS_PAGE = batch_call(
    "users_page($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    _TYPED_COLUMNS + ", has_more bool",
    UserRow,
    keyed=False,
    extras=1,
    unique="id",
)


async def users_by_ids(db: Executor, ids: list[uuid.UUID]) -> list[UserRow]:
    rows: list[UserRow] = await fetch_rows(db, USERS_BY_IDS, ids)
    return rows


async def user_by_username(db: Executor, username: str) -> UserRow | None:
    async with domain_errors():
        record = await db.fetchrow(
            f"SELECT {_COLUMNS} FROM accounts.user_by_username($1)", username
        )
    return _row(record) if record else None


def users_page_args(
    *,
    first: int | None = None,
    last: int | None = None,
    after: Cursor | None = None,
    before: Cursor | None = None,
    order: str = "created_at_asc",
    search: str | None = None,
    status: str | None = None,
    group_id: uuid.UUID | None = None,
    role: str | None = None,
) -> tuple[object, ...]:
    """USERS_PAGE's arguments; `after`/`before` are cursors as (sort key, id)."""
    return (first, last, *cursor_args(after, before), order, search, status, group_id, role)


def user_page(records: Sequence[Any], call: BatchCall = USERS_PAGE) -> UserPage:
    """The page of the records of USERS_PAGE (or of a projection of it): has_more is
    their last column."""
    rows = list(map(call.row, records))
    return UserPage(rows=rows, has_more=bool(records) and records[0][-1])


async def users_page(
    db: Executor,
    *,
    first: int | None = None,
    last: int | None = None,
    after: Cursor | None = None,
    before: Cursor | None = None,
    order: str = "created_at_asc",
    search: str | None = None,
    status: str | None = None,
    group_id: uuid.UUID | None = None,
    role: str | None = None,
) -> UserPage:
    """A keyset page; `after`/`before` are cursors as (sort key, id)."""
    arguments = users_page_args(
        first=first,
        last=last,
        after=after,
        before=before,
        order=order,
        search=search,
        status=status,
        group_id=group_id,
        role=role,
    )
    fetch = Fetch(USERS_PAGE, args=arguments)
    await fetch_all(db, [fetch])
    return user_page(fetch.records)


async def users_count(
    db: Executor,
    search: str | None = None,
    status: str | None = None,
    group_id: uuid.UUID | None = None,
    role: str | None = None,
) -> int:
    async with domain_errors():
        count: int = await db.fetchval(
            "SELECT accounts.users_count($1, $2, $3, $4)", search, status, group_id, role
        )
    return count


async def create_user(
    db: Executor,
    username: str,
    display_name: str | None = None,
    profile: dict[str, Any] | None = None,
    roles: list[str] | None = None,
    *,
    actor_id: uuid.UUID | None = None,
) -> UserRow:
    return await _write(
        db,
        "accounts.create_user($1, $2, $3, $4, $5)",
        username,
        display_name,
        profile,
        roles,
        actor_id,
    )


async def update_user(
    db: Executor,
    user_id: uuid.UUID,
    *,
    username: str | None = None,
    display_name: str | None = None,
    roles: list[str] | None = None,
    expected_version: int | None = None,
    actor_id: uuid.UUID | None = None,
) -> UserRow:
    """Changes the given fields (None keeps)."""
    return await _write(
        db,
        "accounts.update_user($1, $2, $3, $4, $5, $6)",
        user_id,
        username,
        display_name,
        roles,
        expected_version,
        actor_id,
    )


async def update_user_profile(
    db: Executor,
    user_id: uuid.UUID,
    patch: Any,
    *,
    expected_version: int | None = None,
    actor_id: uuid.UUID | None = None,
) -> UserRow:
    """Merges a JSON Merge Patch (RFC 7396) into the profile."""
    return await _write(
        db,
        "accounts.update_user_profile($1, $2, $3, $4)",
        user_id,
        patch,
        expected_version,
        actor_id,
    )


async def deactivate_user(
    db: Executor,
    user_id: uuid.UUID,
    *,
    expected_version: int | None = None,
    actor_id: uuid.UUID | None = None,
) -> UserRow:
    return await _write(
        db, "accounts.deactivate_user($1, $2, $3)", user_id, actor_id, expected_version
    )


async def reactivate_user(
    db: Executor,
    user_id: uuid.UUID,
    *,
    expected_version: int | None = None,
    actor_id: uuid.UUID | None = None,
) -> UserRow:
    return await _write(
        db, "accounts.reactivate_user($1, $2, $3)", user_id, actor_id, expected_version
    )


async def delete_user(
    db: Executor,
    user_id: uuid.UUID,
    *,
    expected_version: int | None = None,
    actor_id: uuid.UUID | None = None,
) -> uuid.UUID:
    async with domain_errors():
        deleted: uuid.UUID = await db.fetchval(
            "SELECT accounts.delete_user($1, $2, $3)", user_id, expected_version, actor_id
        )
    return deleted
