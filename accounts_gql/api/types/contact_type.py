"""The ContactType GraphQL type and its queries."""

from __future__ import annotations

import uuid

import strawberry

from accounts_gql.api.context import Context
from accounts_gql.repositories.contact_types import ContactTypeRow
from accounts_gql.services import contact_types as service


@strawberry.type(name="ContactType", description="A kind of contact: email, phone, telegram, …")
class ContactType:
    id: uuid.UUID
    code: str
    name: str
    is_unique: bool = strawberry.field(
        description="Whether an active value may belong to one user only."
    )
    is_active: bool

    @classmethod
    def from_row(cls, row: ContactTypeRow) -> ContactType:
        return cls(
            id=row.id,
            code=row.code,
            name=row.name,
            is_unique=row.is_unique,
            is_active=row.is_active,
        )


@strawberry.type
class ContactTypeQueries:
    @strawberry.field(description="The contact types, ordered by code.")
    async def contact_types(
        self, info: strawberry.Info[Context, None], include_inactive: bool = False
    ) -> list[ContactType]:
        ctx = info.context
        rows = await service.list_contact_types(ctx.db.read, ctx.viewer, include_inactive)
        return [ContactType.from_row(row) for row in rows]
