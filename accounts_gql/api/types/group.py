"""Group: its GraphQL type, loaders, connections, queries and mutations."""

from __future__ import annotations

import enum
import re
import uuid
from collections import defaultdict
from collections.abc import Awaitable
from datetime import datetime
from operator import attrgetter
from typing import Annotated, Any

import strawberry
from graphql import GraphQLError

from accounts_gql.api.cache import replace
from accounts_gql.api.context import Context
from accounts_gql.api.errors import (
    Forbidden,
    NotFound,
    SlugTaken,
    ValidationError,
    VersionConflict,
)
from accounts_gql.api.ids import decode_id, encode_cursor, encode_id, encode_time_cursor
from accounts_gql.api.mutations import input_id, payload
from accounts_gql.api.pagination import (
    PageInfo,
    PageRequest,
    keyed_cursors,
    page_info,
    page_request,
    timestamp_cursors,
)
from accounts_gql.api.types.membership import (
    MemberConnection,
    MemberPageKey,
    MembershipRole,
    member_connection,
)
from accounts_gql.api.types.node import Node
from accounts_gql.db.pool import Executor
from accounts_gql.repositories import groups as repository
from accounts_gql.repositories.groups import GroupRow
from accounts_gql.services import groups as service

Info = strawberry.Info[Context, None]


async def load_groups(db: Executor, ids: list[uuid.UUID]) -> list[GroupRow | None]:
    rows = {row.id: row for row in await repository.groups_by_ids(db, ids)}
    return [rows.get(key) for key in ids]


async def load_member_counts(db: Executor, ids: list[uuid.UUID]) -> list[int]:
    counts: defaultdict[uuid.UUID, int] = defaultdict(int)
    counts.update(await repository.group_member_counts(db, ids))
    return [counts[key] for key in ids]


# Fields of many groups at once (see users_contacts in api/types/user.py).


def groups_member_count(ctx: Context, groups: list[GroupRow]) -> Awaitable[list[int]]:
    return ctx.loaders.member_count.load_many([group.id for group in groups])


def groups_members(
    ctx: Context,
    groups: list[GroupRow],
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
    role: MembershipRole | None = None,
) -> Awaitable[list[MemberConnection]]:
    """Each group's page of members: one statement for all groups (load_member_pages)."""
    request = timestamp_cursors(page_request(first, after, last, before))
    role_value = role.value if role else None
    keys = [MemberPageKey(group.id, request, role_value) for group in groups]
    loading = ctx.loaders.member_page.load_many(keys)

    async def connections() -> list[MemberConnection]:
        return [member_connection(request, page) for page in await loading]

    return connections()


@strawberry.enum
class GroupOrder(enum.Enum):
    CREATED_AT_ASC = "created_at_asc"
    CREATED_AT_DESC = "created_at_desc"
    SLUG_ASC = "slug_asc"
    SLUG_DESC = "slug_desc"


@strawberry.type(name="Group", description="A named set of users with roles.")
class Group(Node):
    slug: str
    name: str
    description: str
    version: int
    created_at: datetime
    updated_at: datetime

    @strawberry.field
    def id(root: strawberry.Parent[GroupRow]) -> strawberry.ID:
        return strawberry.ID(encode_id("Group", root.id))

    @strawberry.field
    async def member_count(root: strawberry.Parent[GroupRow], info: Info) -> int:
        return (await groups_member_count(info.context, [root]))[0]

    @strawberry.field(description="The group's members, in the order they joined.")
    async def members(
        root: strawberry.Parent[GroupRow],
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        role: MembershipRole | None = None,
    ) -> MemberConnection:
        return (await groups_members(info.context, [root], first, after, last, before, role))[0]

    @classmethod
    def is_type_of(cls, obj: Any, info: Any) -> bool:
        return isinstance(obj, GroupRow)


# A slug cursor's key: a slug (sql/0004_groups.sql).
SLUG_KEY = re.compile(r"[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?")


def group_cursor(row: GroupRow, order: GroupOrder) -> str:
    if order in (GroupOrder.SLUG_ASC, GroupOrder.SLUG_DESC):
        return encode_cursor(row.slug, row.id)
    return encode_time_cursor(row.created_at, row.id)


@strawberry.type
class GroupEdge:
    cursor: str
    node: Group


@strawberry.type
class GroupConnection:
    edges: list[GroupEdge]
    page_info: PageInfo
    _search: strawberry.Private[str | None]

    @strawberry.field
    def nodes(self) -> list[Group]:
        return [edge.node for edge in self.edges]

    @strawberry.field(description="How many groups match, over all pages.")
    async def total_count(self, info: Info) -> int:
        return await repository.groups_count(info.context.loaders.db, self._search)


async def groups_connection(
    info: Info, request: PageRequest, search: str | None, order: GroupOrder
) -> GroupConnection:
    ctx = info.context
    page = await service.groups_page(
        ctx.loaders.db,
        ctx.viewer,
        first=request.first,
        last=request.last,
        after=request.after,
        before=request.before,
        order=order.value,
        search=search,
    )
    for row in page.rows:
        ctx.loaders.group.prime(row.id, row)
    edges = [GroupEdge(cursor=group_cursor(row, order), node=row) for row in page.rows]
    return GroupConnection(
        edges=edges,
        page_info=page_info(request, page.has_more, edges, attrgetter("cursor")),
        _search=search,
    )


def query_group(
    ctx: Context, roots: list[Any], id: str | None = None, slug: str | None = None
) -> Awaitable[list[GroupRow | None]]:
    """`group(id:, slug:)` for each root (a query has one); see query_user."""
    service.require_reader(ctx.viewer)
    if (id is None) == (slug is None):
        raise GraphQLError(
            "Pass exactly one of 'id' and 'slug'.", extensions={"code": "BAD_USER_INPUT"}
        )
    if id is not None:
        return ctx.loaders.group.load_many([decode_id(id, "Group")] * len(roots))
    assert slug is not None
    return _groups_by_slug(ctx.loaders.db, slug, len(roots))


async def _groups_by_slug(db: Executor, slug: str, count: int) -> list[GroupRow | None]:
    return [await repository.group_by_slug(db, slug)] * count


@strawberry.type
class GroupQueries:
    @strawberry.field(description="A group by global id or by slug.")
    async def group(
        self, info: Info, id: strawberry.ID | None = None, slug: str | None = None
    ) -> Group | None:
        return (await query_group(info.context, [self], id, slug))[0]

    @strawberry.field(description="Groups, a page at a time (keyset pagination).")
    async def groups(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        search: str | None = None,
        order_by: GroupOrder = GroupOrder.CREATED_AT_ASC,
    ) -> GroupConnection:
        service.require_reader(info.context.viewer)  # before any input error
        request = page_request(first, after, last, before)
        if order_by in (GroupOrder.CREATED_AT_ASC, GroupOrder.CREATED_AT_DESC):
            timestamp_cursors(request)
        else:
            keyed_cursors(request, SLUG_KEY)
        return await groups_connection(info, request, search, order_by)


# Mutations -----------------------------------------------------------------


@strawberry.input
class CreateGroupInput:
    slug: str = strawberry.field(description="Lower-case letters, digits and '-'.")
    name: str
    description: str = ""


@strawberry.input
class UpdateGroupInput:
    id: strawberry.ID
    slug: str | None = None
    name: str | None = None
    description: str | None = None
    expected_version: int | None = None


@strawberry.input
class DeleteGroupInput:
    id: strawberry.ID
    expected_version: int | None = None


@strawberry.type
class GroupPayloadSuccess:
    group: Group


@strawberry.type
class DeleteGroupSuccess:
    deleted_group_id: strawberry.ID


CreateGroupPayload = Annotated[
    GroupPayloadSuccess | ValidationError | SlugTaken | Forbidden,
    strawberry.union("CreateGroupPayload"),
]
UpdateGroupPayload = Annotated[
    GroupPayloadSuccess | ValidationError | SlugTaken | NotFound | VersionConflict | Forbidden,
    strawberry.union("UpdateGroupPayload"),
]
DeleteGroupPayload = Annotated[
    DeleteGroupSuccess | ValidationError | NotFound | VersionConflict | Forbidden,
    strawberry.union("DeleteGroupPayload"),
]


def _group_success(info: Info) -> Any:
    def success(row: GroupRow) -> GroupPayloadSuccess:
        loaders = info.context.loaders
        replace(loaders.group, row.id, row)
        loaders.member_count.clear(row.id)
        return GroupPayloadSuccess(group=row)

    return success


@strawberry.type
class GroupMutations:
    @strawberry.mutation(description="Creates a group; its creator becomes its owner.")
    async def create_group(self, info: Info, input: CreateGroupInput) -> CreateGroupPayload:
        ctx = info.context
        return await payload(
            lambda: service.create_group(
                ctx.db.write,
                ctx.viewer,
                slug=input.slug,
                name=input.name,
                description=input.description,
            ),
            _group_success(info),
        )

    @strawberry.mutation(description="Changes a group (its managers and owners, or an admin).")
    async def update_group(self, info: Info, input: UpdateGroupInput) -> UpdateGroupPayload:
        ctx = info.context
        return await payload(
            lambda: service.update_group(
                ctx.db.write,
                ctx.viewer,
                input_id(input.id, "Group", "id"),
                slug=input.slug,
                name=input.name,
                description=input.description,
                expected_version=input.expected_version,
            ),
            _group_success(info),
        )

    @strawberry.mutation(description="Deletes a group and its memberships (owners or an admin).")
    async def delete_group(self, info: Info, input: DeleteGroupInput) -> DeleteGroupPayload:
        ctx = info.context

        def success(group_id: uuid.UUID) -> DeleteGroupSuccess:
            ctx.loaders.group.clear(group_id)
            return DeleteGroupSuccess(deleted_group_id=strawberry.ID(encode_id("Group", group_id)))

        return await payload(
            lambda: service.delete_group(
                ctx.db.write,
                ctx.viewer,
                input_id(input.id, "Group", "id"),
                expected_version=input.expected_version,
            ),
            success,
        )
