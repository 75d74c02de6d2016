"""The GraphQL schema: root types merged from each entity's module."""

from __future__ import annotations

import strawberry

from accounts_gql.api.types.auth import AuthMutations, AuthQueries
from accounts_gql.api.types.contact import ContactMutations
from accounts_gql.api.types.contact_type import ContactTypeMutations, ContactTypeQueries
from accounts_gql.api.types.group import GroupMutations, GroupQueries
from accounts_gql.api.types.membership import MembershipMutations
from accounts_gql.api.types.query_node import NodeQueries
from accounts_gql.api.types.session import SessionMutations
from accounts_gql.api.types.user import UserMutations, UserQueries
from accounts_gql.api.types.verification import VerificationMutations


@strawberry.type
class Query(NodeQueries, UserQueries, GroupQueries, ContactTypeQueries, AuthQueries):
    pass


@strawberry.type
class Mutation(
    AuthMutations,
    UserMutations,
    ContactMutations,
    ContactTypeMutations,
    GroupMutations,
    MembershipMutations,
    SessionMutations,
    VerificationMutations,
):
    pass


schema = strawberry.Schema(query=Query, mutation=Mutation)


def export_sdl() -> str:
    return schema.as_str() + "\n"
