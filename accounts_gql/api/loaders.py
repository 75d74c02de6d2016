"""The dataloaders of one request (PRODUCT §4).

Created per request, so no caller ever sees rows cached for another. Each batch
function lives beside the GraphQL type it feeds; this class only wires them to
the connection pool the request reads from (the primary after a mutation, so
that a payload shows what was just written).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from functools import partial
from typing import Any, Generic, TypeVar, overload

from accounts_gql.api.dataloader import Batching, Loader
from accounts_gql.api.types.contact import load_contacts, load_contacts_by_user
from accounts_gql.api.types.contact_type import load_contact_types
from accounts_gql.api.types.group import load_groups, load_member_counts
from accounts_gql.api.types.membership import (
    MemberPage,
    MemberPageKey,
    load_member_pages,
    load_memberships_by_user,
)
from accounts_gql.api.types.session import load_sessions_by_user
from accounts_gql.api.types.user import load_users
from accounts_gql.db.pool import Executor
from accounts_gql.repositories.contact_types import ContactTypeRow
from accounts_gql.repositories.contacts import ContactRow
from accounts_gql.repositories.groups import GroupRow
from accounts_gql.repositories.memberships import MembershipRow
from accounts_gql.repositories.sessions import SessionRow
from accounts_gql.repositories.users import UserRow

T = TypeVar("T")


class made_on_first_use(Generic[T]):
    """`functools.cached_property` without its lock (Python 3.11 takes one per first
    use): a request's loaders are only ever made on its own event loop."""

    def __init__(self, make: Callable[[Any], T]) -> None:
        self.make = make
        self.name = make.__name__

    @overload
    def __get__(self, instance: None, owner: type) -> made_on_first_use[T]: ...
    @overload
    def __get__(self, instance: object, owner: type) -> T: ...
    def __get__(self, instance: object | None, owner: type) -> T | made_on_first_use[T]:
        if instance is None:
            return self
        value = instance.__dict__[self.name] = self.make(instance)  # found there next time
        return value


class Loaders:
    """Each loader is made on first use: most requests need two or three of them."""

    def __init__(self, db: Executor) -> None:
        self.db = db
        # A query's plan collects each level's batches and fetches them one after
        # the other (its statements take turns on its one connection anyway).
        self.batching = Batching()

    @made_on_first_use
    def user(self) -> Loader[uuid.UUID, UserRow | None]:
        return Loader(partial(load_users, self.db), self.batching)

    @made_on_first_use
    def sessions(self) -> Loader[uuid.UUID, list[SessionRow]]:
        return Loader(partial(load_sessions_by_user, self.db), self.batching)

    @made_on_first_use
    def contact(self) -> Loader[uuid.UUID, ContactRow | None]:
        return Loader(partial(load_contacts, self.db), self.batching)

    @made_on_first_use
    def contacts(self) -> Loader[uuid.UUID, list[ContactRow]]:
        return Loader(partial(load_contacts_by_user, self.db, False), self.batching)

    @made_on_first_use
    def all_contacts(self) -> Loader[uuid.UUID, list[ContactRow]]:
        return Loader(partial(load_contacts_by_user, self.db, True), self.batching)

    @made_on_first_use
    def contact_type(self) -> Loader[uuid.UUID, ContactTypeRow | None]:
        return Loader(partial(load_contact_types, self.db), self.batching)

    @made_on_first_use
    def memberships(self) -> Loader[uuid.UUID, list[MembershipRow]]:
        return Loader(partial(load_memberships_by_user, self.db), self.batching)

    @made_on_first_use
    def group(self) -> Loader[uuid.UUID, GroupRow | None]:
        return Loader(partial(load_groups, self.db), self.batching)

    @made_on_first_use
    def member_count(self) -> Loader[uuid.UUID, int]:
        return Loader(partial(load_member_counts, self.db), self.batching)

    @made_on_first_use
    def member_page(self) -> Loader[MemberPageKey, MemberPage]:
        return Loader(partial(load_member_pages, self.db), self.batching)
