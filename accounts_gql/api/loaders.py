"""The dataloaders of one request (PRODUCT §4).

Created per request, so no caller ever sees rows cached for another. Each batch
function lives beside the GraphQL type it feeds; this class only wires them to
the connection pool the request reads from (the primary after a mutation, so
that a payload shows what was just written).
"""

from __future__ import annotations

import uuid
from functools import cached_property, partial

from accounts_gql.api.dataloader import Loader
from accounts_gql.api.types.contact import load_contacts, load_contacts_by_user
from accounts_gql.api.types.contact_type import load_contact_types
from accounts_gql.api.types.group import load_groups, load_member_counts
from accounts_gql.api.types.membership import (
    MemberPage,
    MemberPageKey,
    load_member_pages,
    load_memberships_by_user,
)
from accounts_gql.api.types.user import load_users
from accounts_gql.db.pool import Executor
from accounts_gql.repositories.contact_types import ContactTypeRow
from accounts_gql.repositories.contacts import ContactRow
from accounts_gql.repositories.groups import GroupRow
from accounts_gql.repositories.memberships import MembershipRow
from accounts_gql.repositories.users import UserRow


class Loaders:
    """Each loader is made on first use: most requests need two or three of them."""

    def __init__(self, db: Executor) -> None:
        self.db = db

    @cached_property
    def user(self) -> Loader[uuid.UUID, UserRow | None]:
        return Loader(partial(load_users, self.db))

    @cached_property
    def contact(self) -> Loader[uuid.UUID, ContactRow | None]:
        return Loader(partial(load_contacts, self.db))

    @cached_property
    def contacts(self) -> Loader[uuid.UUID, list[ContactRow]]:
        return Loader(partial(load_contacts_by_user, self.db, False))

    @cached_property
    def all_contacts(self) -> Loader[uuid.UUID, list[ContactRow]]:
        return Loader(partial(load_contacts_by_user, self.db, True))

    @cached_property
    def contact_type(self) -> Loader[uuid.UUID, ContactTypeRow | None]:
        return Loader(partial(load_contact_types, self.db))

    @cached_property
    def memberships(self) -> Loader[uuid.UUID, list[MembershipRow]]:
        return Loader(partial(load_memberships_by_user, self.db))

    @cached_property
    def group(self) -> Loader[uuid.UUID, GroupRow | None]:
        return Loader(partial(load_groups, self.db))

    @cached_property
    def member_count(self) -> Loader[uuid.UUID, int]:
        return Loader(partial(load_member_counts, self.db))

    @cached_property
    def member_page(self) -> Loader[MemberPageKey, MemberPage]:
        return Loader(partial(load_member_pages, self.db))
