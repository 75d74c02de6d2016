"""The GraphQL schema: the root types merged from each entity's module."""

from __future__ import annotations

import strawberry

from accounts_gql.api.types.contact_type import ContactTypeQueries


@strawberry.type
class Query(ContactTypeQueries):
    pass


schema = strawberry.Schema(query=Query)


def export_sdl() -> str:
    return schema.as_str() + "\n"
