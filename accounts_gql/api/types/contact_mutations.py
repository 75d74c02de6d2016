"""Contact: its mutations (services/contacts.py decides who may make them)."""

from __future__ import annotations

from typing import Any

import strawberry

from accounts_gql.api.cache import replace
from accounts_gql.api.context import Context
from accounts_gql.api.mutations import input_id, payload
from accounts_gql.api.types.contact_inputs import (
    AddContactInput,
    AddContactPayload,
    ContactIdInput,
    ContactPayloadSuccess,
    DeactivateContactPayload,
    SetPrimaryContactPayload,
    UpdateContactInput,
    UpdateContactPayload,
)
from accounts_gql.services import contacts as service
from accounts_gql.services.reads.rows import ContactRow

Info = strawberry.Info[Context, None]


def _success_for(info: Info) -> Any:
    """Wraps the written contact; the request's contact loaders forget the user's list."""

    def success(row: ContactRow) -> ContactPayloadSuccess:
        loaders = info.context.loaders
        loaders.contacts.clear(row.user_id)
        loaders.all_contacts.clear(row.user_id)
        replace(loaders.contact, row.id, row)
        return ContactPayloadSuccess(contact=row)

    return success


@strawberry.type
class ContactMutations:
    @strawberry.mutation(description="Adds a contact to a user (the user themself or an admin).")
    async def add_contact(self, info: Info, input: AddContactInput) -> AddContactPayload:
        ctx = info.context
        return await payload(
            lambda: service.add_contact(
                ctx.db.write,
                ctx.viewer,
                user_id=input_id(input.user_id, "User", "userId"),
                type_code=input.type,
                value=input.value,
                is_primary=input.is_primary,
                is_verified=input.is_verified,
            ),
            _success_for(info),
        )

    @strawberry.mutation(description="Changes a contact's value or verification.")
    async def update_contact(self, info: Info, input: UpdateContactInput) -> UpdateContactPayload:
        ctx = info.context
        return await payload(
            lambda: service.update_contact(
                ctx.db.write,
                ctx.viewer,
                input_id(input.id, "Contact", "id"),
                value=input.value,
                is_verified=input.is_verified,
            ),
            _success_for(info),
        )

    @strawberry.mutation(description="Makes a contact the primary of its type.")
    async def set_primary_contact(
        self, info: Info, input: ContactIdInput
    ) -> SetPrimaryContactPayload:
        ctx = info.context
        return await payload(
            lambda: service.set_primary_contact(
                ctx.db.write, ctx.viewer, input_id(input.id, "Contact", "id")
            ),
            _success_for(info),
        )

    @strawberry.mutation(description="Retires a contact; it stays in the history.")
    async def deactivate_contact(
        self, info: Info, input: ContactIdInput
    ) -> DeactivateContactPayload:
        ctx = info.context
        return await payload(
            lambda: service.deactivate_contact(
                ctx.db.write, ctx.viewer, input_id(input.id, "Contact", "id")
            ),
            _success_for(info),
        )
