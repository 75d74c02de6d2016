"""User: its GraphQL type, enums and connection, and the root fields that find users.

The fields that need data are the reads of services/reads/users.py and
services/reads/memberships.py (who sees them is decided there); the rest are the
row's attributes (UserRow, services/reads/rows.py).
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.scalars import JSON

from accounts_gql.api.fields import data_field, row_field
from accounts_gql.api.types.contact import Contact
from accounts_gql.api.types.node import Node
from accounts_gql.api.types.page_info import PageInfo
from accounts_gql.api.types.session import Session
from accounts_gql.core.ids import encode_id
from accounts_gql.services.reads import memberships as membership_reads
from accounts_gql.services.reads import sessions as session_reads
from accounts_gql.services.reads import users as reads
from accounts_gql.services.reads.rows import UserRow

if TYPE_CHECKING:
    from accounts_gql.api.types.group import GroupConnection
    from accounts_gql.api.types.membership import Membership


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


def _user_id(row: UserRow) -> str:
    return encode_id("User", row.id)


def _status(row: UserRow) -> UserStatus:
    return _STATUSES[row.status]


def _contacts(type: str | None = None, include_inactive: bool = False) -> dict[str, Any]:
    return {"type": type, "include_inactive": include_inactive}


def _primary_contact(type: str) -> dict[str, Any]:
    return {"type": type}


def _page(
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> dict[str, Any]:
    return {"first": first, "after": after, "last": last, "before": before}


@strawberry.type(name="User", description="A person with an account.")
class User(Node):
    id: strawberry.ID = row_field(_user_id, ("id",))
    username: str
    display_name: str
    roles: list[str]
    version: int = strawberry.field(description="Increases with every change; see expectedVersion.")
    created_at: datetime
    updated_at: datetime
    status: UserStatus = row_field(_status, ("status",))
    profile: JSON | None = data_field(
        reads.USER_PROFILE,
        description="Free-form JSON object; visible to the user and admins only.",
    )
    contacts: list[Contact] | None = data_field(
        reads.USER_CONTACTS,
        _contacts,
        description="Visible to the user and admins only (null for others).",
    )
    primary_contact: Contact | None = data_field(
        reads.USER_PRIMARY_CONTACT,
        _primary_contact,
        description="The active primary contact of a type, e.g. 'email'.",
    )
    sessions: list[Session] | None = data_field(
        session_reads.USER_SESSIONS,
        description="Live sessions, oldest first; the user and admins only (null for others).",
    )
    memberships: list[
        Annotated[Membership, strawberry.lazy("accounts_gql.api.types.membership")]
    ] = data_field(
        membership_reads.USER_MEMBERSHIPS, description="The user's group memberships, oldest first."
    )
    groups: Annotated[GroupConnection, strawberry.lazy("accounts_gql.api.types.group")] = (
        data_field(
            membership_reads.USER_GROUPS, _page, description="The groups the user belongs to."
        )
    )

    @classmethod
    def is_type_of(cls, obj: Any, info: Any) -> bool:
        return isinstance(obj, UserRow)


@strawberry.type
class UserEdge:
    """services/reads/users.py: UserEdgeRow (its cursor computed when asked for)."""

    node: User
    cursor: str


@strawberry.type
class UserConnection:
    """services/reads/users.py: UserConnectionRow."""

    edges: list[UserEdge]
    page_info: PageInfo
    nodes: list[User]
    total_count: int = data_field(
        reads.USERS_TOTAL_COUNT, description="How many users match the filter, over all pages."
    )


@strawberry.input(description="Narrows a list of users; all given conditions apply.")
class UserFilter:
    search: str | None = strawberry.field(
        default=None, description="A part of the username or display name."
    )
    status: UserStatus | None = None
    group_id: strawberry.ID | None = None
    role: str | None = strawberry.field(default=None, description="A user role, e.g. 'admin'.")

    def values(self) -> reads.UserFilter:
        status = self.status.value if self.status else None
        return reads.UserFilter(self.search, status, self.group_id, self.role)


def _user(id: strawberry.ID | None = None, username: str | None = None) -> dict[str, Any]:
    return {"id": id, "username": username}


def _users(
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
    filter: UserFilter | None = None,
    order_by: UserOrder = UserOrder.CREATED_AT_ASC,
) -> dict[str, Any]:
    return {
        "first": first,
        "after": after,
        "last": last,
        "before": before,
        "filter": filter.values() if filter else None,
        "order": order_by.value,
    }


@strawberry.type
class UserQueries:
    me: User | None = data_field(
        reads.ME, description="The signed-in user, or null for anonymous callers."
    )
    user: User | None = data_field(
        reads.USER, _user, description="A user by global id or by username (case-insensitive)."
    )
    users: UserConnection = data_field(
        reads.USERS, _users, description="Users, a page at a time (keyset pagination)."
    )
