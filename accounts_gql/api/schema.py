"""The GraphQL schema: root types merged from each entity's modules."""

from __future__ import annotations

import strawberry

from accounts_gql.api.types.account_event import AccountEventSubscriptions
from accounts_gql.api.types.auth import AuthQueries
from accounts_gql.api.types.auth_mutations import AuthMutations
from accounts_gql.api.types.contact_mutations import ContactMutations
from accounts_gql.api.types.contact_type import ContactTypeQueries
from accounts_gql.api.types.contact_type_mutations import ContactTypeMutations
from accounts_gql.api.types.group import GroupQueries
from accounts_gql.api.types.group_mutations import GroupMutations
from accounts_gql.api.types.membership_mutations import MembershipMutations
from accounts_gql.api.types.query_node import NodeQueries
from accounts_gql.api.types.session import SessionMutations
from accounts_gql.api.types.user import UserQueries
from accounts_gql.api.types.user_mutations import UserMutations
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


@strawberry.type
class Subscription(AccountEventSubscriptions):
    pass


schema = strawberry.Schema(query=Query, mutation=Mutation, subscription=Subscription)


def export_sdl() -> str:
    return schema.as_str() + "\n"
