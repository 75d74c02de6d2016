"""User: its GraphQL type, loaders, connection, queries and mutations."""

from __future__ import annotations

import enum
import re
import uuid
from collections.abc import Awaitable
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from graphql import GraphQLError
from strawberry.scalars import JSON

from accounts_gql.api.cache import replace
from accounts_gql.api.context import Context
from accounts_gql.api.errors import (
    Forbidden,
    InvalidState,
    NotFound,
    UsernameTaken,
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
from accounts_gql.api.types.contact import Contact
from accounts_gql.api.types.node import Node
from accounts_gql.api.types.session import Session, users_sessions
from accounts_gql.db.pool import Executor
from accounts_gql.repositories import users as repository
from accounts_gql.repositories.contacts import ContactRow
from accounts_gql.repositories.memberships import MembershipRow
from accounts_gql.repositories.users import UserRow
from accounts_gql.services import users as service
from accounts_gql.services.authorization import can_see_private

if TYPE_CHECKING:
    from accounts_gql.api.types.group import GroupConnection
    from accounts_gql.api.types.membership import Membership

Info = strawberry.Info[Context, None]


async def load_users(db: Executor, ids: list[uuid.UUID]) -> list[UserRow | None]:
    rows = {row.id: row for row in await repository.users_by_ids(db, ids)}
    return [rows.get(key) for key in ids]


# Fields of many users at once: the resolvers below call these with one user,
# execution plans (api/plans.py) with every user of a level. Each asks its
# dataloader before it returns, so loads of one level share a batch however the
# awaitables are awaited.


def users_contacts(
    ctx: Context, users: list[UserRow], type: str | None = None, include_inactive: bool = False
) -> Awaitable[list[list[ContactRow] | None]]:
    """Each user's contacts, or None where the viewer may not see them."""
    loader = ctx.loaders.all_contacts if include_inactive else ctx.loaders.contacts
    visible = [user.id for user in users if can_see_private(ctx.viewer, user.id)]
    loading = loader.load_many(visible)

    async def contacts() -> list[list[ContactRow] | None]:
        loaded = dict(zip(visible, await loading, strict=True))
        result: list[list[ContactRow] | None] = []
        for user in users:
            rows = loaded.get(user.id)
            if rows is not None and type is not None:
                rows = [row for row in rows if row.type_code == type]
            result.append(rows)
        return result

    return contacts()


def users_primary_contact(
    ctx: Context, users: list[UserRow], type: str
) -> Awaitable[list[ContactRow | None]]:
    loading = users_contacts(ctx, users, type)

    async def primary() -> list[ContactRow | None]:
        return [next((row for row in rows or () if row.is_primary), None) for rows in await loading]

    return primary()


def users_memberships(ctx: Context, users: list[UserRow]) -> Awaitable[list[list[MembershipRow]]]:
    return ctx.loaders.memberships.load_many([user.id for user in users])


@strawberry.enum(description="Whether a user may sign in.")
class UserStatus(enum.Enum):
    ACTIVE = "active"
    DEACTIVATED = "deactivated"


# Status by stored value: a dict lookup, cheaper than the Enum call per row.
_STATUSES = {status.value: status for status in UserStatus}


@strawberry.enum
class UserOrder(enum.Enum):
    CREATED_AT_ASC = "created_at_asc"
    CREATED_AT_DESC = "created_at_desc"
    USERNAME_ASC = "username_asc"
    USERNAME_DESC = "username_desc"


@strawberry.type(name="User", description="A person with an account.")
class User(Node):
    username: str
    display_name: str
    roles: list[str]
    version: int = strawberry.field(description="Increases with every change; see expectedVersion.")
    created_at: datetime
    updated_at: datetime

    @strawberry.field
    def id(root: strawberry.Parent[UserRow]) -> strawberry.ID:
        return strawberry.ID(encode_id("User", root.id))

    @strawberry.field
    def status(root: strawberry.Parent[UserRow]) -> UserStatus:
        return _STATUSES[root.status]

    @strawberry.field(description="Free-form JSON object; visible to the user and admins only.")
    def profile(root: strawberry.Parent[UserRow], info: Info) -> JSON | None:
        if not can_see_private(info.context.viewer, root.id):
            return None
        return root.profile

    @strawberry.field(description="Visible to the user and admins only (null for others).")
    async def contacts(
        root: strawberry.Parent[UserRow],
        info: Info,
        type: str | None = None,
        include_inactive: bool = False,
    ) -> list[Contact] | None:
        return (await users_contacts(info.context, [root], type, include_inactive))[0]

    @strawberry.field(
        description="Live sessions, oldest first; the user and admins only (null for others)."
    )
    async def sessions(root: strawberry.Parent[UserRow], info: Info) -> list[Session] | None:
        return (await users_sessions(info.context, [root.id]))[0]

    @strawberry.field(description="The active primary contact of a type, e.g. 'email'.")
    async def primary_contact(
        root: strawberry.Parent[UserRow], info: Info, type: str
    ) -> Contact | None:
        return (await users_primary_contact(info.context, [root], type))[0]

    @strawberry.field(description="The user's group memberships, oldest first.")
    async def memberships(
        root: strawberry.Parent[UserRow], info: Info
    ) -> list[Annotated[Membership, strawberry.lazy("accounts_gql.api.types.membership")]]:
        return (await users_memberships(info.context, [root]))[0]

    @strawberry.field(description="The groups the user belongs to.")
    async def groups(
        root: strawberry.Parent[UserRow],
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Annotated[GroupConnection, strawberry.lazy("accounts_gql.api.types.group")]:
        from accounts_gql.api.types.membership import groups_of_user

        request = timestamp_cursors(page_request(first, after, last, before))
        return await groups_of_user(info, root.id, request)

    @classmethod
    def is_type_of(cls, obj: Any, info: Any) -> bool:
        return isinstance(obj, UserRow)


# A username cursor's key: a username (sql/0002_users.sql), lower-cased.
USERNAME_KEY = re.compile(r"[a-z0-9._-]{3,32}")


def user_cursor(row: UserRow, order: UserOrder) -> str:
    if order in (UserOrder.USERNAME_ASC, UserOrder.USERNAME_DESC):
        return encode_cursor(row.username.lower(), row.id)
    return encode_time_cursor(row.created_at, row.id)


@strawberry.input(description="Narrows a list of users; all given conditions apply.")
class UserFilter:
    search: str | None = strawberry.field(
        default=None, description="A part of the username or display name."
    )
    status: UserStatus | None = None
    group_id: strawberry.ID | None = None
    role: str | None = strawberry.field(default=None, description="A user role, e.g. 'admin'.")


@strawberry.type
class UserEdge:
    node: User
    order: strawberry.Private[UserOrder]

    @strawberry.field
    def cursor(self) -> str:
        """Computed when asked for: most reads of a page never ask."""
        return user_cursor(self.node, self.order)


@strawberry.type
class UserConnection:
    edges: list[UserEdge]
    page_info: PageInfo
    _count_args: strawberry.Private[tuple[Any, ...]]

    @strawberry.field
    def nodes(self) -> list[User]:
        return [edge.node for edge in self.edges]

    @strawberry.field(description="How many users match the filter, over all pages.")
    async def total_count(self, info: Info) -> int:
        return await repository.users_count(info.context.loaders.db, *self._count_args)


async def users_connection(
    info: Info, request: PageRequest, filter: UserFilter | None, order: UserOrder
) -> UserConnection:
    ctx = info.context
    search = filter.search if filter else None
    status = filter.status.value if filter and filter.status else None
    group_id = decode_id(filter.group_id, "Group") if filter and filter.group_id else None
    role = filter.role if filter else None
    page = await service.users_page(
        ctx.loaders.db,
        ctx.viewer,
        first=request.first,
        last=request.last,
        after=request.after,
        before=request.before,
        order=order.value,
        search=search,
        status=status,
        group_id=group_id,
        role=role,
    )
    for row in page.rows:
        ctx.loaders.user.prime(row.id, row)
    return UserConnection(
        edges=[UserEdge(node=row, order=order) for row in page.rows],
        page_info=page_info(request, page.has_more, page.rows, partial(user_cursor, order=order)),
        _count_args=(search, status, group_id, role),
    )


def query_user(
    ctx: Context, roots: list[Any], id: str | None = None, username: str | None = None
) -> Awaitable[list[UserRow | None]]:
    """`user(id:, username:)` for each root (a query has one), checked before it
    returns: a plan's root level then needs no task (see users_contacts)."""
    service.require_reader(ctx.viewer)
    if (id is None) == (username is None):
        raise GraphQLError(
            "Pass exactly one of 'id' and 'username'.", extensions={"code": "BAD_USER_INPUT"}
        )
    if id is not None:
        return ctx.loaders.user.load_many([decode_id(id, "User")] * len(roots))
    assert username is not None
    return _users_by_username(ctx.loaders.db, username, len(roots))


async def _users_by_username(db: Executor, username: str, count: int) -> list[UserRow | None]:
    return [await repository.user_by_username(db, username)] * count


@strawberry.type
class UserQueries:
    @strawberry.field(description="The signed-in user, or null for anonymous callers.")
    async def me(self, info: Info) -> User | None:
        ctx = info.context
        if ctx.viewer.user_id is None:
            return None
        return await ctx.loaders.user.load(ctx.viewer.user_id)

    @strawberry.field(description="A user by global id or by username (case-insensitive).")
    async def user(
        self, info: Info, id: strawberry.ID | None = None, username: str | None = None
    ) -> User | None:
        return (await query_user(info.context, [self], id, username))[0]

    @strawberry.field(description="Users, a page at a time (keyset pagination).")
    async def users(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        filter: UserFilter | None = None,
        order_by: UserOrder = UserOrder.CREATED_AT_ASC,
    ) -> UserConnection:
        service.require_reader(info.context.viewer)  # before any input error
        request = page_request(first, after, last, before)
        if order_by in (UserOrder.CREATED_AT_ASC, UserOrder.CREATED_AT_DESC):
            timestamp_cursors(request)
        else:
            keyed_cursors(request, USERNAME_KEY)
        return await users_connection(info, request, filter, order_by)


# Mutations -----------------------------------------------------------------


@strawberry.input
class CreateUserInput:
    username: str = strawberry.field(description="3–32 letters, digits, '.', '_' or '-'.")
    display_name: str = ""
    profile: JSON | None = None
    roles: list[str] | None = strawberry.field(default=None, description="Admins only.")


@strawberry.input
class UpdateUserInput:
    id: strawberry.ID
    username: str | None = None
    display_name: str | None = None
    roles: list[str] | None = strawberry.field(default=None, description="Admins only.")
    expected_version: int | None = strawberry.field(
        default=None, description="Fail with VersionConflict unless the user is at this version."
    )


@strawberry.input
class UpdateUserProfileInput:
    id: strawberry.ID
    patch: JSON = strawberry.field(description="A JSON Merge Patch (RFC 7396); null removes a key.")
    expected_version: int | None = None


@strawberry.input
class UserIdInput:
    id: strawberry.ID
    expected_version: int | None = None


@strawberry.type
class UserPayloadSuccess:
    user: User


@strawberry.type
class DeleteUserSuccess:
    deleted_user_id: strawberry.ID


CreateUserPayload = Annotated[
    UserPayloadSuccess | ValidationError | UsernameTaken | Forbidden,
    strawberry.union("CreateUserPayload"),
]
UpdateUserPayload = Annotated[
    UserPayloadSuccess | ValidationError | UsernameTaken | NotFound | VersionConflict | Forbidden,
    strawberry.union("UpdateUserPayload"),
]
UpdateUserProfilePayload = Annotated[
    UserPayloadSuccess | ValidationError | NotFound | VersionConflict | Forbidden,
    strawberry.union("UpdateUserProfilePayload"),
]
UserStatusPayload = Annotated[
    UserPayloadSuccess | ValidationError | NotFound | InvalidState | VersionConflict | Forbidden,
    strawberry.union("UserStatusPayload"),
]
DeleteUserPayload = Annotated[
    DeleteUserSuccess | ValidationError | NotFound | VersionConflict | Forbidden,
    strawberry.union("DeleteUserPayload"),
]


def _user_success(info: Info) -> Any:
    def success(row: UserRow) -> UserPayloadSuccess:
        replace(info.context.loaders.user, row.id, row)
        return UserPayloadSuccess(user=row)

    return success


@strawberry.type
class UserMutations:
    @strawberry.mutation(description="Creates a user (admins only; see signUp for self-service).")
    async def create_user(self, info: Info, input: CreateUserInput) -> CreateUserPayload:
        ctx = info.context
        return await payload(
            lambda: service.create_user(
                ctx.db.write,
                ctx.viewer,
                username=input.username,
                display_name=input.display_name,
                profile=input.profile,
                roles=input.roles,
            ),
            _user_success(info),
        )

    @strawberry.mutation(description="Changes a user's username, display name or roles.")
    async def update_user(self, info: Info, input: UpdateUserInput) -> UpdateUserPayload:
        ctx = info.context
        return await payload(
            lambda: service.update_user(
                ctx.db.write,
                ctx.viewer,
                input_id(input.id, "User", "id"),
                username=input.username,
                display_name=input.display_name,
                roles=input.roles,
                expected_version=input.expected_version,
            ),
            _user_success(info),
        )

    @strawberry.mutation(description="Merges a JSON Merge Patch (RFC 7396) into the profile.")
    async def update_user_profile(
        self, info: Info, input: UpdateUserProfileInput
    ) -> UpdateUserProfilePayload:
        ctx = info.context
        return await payload(
            lambda: service.update_user_profile(
                ctx.db.write,
                ctx.viewer,
                input_id(input.id, "User", "id"),
                patch=input.patch,
                expected_version=input.expected_version,
            ),
            _user_success(info),
        )

    @strawberry.mutation(description="Stops a user from signing in (admins only).")
    async def deactivate_user(self, info: Info, input: UserIdInput) -> UserStatusPayload:
        ctx = info.context
        return await payload(
            lambda: service.deactivate_user(
                ctx.db.write,
                ctx.viewer,
                input_id(input.id, "User", "id"),
                expected_version=input.expected_version,
            ),
            _user_success(info),
        )

    @strawberry.mutation(description="Lets a deactivated user sign in again (admins only).")
    async def reactivate_user(self, info: Info, input: UserIdInput) -> UserStatusPayload:
        ctx = info.context
        return await payload(
            lambda: service.reactivate_user(
                ctx.db.write,
                ctx.viewer,
                input_id(input.id, "User", "id"),
                expected_version=input.expected_version,
            ),
            _user_success(info),
        )

    @strawberry.mutation(description="Erases a user and everything of theirs (self or admin).")
    async def delete_user(self, info: Info, input: UserIdInput) -> DeleteUserPayload:
        ctx = info.context

        def success(user_id: uuid.UUID) -> DeleteUserSuccess:
            ctx.loaders.user.clear(user_id)
            return DeleteUserSuccess(deleted_user_id=strawberry.ID(encode_id("User", user_id)))

        return await payload(
            lambda: service.delete_user(
                ctx.db.write,
                ctx.viewer,
                input_id(input.id, "User", "id"),
                expected_version=input.expected_version,
            ),
            success,
        )
