"""ContactType: its GraphQL type and the root field that lists them."""

from __future__ import annotations

from typing import Any

import strawberry

from accounts_gql.api.fields import data_field, row_field
from accounts_gql.api.types.node import Node
from accounts_gql.core.ids import encode_id
from accounts_gql.services.reads import contacts as reads
from accounts_gql.services.reads.rows import ContactTypeRow


def _contact_type_id(row: ContactTypeRow) -> str:
    return encode_id("ContactType", row.id)


@strawberry.type(name="ContactType", description="A kind of contact: email, phone, telegram, …")
class ContactType(Node):
    id: strawberry.ID = row_field(_contact_type_id, ("id",))
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

    @classmethod
    def is_type_of(cls, obj: Any, info: Any) -> bool:
        return isinstance(obj, ContactTypeRow)


def _contact_types(include_inactive: bool = False) -> dict[str, Any]:
    return {"include_inactive": include_inactive}


@strawberry.type
class ContactTypeQueries:
    contact_types: list[ContactType] = data_field(
        reads.CONTACT_TYPES, _contact_types, description="The contact types, ordered by code."
    )
