"""Membership: the inputs and payloads of its mutations."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import strawberry

from accounts_gql.api.errors import (
    AlreadyMember,
    Forbidden,
    InvalidState,
    NotFound,
    ValidationError,
)
from accounts_gql.api.types.membership import Membership, MembershipRole

if TYPE_CHECKING:
    from accounts_gql.api.types.group import Group
    from accounts_gql.api.types.user import User

_GROUP = "accounts_gql.api.types.group"
_USER = "accounts_gql.api.types.user"


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
