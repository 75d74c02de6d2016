"""Membership: a user's role in a group, and a group's page of members.

Its user, group and adder are reads of services/reads/memberships.py; a member
page is services/reads/groups.py's MemberConnectionRow, whose edges are the
membership rows themselves (no object per member, PRODUCT §8).
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from accounts_gql.api.fields import data_field, row_field
from accounts_gql.api.types.page_info import PageInfo
from accounts_gql.services.reads import memberships as reads
from accounts_gql.services.reads.groups import member_cursor
from accounts_gql.services.reads.rows import MembershipRow

if TYPE_CHECKING:
    from accounts_gql.api.types.group import Group
    from accounts_gql.api.types.user import User

_GROUP = "accounts_gql.api.types.group"
_USER = "accounts_gql.api.types.user"


@strawberry.enum
class MembershipRole(enum.Enum):
    MEMBER = "member"
    MANAGER = "manager"
    OWNER = "owner"


# Role by stored value: a dict lookup, cheaper than the Enum call per row.
_ROLES = {role.value: role for role in MembershipRole}


def _role(row: MembershipRow) -> MembershipRole:
    return _ROLES[row.role]


def _itself(row: MembershipRow) -> MembershipRow:
    return row


@strawberry.type(name="Membership", description="A user's role in a group.")
class Membership:
    joined_at: datetime
    role: MembershipRole = row_field(_role, ("role",))
    user: Annotated[User, strawberry.lazy(_USER)] = data_field(reads.MEMBERSHIP_USER)
    group: Annotated[Group, strawberry.lazy(_GROUP)] = data_field(reads.MEMBERSHIP_GROUP)
    added_by: Annotated[User, strawberry.lazy(_USER)] | None = data_field(
        reads.MEMBERSHIP_ADDED_BY,
        description="Who added the member (null once that user is deleted).",
    )

    @classmethod
    def is_type_of(cls, obj: Any, info: Any) -> bool:
        return isinstance(obj, MembershipRow)


@strawberry.type
class MemberEdge:
    """The membership row stands for its edge too: no object per member (PRODUCT §8)."""

    node: Membership = row_field(_itself, None)
    cursor: str = row_field(member_cursor, ("joined_at", "user_id"))


@strawberry.type
class MemberConnection:
    """services/reads/groups.py: MemberConnectionRow."""

    edges: list[MemberEdge]
    page_info: PageInfo
    nodes: list[Membership]
