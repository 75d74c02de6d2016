"""Group: the inputs and payloads of its mutations."""

from __future__ import annotations

from typing import Annotated

import strawberry

from accounts_gql.api.errors import (
    Forbidden,
    NotFound,
    SlugTaken,
    ValidationError,
    VersionConflict,
)
from accounts_gql.api.types.group import Group


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
