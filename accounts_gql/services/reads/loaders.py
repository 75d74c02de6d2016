"""The dataloaders of one request (PRODUCT §4), over the repositories' batch reads.

Created per request, so no caller ever sees rows cached for another. A loader is
how a batch read of a repository (`…_by_ids(uuid[])`) is called per request: the
keys a level of the query asks for in one round are fetched by one statement.
The loaders read through the request's executor: its one connection for a query
(see RequestConnection), the primary after a mutation, so that a payload shows
what was just written.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Generic, TypeVar, overload

from accounts_gql.core.dataloader import Batching, Loader
from accounts_gql.db.pool import Executor
from accounts_gql.repositories import contact_types, contacts, groups, memberships, sessions, users
from accounts_gql.repositories.contact_types import ContactTypeRow
from accounts_gql.repositories.contacts import ContactRow
from accounts_gql.repositories.groups import GroupRow
from accounts_gql.repositories.memberships import MembershipRow
from accounts_gql.repositories.sessions import SessionRow
from accounts_gql.repositories.users import UserRow
from accounts_gql.services.reads.paging import PageRequest

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class MemberPageKey:
    """One group's page of members, as asked for by one `members(...)` field."""

    group_id: uuid.UUID
    request: PageRequest
    role: str | None


@dataclass(frozen=True, slots=True)
class MemberPage:
    rows: list[MembershipRow]
    has_more: bool


async def load_users(db: Executor, ids: list[uuid.UUID]) -> list[UserRow | None]:
    rows = {row.id: row for row in await users.users_by_ids(db, ids)}
    return [rows.get(key) for key in ids]


async def load_contacts(db: Executor, ids: list[uuid.UUID]) -> list[ContactRow | None]:
    rows = {row.id: row for row in await contacts.contacts_by_ids(db, ids)}
    return [rows.get(key) for key in ids]


async def load_contacts_by_user(
    db: Executor, include_inactive: bool, user_ids: list[uuid.UUID]
) -> list[list[ContactRow]]:
    by_user: defaultdict[uuid.UUID, list[ContactRow]] = defaultdict(list)
    for row in await contacts.contacts_by_user_ids(db, user_ids, include_inactive):
        by_user[row.user_id].append(row)
    return [by_user.get(key, []) for key in user_ids]


async def load_contact_types(db: Executor, ids: list[uuid.UUID]) -> list[ContactTypeRow | None]:
    rows = {row.id: row for row in await contact_types.contact_types_by_ids(db, ids)}
    return [rows.get(key) for key in ids]


async def load_memberships_by_user(
    db: Executor, user_ids: list[uuid.UUID]
) -> list[list[MembershipRow]]:
    by_user: defaultdict[uuid.UUID, list[MembershipRow]] = defaultdict(list)
    for row in await memberships.memberships_by_user_ids(db, user_ids):
        by_user[row.user_id].append(row)
    return [by_user.get(key, []) for key in user_ids]


async def load_sessions_by_user(db: Executor, user_ids: list[uuid.UUID]) -> list[list[SessionRow]]:
    by_user: defaultdict[uuid.UUID, list[SessionRow]] = defaultdict(list)
    for row in await sessions.sessions_of_users(db, user_ids):
        by_user[row.user_id].append(row)
    return [by_user.get(key, []) for key in user_ids]


async def load_groups(db: Executor, ids: list[uuid.UUID]) -> list[GroupRow | None]:
    rows = {row.id: row for row in await groups.groups_by_ids(db, ids)}
    return [rows.get(key) for key in ids]


async def load_member_counts(db: Executor, ids: list[uuid.UUID]) -> list[int]:
    counts: defaultdict[uuid.UUID, int] = defaultdict(int)
    counts.update(await groups.group_member_counts(db, ids))
    return [counts[key] for key in ids]


async def load_member_pages(db: Executor, keys: list[MemberPageKey]) -> list[MemberPage]:
    """One statement per distinct page shape, however many groups ask for it."""
    shapes: defaultdict[tuple[PageRequest, str | None], list[uuid.UUID]] = defaultdict(list)
    for key in keys:
        shapes[(key.request, key.role)].append(key.group_id)
    pages: dict[MemberPageKey, MemberPage] = {}
    for (request, role), group_ids in shapes.items():
        rows = await memberships.member_pages(
            db,
            group_ids,
            first=request.first,
            last=request.last,
            after=request.after,
            before=request.before,
            role=role,
        )
        by_group: defaultdict[uuid.UUID, list[MembershipRow]] = defaultdict(list)
        more: set[uuid.UUID] = set()
        for row in rows:
            by_group[row.group_id].append(row.membership)
            if row.has_more:
                more.add(row.group_id)
        for group_id in group_ids:
            key = MemberPageKey(group_id, request, role)
            pages[key] = MemberPage(by_group.get(group_id, []), group_id in more)
    return [pages[key] for key in keys]


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
    def sessions(self) -> Loader[uuid.UUID, list[SessionRow]]:
        return Loader(partial(load_sessions_by_user, self.db), self.batching)

    @made_on_first_use
    def group(self) -> Loader[uuid.UUID, GroupRow | None]:
        return Loader(partial(load_groups, self.db), self.batching)

    @made_on_first_use
    def member_count(self) -> Loader[uuid.UUID, int]:
        return Loader(partial(load_member_counts, self.db), self.batching)

    @made_on_first_use
    def member_page(self) -> Loader[MemberPageKey, MemberPage]:
        return Loader(partial(load_member_pages, self.db), self.batching)
