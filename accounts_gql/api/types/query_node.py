"""`node(id)` and `nodes(ids)`: any object by its global id."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable

import strawberry
from graphql import GraphQLError

from accounts_gql.api.context import Context
from accounts_gql.api.ids import decode_any_id
from accounts_gql.api.types.node import Node
from accounts_gql.services.authorization import can_see_private, require_signed_in

Info = strawberry.Info[Context, None]


def load_node(ctx: Context, type_name: str, value: uuid.UUID) -> Awaitable[object | None]:
    """The object, or None when it does not exist or the viewer may not see it."""
    loaders = ctx.loaders
    if type_name == "ContactType":
        return loaders.contact_type.load(value)
    require_signed_in(ctx.viewer)
    if type_name == "User":
        return loaders.user.load(value)
    if type_name == "Group":
        return loaders.group.load(value)
    if type_name == "Contact":
        return _visible_contact(ctx, value)
    return _absent()


async def _visible_contact(ctx: Context, contact_id: uuid.UUID) -> object | None:
    contact = await ctx.loaders.contact.load(contact_id)
    if contact is None or not can_see_private(ctx.viewer, contact.user_id):
        return None
    return contact


async def _absent() -> None:
    return None


@strawberry.type
class NodeQueries:
    @strawberry.field(description="Any object by its global id.")
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        return await load_node(info.context, *decode_any_id(id))

    @strawberry.field(
        description="Objects by their global ids, in the same order (null if absent)."
    )
    async def nodes(self, info: Info, ids: list[strawberry.ID]) -> list[Node | None]:
        """A malformed id is that entry's error (null, with an error at its path)."""
        decoded: list[tuple[str, uuid.UUID] | GraphQLError] = []
        for global_id in ids:
            try:
                decoded.append(decode_any_id(global_id))
            except GraphQLError as error:
                decoded.append(error)
        if any(not isinstance(e, Exception) and e[0] != "ContactType" for e in decoded):
            require_signed_in(info.context.viewer)  # once, before any load is asked for
        loads = [
            load_node(info.context, *entry) for entry in decoded if not isinstance(entry, Exception)
        ]
        found = iter(await asyncio.gather(*loads))
        # graphql-core completes an Exception item as that item's error.
        return [entry if isinstance(entry, Exception) else next(found) for entry in decoded]  # type: ignore[misc]
