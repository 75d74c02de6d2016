"""Groups: calls of the stored functions in sql/0004_groups.sql."""

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


@dataclass(frozen=True, slots=True)
class GroupRow:
    id: uuid.UUID
    slug: str
    name: str
    description: str
    version: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class CountedGroupRow(GroupRow):
    """A group with its member count (GROUPS_WITH_MEMBER_COUNTS)."""

    member_count: int


@dataclass(frozen=True, slots=True)
class GroupPage:
    rows: list[GroupRow]
    has_more: bool


# A group of a record whose first columns are its fields'.
_row = maker(GroupRow)


_TYPED_COLUMNS = (
    "id uuid, slug text, name text, description text, version int4, created_at timestamptz,"
    " updated_at timestamptz"
)
GROUPS_BY_IDS = batch_call("groups_by_ids($1)", _TYPED_COLUMNS, GroupRow, key="id", unique="id")
# A keyset page: first, last, the cursors' (key, id) after and before, the order
# and the search. Each row ends with has_more: whether a further row exists in
# the direction of travel.
GROUPS_PAGE = batch_call(
    "groups_page($1, $2, $3, $4, $5, $6, $7, $8)",
    _TYPED_COLUMNS + ", has_more bool",
    GroupRow,
    keyed=False,
    extras=1,
    unique="id",
)
# (group id, member count) of each group that has members.
MEMBER_COUNTS = batch_call(
    "group_member_counts($1)",
    "group_id uuid, member_count int8",
    tuple,
    key="group_id",
    unique="group_id",
)
# Groups with their member counts, 0 for none (sql/0022): a plan that reads both
# asks for this call instead of GROUPS_BY_IDS and MEMBER_COUNTS.
GROUPS_WITH_MEMBER_COUNTS = batch_call(
    "groups_with_member_counts_by_ids($1)",
    _TYPED_COLUMNS + ", member_count int8",
    CountedGroupRow,
    key="id",
    unique="id",
)


async def groups_by_ids(db: Executor, ids: list[uuid.UUID]) -> list[GroupRow]:
    rows: list[GroupRow] = await fetch_rows(db, GROUPS_BY_IDS, ids)
    return rows


async def group_by_slug(db: Executor, slug: str) -> GroupRow | None:
    record = await db.fetchrow("SELECT * FROM accounts.group_by_slug($1)", slug)
    return _row(record) if record else None


def groups_page_args(
    *,
    first: int | None = None,
    last: int | None = None,
    after: Cursor | None = None,
    before: Cursor | None = None,
    order: str = "created_at_asc",
    search: str | None = None,
) -> tuple[object, ...]:
    """GROUPS_PAGE's arguments; `after`/`before` are cursors as (sort key, id)."""
    return (first, last, *cursor_args(after, before), order, search)


def group_page(records: Sequence[Any], call: BatchCall = GROUPS_PAGE) -> GroupPage:
    """The page of the records of GROUPS_PAGE (or of a projection of it): has_more is
    their last column."""
    rows = list(map(call.row, records))
    return GroupPage(rows=rows, has_more=bool(records) and records[0][-1])


async def groups_page(
    db: Executor,
    *,
    first: int | None = None,
    last: int | None = None,
    after: Cursor | None = None,
    before: Cursor | None = None,
    order: str = "created_at_asc",
    search: str | None = None,
) -> GroupPage:
    arguments = groups_page_args(
        first=first, last=last, after=after, before=before, order=order, search=search
    )
    fetch = Fetch(GROUPS_PAGE, args=arguments)
    await fetch_all(db, [fetch])
    return group_page(fetch.records)


async def groups_count(db: Executor, search: str | None = None) -> int:
    count: int = await db.fetchval("SELECT accounts.groups_count($1)", search)
    return count


async def group_member_counts(db: Executor, ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    return dict(await fetch_rows(db, MEMBER_COUNTS, ids))


async def _write(db: Executor, call: str, *args: object) -> GroupRow:
    async with domain_errors():
        record = await db.fetchrow(f"SELECT * FROM {call}", *args)
    assert record is not None, call
    return _row(record)


async def create_group(
    db: Executor,
    slug: str,
    name: str,
    description: str | None = None,
    *,
    owner_id: uuid.UUID | None = None,
    actor_id: uuid.UUID | None = None,
) -> GroupRow:
    """Creates a group; `owner_id` joins it as owner in the same transaction."""
    return await _write(
        db,
        "accounts.create_group($1, $2, $3, $4, $5)",
        slug,
        name,
        description,
        owner_id,
        actor_id,
    )


async def update_group(
    db: Executor,
    group_id: uuid.UUID,
    *,
    slug: str | None = None,
    name: str | None = None,
    description: str | None = None,
    expected_version: int | None = None,
    actor_id: uuid.UUID | None = None,
) -> GroupRow:
    return await _write(
        db,
        "accounts.update_group($1, $2, $3, $4, $5, $6)",
        group_id,
        slug,
        name,
        description,
        expected_version,
        actor_id,
    )


async def delete_group(
    db: Executor,
    group_id: uuid.UUID,
    *,
    expected_version: int | None = None,
    actor_id: uuid.UUID | None = None,
) -> uuid.UUID:
    async with domain_errors():
        deleted: uuid.UUID = await db.fetchval(
            "SELECT accounts.delete_group($1, $2, $3)", group_id, expected_version, actor_id
        )
    return deleted
