"""`node(id)` and `nodes(ids)`: any object by its global id."""

from __future__ import annotations

import asyncio

import strawberry

from accounts_gql.api.context import Context
from accounts_gql.api.ids import decode_any_id
from accounts_gql.api.types.node import Node
from accounts_gql.services.authorization import can_see_private, require_signed_in

Info = strawberry.Info[Context, None]


async def load_node(info: Info, global_id: str) -> object | None:
    """The object, or None when it does not exist or the viewer may not see it."""
    ctx = info.context
    type_name, value = decode_any_id(global_id)
    loaders = ctx.loaders
    if type_name == "ContactType":
        return await loaders.contact_type.load(value)
    require_signed_in(ctx.viewer)
    if type_name == "User":
        return await loaders.user.load(value)
    if type_name == "Group":
        return await loaders.group.load(value)
    if type_name == "Contact":
        contact = await loaders.contact.load(value)
        if contact is None or not can_see_private(ctx.viewer, contact.user_id):
            return None
        return contact
    return None


@strawberry.type
class NodeQueries:
    @strawberry.field(description="Any object by its global id.")
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        return await load_node(info, id)

    @strawberry.field(
        description="Objects by their global ids, in the same order (null if absent)."
    )
    async def nodes(self, info: Info, ids: list[strawberry.ID]) -> list[Node | None]:
        found = await asyncio.gather(*(load_node(info, global_id) for global_id in ids))
        return list(found)
