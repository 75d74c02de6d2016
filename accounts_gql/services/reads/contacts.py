"""Reads of contacts and contact types: a contact's type and user, `contactTypes`."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from accounts_gql.repositories.contact_types import ContactTypeRow
from accounts_gql.repositories.contacts import ContactRow
from accounts_gql.repositories.users import UserRow
from accounts_gql.services import contact_types as service
from accounts_gql.services.reads.contract import Read, Scope


def contacts_type(
    scope: Scope, contacts: list[ContactRow]
) -> Awaitable[list[ContactTypeRow | None]]:
    return scope.loaders.contact_type.load_many([row.contact_type_id for row in contacts])


def contacts_user(scope: Scope, contacts: list[ContactRow]) -> Awaitable[list[UserRow | None]]:
    return scope.loaders.user.load_many([row.user_id for row in contacts])


async def contact_types(
    scope: Scope, roots: list[Any], include_inactive: bool = False
) -> list[list[ContactTypeRow]]:
    """The contact types, ordered by code (inactive ones for admins only)."""
    found = await service.list_contact_types(scope.loaders.db, scope.viewer, include_inactive)
    return [found] * len(roots)


CONTACT_TYPE = Read(
    "Contact",
    "type",
    contacts_type,
    rows=("contact_type",),
    key=("contact_type", "contact_type_id"),
    uses=("contact_type_id",),
)
CONTACT_USER = Read(
    "Contact", "user", contacts_user, rows=("user",), key=("user", "user_id"), uses=("user_id",)
)
CONTACT_TYPES = Read("Query", "contactTypes", contact_types)
