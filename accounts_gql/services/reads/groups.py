"""Reads of groups: `group`, `groups`, and the fields of Group that need data."""

from __future__ import annotations

import re
from collections.abc import Awaitable
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

from graphql import GraphQLError

from accounts_gql.core.ids import decode_id, encode_cursor, encode_time_cursor
from accounts_gql.db.pool import Executor
from accounts_gql.repositories import groups as repository
from accounts_gql.repositories.groups import GroupRow
from accounts_gql.repositories.memberships import MemberPage, MembershipRow
from accounts_gql.services.bounds import check_search
from accounts_gql.services.reads.contract import Read, Scope
from accounts_gql.services.reads.paging import (
    PageInfo,
    PageRequest,
    keyed_cursors,
    page_info,
    page_request,
    timestamp_cursors,
)
from accounts_gql.services.reads.sources import MemberPageKey, PageKey, PageShape

# A slug cursor's key: a slug (sql/0004_groups.sql).
SLUG_KEY = re.compile(r"[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?")
TIME_ORDERS = frozenset({"created_at_asc", "created_at_desc"})


def group_cursor(row: GroupRow, order: str) -> str:
    if order in TIME_ORDERS:
        return encode_time_cursor(row.created_at, row.id)
    return encode_cursor(row.slug, row.id)


@dataclass(frozen=True, slots=True)
class GroupEdgeRow:
    cursor: str
    node: GroupRow


@dataclass(frozen=True, slots=True)
class GroupConnectionRow:
    edges: list[GroupEdgeRow]
    page_info: PageInfo
    search: str | None  # for totalCount

    @property
    def nodes(self) -> list[GroupRow]:
        return [edge.node for edge in self.edges]


def member_cursor(row: MembershipRow) -> str:
    return encode_time_cursor(row.joined_at, row.user_id)


@dataclass(frozen=True, slots=True)
class MemberConnectionRow:
    """A page of members; each membership row stands for its edge too (no object
    per member, PRODUCT §8)."""

    edges: list[MembershipRow]
    page_info: PageInfo

    @property
    def nodes(self) -> list[MembershipRow]:
        return list(self.edges)


def member_connection(request: PageRequest, page: MemberPage) -> MemberConnectionRow:
    return MemberConnectionRow(
        edges=page.rows, page_info=page_info(request, page.has_more, page.rows, member_cursor)
    )


def group(
    scope: Scope, roots: list[Any], id: str | None = None, slug: str | None = None
) -> Awaitable[list[GroupRow | None]]:
    """`group(id:, slug:)` for each root (a query has one)."""
    if (id is None) == (slug is None):
        raise GraphQLError(
            "Pass exactly one of 'id' and 'slug'.", extensions={"code": "BAD_USER_INPUT"}
        )
    if id is not None:
        return scope.loaders.group.load_many([decode_id(id, "Group")] * len(roots))
    assert slug is not None
    return _groups_by_slug(scope.loaders.db, slug, len(roots))


async def _groups_by_slug(db: Executor, slug: str, count: int) -> list[GroupRow | None]:
    return [await repository.group_by_slug(db, slug)] * count


def groups(
    scope: Scope,
    roots: list[Any],
    *,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
    search: str | None = None,
    order: str = "created_at_asc",
) -> Awaitable[list[GroupConnectionRow]]:
    """A page of groups (keyset pagination), from the groups_page loader (so that the
    loads below its rows come in its statement); its rows primed in the group loader."""
    request = page_request(first, after, last, before)
    if order in TIME_ORDERS:
        timestamp_cursors(request)
    else:
        keyed_cursors(request, SLUG_KEY)
    check_search(search, "search")

    arguments = repository.groups_page_args(
        first=request.first,
        last=request.last,
        after=request.after,
        before=request.before,
        order=order,
        search=search,
    )
    loading = scope.loaders.groups_page.load(PageKey(arguments))

    async def page() -> list[GroupConnectionRow]:
        found = await loading
        scope.loaders.group.prime_many([row.id for row in found.rows], found.rows)
        edges = [GroupEdgeRow(group_cursor(row, order), row) for row in found.rows]
        connection = GroupConnectionRow(
            edges=edges,
            page_info=page_info(request, found.has_more, edges, attrgetter("cursor")),
            search=search,
        )
        return [connection] * len(roots)

    return page()


async def groups_total_count(scope: Scope, connections: list[GroupConnectionRow]) -> list[int]:
    db = scope.loaders.db
    return [await repository.groups_count(db, connection.search) for connection in connections]


def groups_member_count(scope: Scope, groups: list[GroupRow]) -> Awaitable[list[int]]:
    return scope.loaders.member_count.load_many([group.id for group in groups])


def member_page_shape(
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
    role: str | None = None,
) -> PageShape:
    """The page `members(...)` asks each group for, less the group."""
    return timestamp_cursors(page_request(first, after, last, before)), role


def groups_members(
    scope: Scope,
    groups: list[GroupRow],
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
    role: str | None = None,
) -> Awaitable[list[MemberConnectionRow]]:
    """Each group's page of members: one statement for all groups (load_member_pages)."""
    request, role = member_page_shape(first, after, last, before, role)
    keys = [MemberPageKey(group.id, request, role) for group in groups]
    loading = scope.loaders.member_page.load_many(keys)

    async def connections() -> list[MemberConnectionRow]:
        return [member_connection(request, page) for page in await loading]

    return connections()


GROUP = Read("Query", "group", group, rows=("group",))
# A page's cursors read these (group_cursor), its edges' and its pageInfo's.
GROUPS = Read("Query", "groups", groups, rows=("groups_page",), reads=("id", "created_at", "slug"))
GROUPS_TOTAL_COUNT = Read("GroupConnection", "totalCount", groups_total_count)
GROUP_MEMBER_COUNT = Read(
    "Group", "memberCount", groups_member_count, key=("member_count", "id"), uses=("id",)
)
GROUP_MEMBERS = Read(
    "Group",
    "members",
    groups_members,
    rows=("member_page",),
    key=("member_page", "id"),
    shape=member_page_shape,
    uses=("id",),
)
