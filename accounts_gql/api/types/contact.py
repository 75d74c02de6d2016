"""Contact: its GraphQL type, loaders and mutations."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Awaitable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from accounts_gql.api.cache import replace
from accounts_gql.api.context import Context
from accounts_gql.api.errors import (
    ContactValueTaken,
    Forbidden,
    InvalidState,
    LimitReached,
    NotFound,
    ValidationError,
)
from accounts_gql.api.ids import encode_id
from accounts_gql.api.mutations import input_id, payload
from accounts_gql.api.types.contact_type import ContactType
from accounts_gql.api.types.node import Node
from accounts_gql.db.pool import Executor
from accounts_gql.repositories import contacts as repository
from accounts_gql.repositories.contact_types import ContactTypeRow
from accounts_gql.repositories.contacts import ContactRow
from accounts_gql.repositories.users import UserRow
from accounts_gql.services import contacts as service

if TYPE_CHECKING:
    from accounts_gql.api.types.user import User

Info = strawberry.Info[Context, None]


async def load_contacts_by_user(
    db: Executor, include_inactive: bool, user_ids: list[uuid.UUID]
) -> list[list[ContactRow]]:
    by_user: defaultdict[uuid.UUID, list[ContactRow]] = defaultdict(list)
    for row in await repository.contacts_by_user_ids(db, user_ids, include_inactive):
        by_user[row.user_id].append(row)
    return [by_user.get(key, []) for key in user_ids]


async def load_contacts(db: Executor, ids: list[uuid.UUID]) -> list[ContactRow | None]:
    rows = {row.id: row for row in await repository.contacts_by_ids(db, ids)}
    return [rows.get(key) for key in ids]


# Fields of many contacts at once (see users_contacts in api/types/user.py).


def contacts_type(
    ctx: Context, contacts: list[ContactRow]
) -> Awaitable[list[ContactTypeRow | None]]:
    return ctx.loaders.contact_type.load_many([row.contact_type_id for row in contacts])


def contacts_user(ctx: Context, contacts: list[ContactRow]) -> Awaitable[list[UserRow | None]]:
    return ctx.loaders.user.load_many([row.user_id for row in contacts])


@strawberry.type(name="Contact", description="A way to reach a user: an email, a phone, …")
class Contact(Node):
    value: str = strawberry.field(description="Normalised: emails lower-cased, phones in E.164.")
    is_primary: bool
    is_verified: bool
    is_active: bool
    created_at: datetime
    updated_at: datetime
    deactivated_at: datetime | None

    @strawberry.field
    def id(root: strawberry.Parent[ContactRow]) -> strawberry.ID:
        return strawberry.ID(encode_id("Contact", root.id))

    @strawberry.field(description="The kind of contact.")
    async def type(root: strawberry.Parent[ContactRow], info: Info) -> ContactType:
        return (await contacts_type(info.context, [root]))[0]

    @strawberry.field(description="The user the contact belongs to.")
    async def user(
        root: strawberry.Parent[ContactRow], info: Info
    ) -> Annotated[User, strawberry.lazy("accounts_gql.api.types.user")]:
        return (await contacts_user(info.context, [root]))[0]

    @classmethod
    def is_type_of(cls, obj: Any, info: Any) -> bool:
        return isinstance(obj, ContactRow)


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
