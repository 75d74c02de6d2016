"""Membership: a user's role in a group; member pages; membership mutations."""

from __future__ import annotations

import enum
import uuid
from collections import defaultdict
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from accounts_gql.api.context import Context
from accounts_gql.api.errors import (
    AlreadyMember,
    Forbidden,
    InvalidState,
    NotFound,
    ValidationError,
)
from accounts_gql.api.ids import encode_time_cursor
from accounts_gql.api.mutations import input_id, payload
from accounts_gql.api.pagination import PageInfo, PageRequest, page_info
from accounts_gql.db.pool import Executor
from accounts_gql.repositories import memberships as repository
from accounts_gql.repositories.groups import GroupRow
from accounts_gql.repositories.memberships import MembershipRow
from accounts_gql.repositories.users import UserRow
from accounts_gql.services import memberships as service

if TYPE_CHECKING:
    from accounts_gql.api.types.group import Group, GroupConnection
    from accounts_gql.api.types.user import User

Info = strawberry.Info[Context, None]
_GROUP = "accounts_gql.api.types.group"
_USER = "accounts_gql.api.types.user"


@strawberry.enum
class MembershipRole(enum.Enum):
    MEMBER = "member"
    MANAGER = "manager"
    OWNER = "owner"


# Role by stored value: a dict lookup, cheaper than the Enum call per row.
_ROLES = {role.value: role for role in MembershipRole}


@dataclass(frozen=True, slots=True)
class MemberPageKey:
    """One group's page of members, as asked for by one `members(...)` field."""

    group_id: uuid.UUID
    request: PageRequest
    role: str | None


@dataclass(frozen=True, slots=True)
class MemberPage:
    rows: list[MembershipRow]
    has_more: bool


async def load_memberships_by_user(
    db: Executor, user_ids: list[uuid.UUID]
) -> list[list[MembershipRow]]:
    by_user: defaultdict[uuid.UUID, list[MembershipRow]] = defaultdict(list)
    for row in await repository.memberships_by_user_ids(db, user_ids):
        by_user[row.user_id].append(row)
    return [by_user.get(key, []) for key in user_ids]


async def load_member_pages(db: Executor, keys: list[MemberPageKey]) -> list[MemberPage]:
    """One statement per distinct page shape, however many groups ask for it."""
    shapes: defaultdict[tuple[PageRequest, str | None], list[uuid.UUID]] = defaultdict(list)
    for key in keys:
        shapes[(key.request, key.role)].append(key.group_id)
    pages: dict[MemberPageKey, MemberPage] = {}
    for (request, role), group_ids in shapes.items():
        rows = await repository.member_pages(
            db,
            group_ids,
            first=request.first,
            last=request.last,
            after=request.after,
            before=request.before,
            role=role,
        )
        by_group: defaultdict[uuid.UUID, list[MembershipRow]] = defaultdict(list)
        more: set[uuid.UUID] = set()
        for row in rows:
            by_group[row.group_id].append(row.membership)
            if row.has_more:
                more.add(row.group_id)
        for group_id in group_ids:
            key = MemberPageKey(group_id, request, role)
            pages[key] = MemberPage(by_group.get(group_id, []), group_id in more)
    return [pages[key] for key in keys]


# Fields of many memberships at once (see users_contacts in api/types/user.py).


def memberships_user(
    ctx: Context, memberships: list[MembershipRow]
) -> Awaitable[list[UserRow | None]]:
    return ctx.loaders.user.load_many([row.user_id for row in memberships])


def memberships_group(
    ctx: Context, memberships: list[MembershipRow]
) -> Awaitable[list[GroupRow | None]]:
    return ctx.loaders.group.load_many([row.group_id for row in memberships])


@strawberry.type(name="Membership", description="A user's role in a group.")
class Membership:
    joined_at: datetime

    @strawberry.field
    def role(root: strawberry.Parent[MembershipRow]) -> MembershipRole:
        return _ROLES[root.role]

    @strawberry.field
    async def user(
        root: strawberry.Parent[MembershipRow], info: Info
    ) -> Annotated[User, strawberry.lazy(_USER)]:
        return (await memberships_user(info.context, [root]))[0]

    @strawberry.field
    async def group(
        root: strawberry.Parent[MembershipRow], info: Info
    ) -> Annotated[Group, strawberry.lazy(_GROUP)]:
        return (await memberships_group(info.context, [root]))[0]

    @strawberry.field(description="Who added the member (null once that user is deleted).")
    async def added_by(
        root: strawberry.Parent[MembershipRow], info: Info
    ) -> Annotated[User, strawberry.lazy(_USER)] | None:
        if root.added_by is None:
            return None
        return await info.context.loaders.user.load(root.added_by)

    @classmethod
    def is_type_of(cls, obj: Any, info: Any) -> bool:
        return isinstance(obj, MembershipRow)


def membership_cursor(row: MembershipRow, entity_id: uuid.UUID) -> str:
    return encode_time_cursor(row.joined_at, entity_id)


@strawberry.type
class MemberEdge:
    """The membership row stands for its edge too: no object per member (PRODUCT §8)."""

    @strawberry.field
    def node(root: strawberry.Parent[MembershipRow]) -> Membership:
        return root

    @strawberry.field
    def cursor(root: strawberry.Parent[MembershipRow]) -> str:
        return member_cursor(root)


@strawberry.type
class MemberConnection:
    edges: list[MemberEdge]  # the membership rows (see MemberEdge)
    page_info: PageInfo

    @strawberry.field
    def nodes(self) -> list[Membership]:
        return list(self.edges)


def member_cursor(row: MembershipRow) -> str:
    return encode_time_cursor(row.joined_at, row.user_id)


def member_connection(request: PageRequest, page: MemberPage) -> MemberConnection:
    return MemberConnection(
        edges=page.rows,
        page_info=page_info(request, page.has_more, page.rows, member_cursor),
    )


async def groups_of_user(info: Info, user_id: uuid.UUID, request: PageRequest) -> GroupConnection:
    """A page of a user's groups, from the memberships loader (a user has few groups)."""
    from accounts_gql.api.types.group import GroupConnection, GroupEdge

    memberships: list[MembershipRow] = await info.context.loaders.memberships.load(user_id)
    rows = [row for row in memberships if _within(row, request)]
    if request.backward:
        has_more = len(rows) > request.limit
        rows = rows[-request.limit :] if request.limit else []
    else:
        has_more = len(rows) > request.limit
        rows = rows[: request.limit]
    groups = await info.context.loaders.group.load_many([row.group_id for row in rows])
    edges = [
        GroupEdge(cursor=membership_cursor(row, row.group_id), node=group)
        for row, group in zip(rows, groups, strict=True)
        if group is not None
    ]
    page = page_info(request, has_more, edges, attrgetter("cursor"))
    return GroupConnection(edges=edges, page_info=page, _search=None)


def _within(row: MembershipRow, request: PageRequest) -> bool:
    position = (row.joined_at, row.group_id)
    if request.after is not None and position <= _bound(request.after):
        return False
    return not (request.before is not None and position >= _bound(request.before))


def _bound(cursor: tuple[str, uuid.UUID]) -> tuple[datetime, uuid.UUID]:
    return datetime.fromisoformat(cursor[0]), cursor[1]


# Mutations -----------------------------------------------------------------


@strawberry.input
class AddGroupMemberInput:
    group_id: strawberry.ID
    user_id: strawberry.ID
    role: MembershipRole = MembershipRole.MEMBER


@strawberry.input
class ChangeMemberRoleInput:
    group_id: strawberry.ID
    user_id: strawberry.ID
    role: MembershipRole


@strawberry.input
class RemoveGroupMemberInput:
    group_id: strawberry.ID
    user_id: strawberry.ID


@strawberry.type
class MembershipPayloadSuccess:
    membership: Membership


@strawberry.type
class RemoveGroupMemberSuccess:
    group: Annotated[Group, strawberry.lazy(_GROUP)]
    user: Annotated[User, strawberry.lazy(_USER)]


_MembershipErrors = NotFound | ValidationError | InvalidState | Forbidden
AddGroupMemberPayload = Annotated[
    MembershipPayloadSuccess | _MembershipErrors | AlreadyMember,
    strawberry.union("AddGroupMemberPayload"),
]
ChangeMemberRolePayload = Annotated[
    MembershipPayloadSuccess | _MembershipErrors, strawberry.union("ChangeMemberRolePayload")
]
RemoveGroupMemberPayload = Annotated[
    RemoveGroupMemberSuccess | _MembershipErrors, strawberry.union("RemoveGroupMemberPayload")
]


def _forget(info: Info, group_id: uuid.UUID, user_id: uuid.UUID) -> None:
    loaders = info.context.loaders
    loaders.memberships.clear(user_id)
    loaders.member_count.clear(group_id)
    loaders.member_page.clear_all()


@strawberry.type
class MembershipMutations:
    @strawberry.mutation(description="Adds a user to a group (its managers and owners).")
    async def add_group_member(
        self, info: Info, input: AddGroupMemberInput
    ) -> AddGroupMemberPayload:
        ctx = info.context

        def success(row: MembershipRow) -> MembershipPayloadSuccess:
            _forget(info, row.group_id, row.user_id)
            return MembershipPayloadSuccess(membership=row)

        return await payload(
            lambda: service.add_group_member(
                ctx.db.write,
                ctx.viewer,
                group_id=input_id(input.group_id, "Group", "groupId"),
                user_id=input_id(input.user_id, "User", "userId"),
                role=input.role.value,
            ),
            success,
        )

    @strawberry.mutation(description="Changes a member's role; only owners grant ownership.")
    async def change_member_role(
        self, info: Info, input: ChangeMemberRoleInput
    ) -> ChangeMemberRolePayload:
        ctx = info.context

        def success(row: MembershipRow) -> MembershipPayloadSuccess:
            _forget(info, row.group_id, row.user_id)
            return MembershipPayloadSuccess(membership=row)

        return await payload(
            lambda: service.change_member_role(
                ctx.db.write,
                ctx.viewer,
                group_id=input_id(input.group_id, "Group", "groupId"),
                user_id=input_id(input.user_id, "User", "userId"),
                role=input.role.value,
            ),
            success,
        )

    @strawberry.mutation(description="Removes a member (managers, owners, or the member).")
    async def remove_group_member(
        self, info: Info, input: RemoveGroupMemberInput
    ) -> RemoveGroupMemberPayload:
        ctx = info.context

        async def remove() -> RemoveGroupMemberSuccess:
            row = await service.remove_group_member(
                ctx.db.write,
                ctx.viewer,
                group_id=input_id(input.group_id, "Group", "groupId"),
                user_id=input_id(input.user_id, "User", "userId"),
            )
            _forget(info, row.group_id, row.user_id)
            group = await ctx.loaders.group.load(row.group_id)
            user = await ctx.loaders.user.load(row.user_id)
            return RemoveGroupMemberSuccess(group=group, user=user)

        return await payload(remove, lambda success: success)
