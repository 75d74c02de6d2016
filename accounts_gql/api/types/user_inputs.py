"""User: the inputs and payloads of its mutations."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.scalars import JSON

from accounts_gql.api.errors import (
    Forbidden,
    InvalidState,
    NotFound,
    UsernameTaken,
    ValidationError,
    VersionConflict,
)
from accounts_gql.api.types.user import User


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
