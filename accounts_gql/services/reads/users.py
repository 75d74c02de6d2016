"""Reads of users: `me`, `user`, `users`, and the fields of User that need data."""

from __future__ import annotations

import re
from collections.abc import Awaitable
from dataclasses import dataclass
from functools import partial
from operator import attrgetter
from typing import Any

from graphql import GraphQLError

from accounts_gql.core.ids import decode_id, encode_cursor, encode_time_cursor
from accounts_gql.db.pool import Executor
from accounts_gql.repositories import users as repository
from accounts_gql.repositories.contacts import ContactRow
from accounts_gql.repositories.users import UserRow
from accounts_gql.services.bounds import check_search
from accounts_gql.services.reads.contract import Read, Ready, Scope
from accounts_gql.services.reads.paging import (
    PageInfo,
    keyed_cursors,
    page_info,
    page_request,
    timestamp_cursors,
)
from accounts_gql.services.reads.sources import PageKey

# A username cursor's key: a username (sql/0002_users.sql), lower-cased.
USERNAME_KEY = re.compile(r"[a-z0-9._-]{3,32}")
TIME_ORDERS = frozenset({"created_at_asc", "created_at_desc"})


def user_cursor(row: UserRow, order: str) -> str:
    if order in TIME_ORDERS:
        return encode_time_cursor(row.created_at, row.id)
    return encode_cursor(row.username.lower(), row.id)


@dataclass(frozen=True, slots=True)
class UserEdgeRow:
    node: UserRow
    order: str

    @property
    def cursor(self) -> str:
        """Computed when asked for: most reads of a page never ask."""
        return user_cursor(self.node, self.order)


@dataclass(frozen=True, slots=True)
class UserConnectionRow:
    edges: list[UserEdgeRow]
    page_info: PageInfo
    # users_count's arguments, for totalCount: search, status, group id, role.
    count_args: tuple[Any, ...]

    @property
    def nodes(self) -> list[UserRow]:
        return [edge.node for edge in self.edges]


@dataclass(frozen=True, slots=True)
class UserFilter:
    """`users(filter:)`: the group as its global id, decoded here."""

    search: str | None = None
    status: str | None = None
    group_id: str | None = None
    role: str | None = None


def me(scope: Scope, roots: list[Any]) -> Awaitable[list[UserRow | None]]:
    user_id = scope.viewer.user_id
    if user_id is None:
        return Ready([None] * len(roots))
    return scope.loaders.user.load_many([user_id] * len(roots))


def user(
    scope: Scope, roots: list[Any], id: str | None = None, username: str | None = None
) -> Awaitable[list[UserRow | None]]:
    """`user(id:, username:)` for each root (a query has one)."""
    if (id is None) == (username is None):
        raise GraphQLError(
            "Pass exactly one of 'id' and 'username'.", extensions={"code": "BAD_USER_INPUT"}
        )
    if id is not None:
        return scope.loaders.user.load_many([decode_id(id, "User")] * len(roots))
    assert username is not None
    return _users_by_username(scope.loaders.db, username, len(roots))


async def _users_by_username(db: Executor, username: str, count: int) -> list[UserRow | None]:
    return [await repository.user_by_username(db, username)] * count


def users(
    scope: Scope,
    roots: list[Any],
    *,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
    filter: UserFilter | None = None,
    order: str = "created_at_asc",
) -> Awaitable[list[UserConnectionRow]]:
    """A page of users (keyset pagination), from the users_page loader (so that the
    loads below its rows come in its statement); its rows primed in the user loader."""
    request = page_request(first, after, last, before)
    if order in TIME_ORDERS:
        timestamp_cursors(request)
    else:
        keyed_cursors(request, USERNAME_KEY)
    filter = filter or UserFilter()
    check_search(filter.search, "filter.search")
    group_id = decode_id(filter.group_id, "Group") if filter.group_id else None
    count_args = (filter.search, filter.status, group_id, filter.role)

    arguments = repository.users_page_args(
        first=request.first,
        last=request.last,
        after=request.after,
        before=request.before,
        order=order,
        search=filter.search,
        status=filter.status,
        group_id=group_id,
        role=filter.role,
    )
    loading = scope.loaders.users_page.load(PageKey(arguments))

    async def page() -> list[UserConnectionRow]:
        found = await loading
        scope.loaders.user.prime_many([row.id for row in found.rows], found.rows)
        connection = UserConnectionRow(
            edges=[UserEdgeRow(row, order) for row in found.rows],
            page_info=page_info(
                request, found.has_more, found.rows, partial(user_cursor, order=order)
            ),
            count_args=count_args,
        )
        return [connection] * len(roots)

    return page()


async def users_total_count(scope: Scope, connections: list[UserConnectionRow]) -> list[int]:
    db = scope.loaders.db
    return [await repository.users_count(db, *connection.count_args) for connection in connections]


def users_profile(scope: Scope, users: list[UserRow]) -> list[Any]:
    return [user.profile for user in users]


def users_contacts(
    scope: Scope, users: list[UserRow], type: str | None = None, include_inactive: bool = False
) -> Awaitable[list[list[ContactRow]]]:
    """Each user's contacts, of one type if given."""
    loaders = scope.loaders
    loader = loaders.all_contacts if include_inactive else loaders.contacts
    loading = loader.load_many([user.id for user in users])
    if type is None:
        return loading

    async def of_type() -> list[list[ContactRow]]:
        return [[row for row in rows if row.type_code == type] for rows in await loading]

    return of_type()


def users_primary_contact(
    scope: Scope, users: list[UserRow], type: str
) -> Awaitable[list[ContactRow | None]]:
    loading = users_contacts(scope, users, type)

    async def primary() -> list[ContactRow | None]:
        return [next((row for row in rows if row.is_primary), None) for rows in await loading]

    return primary()


_owner = attrgetter("id")
_users = ("user",)
_contacts = ("contacts", "id")  # the active ones: the default, and primaryContact's
ME = Read("Query", "me", me, rows=_users)
USER = Read("Query", "user", user, rows=_users)
# A page's cursors read these (user_cursor), its edges' and its pageInfo's.
USERS = Read("Query", "users", users, rows=("users_page",), reads=("id", "created_at", "username"))
USERS_TOTAL_COUNT = Read("UserConnection", "totalCount", users_total_count)
USER_PROFILE = Read(
    "User", "profile", users_profile, awaits=False, owner=_owner, uses=("id", "profile")
)
USER_CONTACTS = Read(
    "User",
    "contacts",
    users_contacts,
    owner=_owner,
    rows=("contacts", "all_contacts"),
    key=_contacts,
    uses=("id",),
    reads=("type_code",),
)
USER_PRIMARY_CONTACT = Read(
    "User",
    "primaryContact",
    users_primary_contact,
    owner=_owner,
    rows=("contacts",),
    key=_contacts,
    uses=("id",),
    reads=("type_code", "is_primary"),
)
