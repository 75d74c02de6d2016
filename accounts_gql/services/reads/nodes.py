"""`node(id)` and `nodes(ids)`: any object by its global id, as its type's rule allows."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable
from typing import Any

from graphql import GraphQLError

from accounts_gql.core.ids import decode_any_id
from accounts_gql.repositories.contacts import ContactRow
from accounts_gql.services.authorization import can_see_private, require_signed_in
from accounts_gql.services.reads.contract import Read, Scope


def load_node(scope: Scope, type_name: str, value: uuid.UUID) -> Awaitable[object | None]:
    """The object, or None when it does not exist or the viewer may not see it:
    contact types for anyone, users and groups for signed-in callers, a contact for
    its user and admins (someone else's looks absent, so ids do not leak)."""
    loaders = scope.loaders
    if type_name == "ContactType":
        return loaders.contact_type.load(value)
    require_signed_in(scope.viewer)
    if type_name == "User":
        return loaders.user.load(value)
    if type_name == "Group":
        return loaders.group.load(value)
    if type_name == "Contact":
        return _visible_contact(scope, loaders.contact.load(value))
    return _absent()


async def _visible_contact(
    scope: Scope, loading: Awaitable[ContactRow | None]
) -> ContactRow | None:
    contact = await loading
    if contact is None or not can_see_private(scope.viewer, contact.user_id):
        return None
    return contact


async def _absent() -> None:
    return None


def node(scope: Scope, roots: list[Any], id: str) -> Awaitable[list[object | None]]:
    loading = load_node(scope, *decode_any_id(id))

    async def found() -> list[object | None]:
        return [await loading] * len(roots)

    return found()


def nodes(scope: Scope, roots: list[Any], ids: list[str]) -> Awaitable[list[list[Any]]]:
    """A malformed id is its own entry's error: GraphQL completes an Exception in a
    list as null with an error at the item's path (the schema promises null for
    what is absent). Every load is asked for before it returns (one batch a type)."""
    decoded: list[tuple[str, uuid.UUID] | GraphQLError] = []
    for global_id in ids:
        try:
            decoded.append(decode_any_id(global_id))
        except GraphQLError as error:
            decoded.append(error)
    if any(not isinstance(entry, Exception) and entry[0] != "ContactType" for entry in decoded):
        require_signed_in(scope.viewer)  # once, before any load is asked for
    loads = [load_node(scope, *entry) for entry in decoded if not isinstance(entry, Exception)]

    async def answer() -> list[list[Any]]:
        found = iter(await asyncio.gather(*loads))
        entries = [entry if isinstance(entry, Exception) else next(found) for entry in decoded]
        return [entries] * len(roots)

    return answer()


# What node(s) return are rows of these loaders, looked up by type: each is
# followed and projected for the fields of its own type's fragments.
_NODE_LOADERS = ("contact_type", "user", "group", "contact")
NODE = Read("Query", "node", node, rows=_NODE_LOADERS)
NODES = Read("Query", "nodes", nodes, rows=_NODE_LOADERS)
