"""ContactType: its mutations (admins only: services/contact_types.py)."""

from __future__ import annotations

import strawberry

from accounts_gql.api.context import Context
from accounts_gql.api.mutations import input_id, payload
from accounts_gql.api.types.contact_type_inputs import (
    ContactTypePayloadSuccess,
    CreateContactTypeInput,
    CreateContactTypePayload,
    UpdateContactTypeInput,
    UpdateContactTypePayload,
)
from accounts_gql.services import contact_types as service
from accounts_gql.services.reads.rows import ContactTypeRow

Info = strawberry.Info[Context, None]


def _success(row: ContactTypeRow) -> ContactTypePayloadSuccess:
    return ContactTypePayloadSuccess(contact_type=row)


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
