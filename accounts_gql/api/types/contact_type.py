"""ContactType: its GraphQL type, loader, queries and mutations."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import strawberry

from accounts_gql.api.context import Context
from accounts_gql.api.errors import (
    ContactTypeCodeTaken,
    ContactValueTaken,
    Forbidden,
    NotFound,
    ValidationError,
    VersionConflict,
)
from accounts_gql.api.ids import encode_id
from accounts_gql.api.mutations import input_id, payload
from accounts_gql.api.types.node import Node
from accounts_gql.db.pool import Executor
from accounts_gql.repositories import contact_types as repository
from accounts_gql.repositories.contact_types import ContactTypeRow
from accounts_gql.services import contact_types as service

Info = strawberry.Info[Context, None]


async def load_contact_types(db: Executor, ids: list[uuid.UUID]) -> list[ContactTypeRow | None]:
    rows = {row.id: row for row in await repository.contact_types_by_ids(db, ids)}
    return [rows.get(key) for key in ids]


@strawberry.type(name="ContactType", description="A kind of contact: email, phone, telegram, …")
class ContactType(Node):
    code: str
    name: str
    validation_pattern: str | None = strawberry.field(
        description="A regular expression that normalised values must match."
    )
    is_unique: bool = strawberry.field(
        description="Whether an active value may belong to one user only."
    )
    is_active: bool
    version: int

    @strawberry.field
    def id(root: strawberry.Parent[ContactTypeRow]) -> strawberry.ID:
        return strawberry.ID(encode_id("ContactType", root.id))

    @classmethod
    def is_type_of(cls, obj: Any, info: Any) -> bool:
        return isinstance(obj, ContactTypeRow)


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


def _success(row: ContactTypeRow) -> ContactTypePayloadSuccess:
    return ContactTypePayloadSuccess(contact_type=row)


@strawberry.type
class ContactTypeQueries:
    @strawberry.field(description="The contact types, ordered by code.")
    async def contact_types(self, info: Info, include_inactive: bool = False) -> list[ContactType]:
        ctx = info.context
        return await service.list_contact_types(ctx.loaders.db, ctx.viewer, include_inactive)


@strawberry.type
class ContactTypeMutations:
    @strawberry.mutation(description="Adds a kind of contact (admins only).")
    async def create_contact_type(
        self, info: Info, input: CreateContactTypeInput
    ) -> CreateContactTypePayload:
        ctx = info.context
        return await payload(
            lambda: service.create_contact_type(
                ctx.db.write,
                ctx.viewer,
                code=input.code,
                name=input.name,
                validation_pattern=input.validation_pattern,
                is_unique=input.is_unique,
            ),
            _success,
        )

    @strawberry.mutation(description="Changes a kind of contact (admins only).")
    async def update_contact_type(
        self, info: Info, input: UpdateContactTypeInput
    ) -> UpdateContactTypePayload:
        ctx = info.context

        async def call() -> ContactTypeRow:
            return await service.update_contact_type(
                ctx.db.write,
                ctx.viewer,
                input_id(input.id, "ContactType", "id"),
                name=input.name,
                validation_pattern=input.validation_pattern,
                is_unique=input.is_unique,
                is_active=input.is_active,
                expected_version=input.expected_version,
            )

        result = await payload(call, _success)
        if isinstance(result, ContactTypePayloadSuccess):
            ctx.loaders.contact_type.clear_all()
        return result
