"""Contact: its GraphQL type (a contact row; its type and user are reads of
services/reads/contacts.py)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from accounts_gql.api.fields import data_field, row_field
from accounts_gql.api.types.contact_type import ContactType
from accounts_gql.api.types.node import Node
from accounts_gql.core.ids import encode_id
from accounts_gql.services.reads import contacts as reads
from accounts_gql.services.reads.rows import ContactRow

if TYPE_CHECKING:
    from accounts_gql.api.types.user import User


def _contact_id(row: ContactRow) -> str:
    return encode_id("Contact", row.id)


@strawberry.type(name="Contact", description="A way to reach a user: an email, a phone, …")
class Contact(Node):
    id: strawberry.ID = row_field(_contact_id, ("id",))
    value: str = strawberry.field(description="Normalised: emails lower-cased, phones in E.164.")
    is_primary: bool
    is_verified: bool
    is_active: bool
    created_at: datetime
    updated_at: datetime
    deactivated_at: datetime | None
    type: ContactType = data_field(reads.CONTACT_TYPE, description="The kind of contact.")
    user: Annotated[User, strawberry.lazy("accounts_gql.api.types.user")] = data_field(
        reads.CONTACT_USER, description="The user the contact belongs to."
    )

    @classmethod
    def is_type_of(cls, obj: Any, info: Any) -> bool:
        return isinstance(obj, ContactRow)
