"""Memberships: calls of the stored functions in sql/0004_groups.sql (member pages:
sql/0020_member_pages_with_next.sql)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

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
class MembershipWithGroupRow(MembershipRow):
    """A membership with its group's columns (MEMBERSHIPS_WITH_GROUPS)."""

    group_slug: str
    group_name: str
    group_description: str
    group_version: int
    group_created_at: datetime
    group_updated_at: datetime


@dataclass(frozen=True, slots=True)
class MemberPage:
    """A group's page of members, in page order; whether more lie beyond it in
    the page's direction."""

    rows: list[MembershipRow]
    has_more: bool


EMPTY_PAGE = MemberPage([], False)

_row = maker(MembershipRow)
# The membership of a member page's record (group_id, user_id, role, …).
_page_membership = maker(MembershipRow, (1, 0, 2, 3, 4))


MEMBERSHIPS_BY_USER_IDS = batch_call(
    "memberships_by_user_ids($1)",
    "user_id uuid, group_id uuid, role text, joined_at timestamptz, added_by uuid",
    MembershipRow,
    key="user_id",
)
# The same with each membership's group (sql/0024): a plan that reads both asks
# for this call instead of MEMBERSHIPS_BY_USER_IDS and the groups' GROUPS_BY_IDS.
MEMBERSHIPS_WITH_GROUPS = batch_call(
    "memberships_with_groups_by_user_ids($1)",
    "user_id uuid, group_id uuid, role text, joined_at timestamptz, added_by uuid,"
    " group_slug text, group_name text, group_description text, group_version int4,"
    " group_created_at timestamptz, group_updated_at timestamptz",
    MembershipWithGroupRow,
    key="user_id",
)
# A page of members for each group ($1) and the row beyond it (sql/0020), in one
# statement: the size, whether backward, the cursors' (key, id) after and
# before, role. `pages` makes the pages of its rows.
MEMBER_PAGES = batch_call(
    "member_pages_with_next($1, $2, $3, $4, $5, $6, $7, $8)",
    "group_id uuid, user_id uuid, role text, joined_at timestamptz, added_by uuid",
    _page_membership,
    key="group_id",
)


async def memberships_by_user_ids(db: Executor, user_ids: list[uuid.UUID]) -> list[MembershipRow]:
    rows: list[MembershipRow] = await fetch_rows(db, MEMBERSHIPS_BY_USER_IDS, user_ids)
    return rows


def member_page_args(
    size: int,
    *,
    backward: bool = False,
    after: Cursor | None = None,
    before: Cursor | None = None,
    role: str | None = None,
) -> tuple[object, ...]:
    """MEMBER_PAGES' arguments after the group ids."""
    return (size, backward, *cursor_args(after, before), role)


def pages(rows: list[MembershipRow], size: int, backward: bool) -> dict[uuid.UUID, MemberPage]:
    """The page of each group that has members in range, of MEMBER_PAGES' rows: each
    group's rows come together in the page's direction, one more than `size` when
    there is more (sql/0020)."""
    grouped: dict[uuid.UUID, list[MembershipRow]] = {}
    for row in rows:
        found = grouped.get(row.group_id)
        if found is None:
            grouped[row.group_id] = [row]
        else:
            found.append(row)
    found_pages = {}
    for group_id, found in grouped.items():
        # A page of none says nothing lies beyond it, as users' and groups' pages
        # of none do (their statements return no rows to tell it by).
        more = size > 0 and len(found) > size
        del found[size:]
        if backward:
            found.reverse()
        found_pages[group_id] = MemberPage(found, more)
    return found_pages


async def member_pages(
    db: Executor,
    group_ids: list[uuid.UUID],
    size: int,
    *,
    backward: bool = False,
    after: Cursor | None = None,
    before: Cursor | None = None,
    role: str | None = None,
) -> dict[uuid.UUID, MemberPage]:
    """A page of `size` members of each group, in one statement (groups with none
    in range are left out)."""
    arguments = member_page_args(size, backward=backward, after=after, before=before, role=role)
    rows: list[MembershipRow] = await fetch_rows(db, MEMBER_PAGES, group_ids, *arguments)
    return pages(rows, size, backward)


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
