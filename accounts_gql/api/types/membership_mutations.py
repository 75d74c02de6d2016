"""Membership: its mutations (services/memberships.py decides who may make them)."""

from __future__ import annotations

import uuid

import strawberry

from accounts_gql.api.context import Context
from accounts_gql.api.mutations import input_id, payload
from accounts_gql.api.types.membership_inputs import (
    AddGroupMemberInput,
    AddGroupMemberPayload,
    ChangeMemberRoleInput,
    ChangeMemberRolePayload,
    MembershipPayloadSuccess,
    RemoveGroupMemberInput,
    RemoveGroupMemberPayload,
    RemoveGroupMemberSuccess,
)
from accounts_gql.services import memberships as service
from accounts_gql.services.reads.rows import MembershipRow

Info = strawberry.Info[Context, None]


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
