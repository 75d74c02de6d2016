"""Group: its mutations (services/groups.py decides who may make them)."""

from __future__ import annotations

import uuid
from typing import Any

import strawberry

from accounts_gql.api.cache import replace
from accounts_gql.api.context import Context
from accounts_gql.api.mutations import input_id, payload
from accounts_gql.api.types.group_inputs import (
    CreateGroupInput,
    CreateGroupPayload,
    DeleteGroupInput,
    DeleteGroupPayload,
    DeleteGroupSuccess,
    GroupPayloadSuccess,
    UpdateGroupInput,
    UpdateGroupPayload,
)
from accounts_gql.core.ids import encode_id
from accounts_gql.services import groups as service
from accounts_gql.services.reads.rows import GroupRow

Info = strawberry.Info[Context, None]


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
