"""The dataloaders of one request (PRODUCT §4).

Created per request, so no caller ever sees rows cached for another. Each batch
function lives beside the GraphQL type it feeds; this class only wires them to
the connection pool the request reads from (the primary after a mutation, so
that a payload shows what was just written).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Iterable
from functools import partial
from typing import Any, TypeVar, cast

from strawberry.dataloader import DataLoader

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

K = TypeVar("K")
V = TypeVar("V")


class Loader(DataLoader[K, V]):
    """Strawberry's DataLoader, whose `load_many` waits once per pending batch.

    The base class gathers a future per key, which schedules a callback per key
    when the batch completes; a page of a hundred rows paid a hundred of them.
    The keys are asked for before it returns, like the base class does.
    """

    def load_many(self, keys: Iterable[K]) -> Awaitable[list[V]]:
        return _results([cast("asyncio.Future[V]", self.load(key)) for key in keys])


async def _results(futures: list[asyncio.Future[Any]]) -> list[Any]:
    for future in futures:
        if not future.done():
            await future  # the futures of one batch complete together
    return [future.result() for future in futures]


class Loaders:
    def __init__(self, db: Executor) -> None:
        self.db = db
        self.user = Loader[uuid.UUID, UserRow | None](partial(load_users, db))
        self.contact = Loader[uuid.UUID, ContactRow | None](partial(load_contacts, db))
        self.contacts = Loader[uuid.UUID, list[ContactRow]](
            partial(load_contacts_by_user, db, False)
        )
        self.all_contacts = Loader[uuid.UUID, list[ContactRow]](
            partial(load_contacts_by_user, db, True)
        )
        self.contact_type = Loader[uuid.UUID, ContactTypeRow | None](
            partial(load_contact_types, db)
        )
        self.memberships = Loader[uuid.UUID, list[MembershipRow]](
            partial(load_memberships_by_user, db)
        )
        self.group = Loader[uuid.UUID, GroupRow | None](partial(load_groups, db))
        self.member_count = Loader[uuid.UUID, int](partial(load_member_counts, db))
        self.member_page = Loader[MemberPageKey, MemberPage](partial(load_member_pages, db))
