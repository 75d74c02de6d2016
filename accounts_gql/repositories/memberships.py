"""Memberships: calls of the stored functions in sql/0004_groups.sql."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from accounts_gql.db.pool import Executor
from accounts_gql.repositories.batches import batch_call, fetch_rows
from accounts_gql.repositories.errors import domain_errors
from accounts_gql.repositories.pages import Cursor, cursor_args
from accounts_gql.repositories.rows import maker


@dataclass(frozen=True, slots=True)
class MembershipRow:
    user_id: uuid.UUID
    group_id: uuid.UUID
    role: str
    joined_at: datetime
    added_by: uuid.UUID | None


@dataclass(frozen=True, slots=True)
class MemberPageRow:
    """One row of a group's member page; has_more is per group."""

    group_id: uuid.UUID
    membership: MembershipRow
    has_more: bool


_row = maker(MembershipRow)
# The membership of a member page's record (group_id, user_id, role, …).
_page_membership = maker(MembershipRow, (1, 0, 2, 3, 4))


def _page_row(record: Any) -> MemberPageRow:
    return MemberPageRow(record[0], _page_membership(record), record[5])


MEMBERSHIPS_BY_USER_IDS = batch_call(
    "memberships_by_user_ids($1)",
    "user_id uuid, group_id uuid, role text, joined_at timestamptz, added_by uuid",
    MembershipRow,
)
# A page of members for each group ($1), in one statement: first, last, the
# cursors' (key, id) after and before, role.
MEMBER_PAGES = batch_call(
    "member_pages($1, $2, $3, $4, $5, $6, $7, $8)",
    "group_id uuid, user_id uuid, role text, joined_at timestamptz, added_by uuid, has_more bool",
    _page_row,
)


async def memberships_by_user_ids(db: Executor, user_ids: list[uuid.UUID]) -> list[MembershipRow]:
    rows: list[MembershipRow] = await fetch_rows(db, MEMBERSHIPS_BY_USER_IDS, user_ids)
    return rows


def member_page_args(
    *,
    first: int | None = None,
    last: int | None = None,
    after: Cursor | None = None,
    before: Cursor | None = None,
    role: str | None = None,
) -> tuple[object, ...]:
    """MEMBER_PAGES' arguments after the group ids."""
    return (first, last, *cursor_args(after, before), role)


async def member_pages(
    db: Executor,
    group_ids: list[uuid.UUID],
    *,
    first: int | None = None,
    last: int | None = None,
    after: Cursor | None = None,
    before: Cursor | None = None,
    role: str | None = None,
) -> list[MemberPageRow]:
    """A page of members for each group, in one statement."""
    arguments = member_page_args(first=first, last=last, after=after, before=before, role=role)
    rows: list[MemberPageRow] = await fetch_rows(db, MEMBER_PAGES, group_ids, *arguments)
    return rows


async def _write(db: Executor, call: str, *args: object) -> MembershipRow:
    async with domain_errors():
        record = await db.fetchrow(f"SELECT * FROM {call}", *args)
    assert record is not None, call
    return _row(record)


async def add_group_member(
    db: Executor,
    group_id: uuid.UUID,
    user_id: uuid.UUID,
    role: str = "member",
    *,
    actor_id: uuid.UUID | None = None,
) -> MembershipRow:
    return await _write(
        db, "accounts.add_group_member($1, $2, $3, $4)", group_id, user_id, role, actor_id
    )


async def change_member_role(
    db: Executor,
    group_id: uuid.UUID,
    user_id: uuid.UUID,
    role: str,
    *,
    actor_id: uuid.UUID | None = None,
) -> MembershipRow:
    return await _write(
        db, "accounts.change_member_role($1, $2, $3, $4)", group_id, user_id, role, actor_id
    )


async def remove_group_member(
    db: Executor, group_id: uuid.UUID, user_id: uuid.UUID, *, actor_id: uuid.UUID | None = None
) -> MembershipRow:
    return await _write(db, "accounts.remove_group_member($1, $2, $3)", group_id, user_id, actor_id)
