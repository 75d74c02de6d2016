"""User: its mutations (services/users.py decides who may make them)."""

from __future__ import annotations

import uuid
from typing import Any

import strawberry

from accounts_gql.api.cache import replace
from accounts_gql.api.context import Context
from accounts_gql.api.mutations import input_id, payload
from accounts_gql.api.types.user_inputs import (
    CreateUserInput,
    CreateUserPayload,
    DeleteUserPayload,
    DeleteUserSuccess,
    UpdateUserInput,
    UpdateUserPayload,
    UpdateUserProfileInput,
    UpdateUserProfilePayload,
    UserIdInput,
    UserPayloadSuccess,
    UserStatusPayload,
)
from accounts_gql.core.ids import encode_id
from accounts_gql.services import users as service
from accounts_gql.services.reads.rows import UserRow

Info = strawberry.Info[Context, None]


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
