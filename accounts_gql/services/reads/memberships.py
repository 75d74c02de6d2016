"""Reads of memberships: a user's memberships and groups, a membership's user and group."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable
from datetime import datetime
from operator import attrgetter
from typing import Any

from accounts_gql.core.ids import encode_time_cursor
from accounts_gql.repositories.groups import GroupRow
from accounts_gql.repositories.memberships import MembershipRow
from accounts_gql.repositories.users import UserRow
from accounts_gql.services.reads.contract import Read, Ready, Scope
from accounts_gql.services.reads.groups import GroupConnectionRow, GroupEdgeRow
from accounts_gql.services.reads.paging import (
    PageRequest,
    page_info,
    page_request,
    timestamp_cursors,
)


def users_memberships(scope: Scope, users: list[UserRow]) -> Awaitable[list[list[MembershipRow]]]:
    return scope.loaders.memberships.load_many([user.id for user in users])


def users_groups(
    scope: Scope,
    users: list[UserRow],
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> Awaitable[list[GroupConnectionRow]]:
    """A page of each user's groups, from the memberships loader (a user has few)."""
    request = timestamp_cursors(page_request(first, after, last, before))
    loading = scope.loaders.memberships.load_many([user.id for user in users])

    async def pages() -> list[GroupConnectionRow]:
        # Every user's page first, then their groups in one load (one batch).
        chosen = [_page_rows(rows, request) for rows in await loading]
        wanted = [row.group_id for rows, _ in chosen for row in rows]
        groups = iter(await scope.loaders.group.load_many(wanted))
        connections = []
        for rows, has_more in chosen:
            edges = [
                GroupEdgeRow(encode_time_cursor(row.joined_at, row.group_id), group)
                for row, group in zip(rows, groups, strict=False)  # groups: all pages
                if group is not None
            ]
            page = page_info(request, has_more, edges, attrgetter("cursor"))
            connections.append(GroupConnectionRow(edges=edges, page_info=page, search=None))
        return connections

    return pages()


def _page_rows(
    memberships: list[MembershipRow], request: PageRequest
) -> tuple[list[MembershipRow], bool]:
    """The memberships on the requested page, and whether more lie beyond it."""
    rows = [row for row in memberships if _within(row, request)]
    has_more = len(rows) > request.limit
    if request.backward:
        return (rows[-request.limit :] if request.limit else []), has_more
    return rows[: request.limit], has_more


def _within(row: MembershipRow, request: PageRequest) -> bool:
    position = (row.joined_at, row.group_id)
    if request.after is not None and position <= _bound(request.after):
        return False
    return not (request.before is not None and position >= _bound(request.before))


def _bound(cursor: tuple[str, uuid.UUID]) -> tuple[datetime, uuid.UUID]:
    return datetime.fromisoformat(cursor[0]), cursor[1]


def memberships_user(
    scope: Scope, memberships: list[MembershipRow]
) -> Awaitable[list[UserRow | None]]:
    return scope.loaders.user.load_many([row.user_id for row in memberships])


def memberships_group(
    scope: Scope, memberships: list[MembershipRow]
) -> Awaitable[list[GroupRow | None]]:
    return scope.loaders.group.load_many([row.group_id for row in memberships])


def memberships_added_by(
    scope: Scope, memberships: list[MembershipRow]
) -> Awaitable[list[UserRow | None]]:
    """Who added each member (None once that user is deleted)."""
    adders = [row.added_by for row in memberships]
    known = [adder for adder in adders if adder is not None]
    if not known:
        return Ready([None] * len(adders))
    loading = scope.loaders.user.load_many(known)

    async def added_by() -> list[Any]:
        found = iter(await loading)
        return [None if adder is None else next(found) for adder in adders]

    return added_by()


USER_MEMBERSHIPS = Read(
    "User",
    "memberships",
    users_memberships,
    rows=("memberships",),
    key=("memberships", "id"),
    uses=("id",),
)
USER_GROUPS = Read(
    "User",
    "groups",
    users_groups,
    rows=("group",),
    key=("memberships", "id"),
    links=(("memberships", "group", "group_id"),),
    uses=("id",),
)
MEMBERSHIP_USER = Read(
    "Membership",
    "user",
    memberships_user,
    rows=("user",),
    key=("user", "user_id"),
    uses=("user_id",),
)
MEMBERSHIP_GROUP = Read(
    "Membership",
    "group",
    memberships_group,
    rows=("group",),
    key=("group", "group_id"),
    uses=("group_id",),
)
MEMBERSHIP_ADDED_BY = Read(
    "Membership",
    "addedBy",
    memberships_added_by,
    rows=("user",),
    key=("user", "added_by"),
    uses=("added_by",),
)
