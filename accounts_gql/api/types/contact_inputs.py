"""Contact: the inputs and payloads of its mutations."""

from __future__ import annotations

from typing import Annotated

import strawberry

from accounts_gql.api.errors import (
    ContactValueTaken,
    Forbidden,
    InvalidState,
    LimitReached,
    NotFound,
    ValidationError,
)
from accounts_gql.api.types.contact import Contact


@strawberry.input
class AddContactInput:
    user_id: strawberry.ID
    type: str = strawberry.field(description="The contact type's code, e.g. 'email'.")
    value: str
    is_primary: bool = strawberry.field(
        default=False,
        description="Make it the primary of its type (the first of a type always is).",
    )
    is_verified: bool = strawberry.field(default=False, description="Admins only.")


@strawberry.input
class UpdateContactInput:
    id: strawberry.ID
    value: str | None = None
    is_verified: bool | None = strawberry.field(default=None, description="Admins only.")


@strawberry.input
class ContactIdInput:
    id: strawberry.ID


@strawberry.type
class ContactPayloadSuccess:
    contact: Contact


_ContactErrors = NotFound | ValidationError | InvalidState | Forbidden
AddContactPayload = Annotated[
    ContactPayloadSuccess | _ContactErrors | ContactValueTaken | LimitReached,
    strawberry.union("AddContactPayload"),
]
UpdateContactPayload = Annotated[
    ContactPayloadSuccess | _ContactErrors | ContactValueTaken,
    strawberry.union("UpdateContactPayload"),
]
SetPrimaryContactPayload = Annotated[
    ContactPayloadSuccess | _ContactErrors, strawberry.union("SetPrimaryContactPayload")
]
DeactivateContactPayload = Annotated[
    ContactPayloadSuccess | _ContactErrors, strawberry.union("DeactivateContactPayload")
]
