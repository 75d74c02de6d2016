"""ContactType: the inputs and payloads of its mutations."""

from __future__ import annotations

from typing import Annotated

import strawberry

from accounts_gql.api.errors import (
    ContactTypeCodeTaken,
    ContactValueTaken,
    Forbidden,
    NotFound,
    ValidationError,
    VersionConflict,
)
from accounts_gql.api.types.contact_type import ContactType


@strawberry.input
class CreateContactTypeInput:
    code: str = strawberry.field(description="Lower-case identifier, e.g. 'telegram'.")
    name: str
    validation_pattern: str | None = None
    is_unique: bool = False


@strawberry.input
class UpdateContactTypeInput:
    id: strawberry.ID
    name: str | None = None
    validation_pattern: str | None = strawberry.field(
        default=None, description="An empty string removes the pattern."
    )
    is_unique: bool | None = None
    is_active: bool | None = None
    expected_version: int | None = None


@strawberry.type
class ContactTypePayloadSuccess:
    contact_type: ContactType


CreateContactTypePayload = Annotated[
    ContactTypePayloadSuccess | ValidationError | ContactTypeCodeTaken | Forbidden,
    strawberry.union("CreateContactTypePayload"),
]
UpdateContactTypePayload = Annotated[
    ContactTypePayloadSuccess
    | ValidationError
    | NotFound
    | VersionConflict
    | ContactValueTaken
    | Forbidden,
    strawberry.union("UpdateContactTypePayload"),
]
