"""What each loader of a request reads (services/reads/loaders.py): its batch read
(repositories/batches.py), how the rows answer its keys, which of their columns
other loads may follow, what they carry of other loaders' rows, and the
GraphQL type they are. `SOURCES` has them by the loader's name.

Three kinds: a loader keyed by one column's values (`KeyedRead`: ids, a user's
contacts), member pages (`MemberPagesRead`: one call per page shape, keyed by a
group and the page's arguments) and root pages (`RootPageRead`: `users`,
`groups`, keyed by their call's arguments).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from accounts_gql.repositories import contact_types, contacts, groups, memberships, sessions, users
from accounts_gql.repositories.batches import BatchCall, Fetch
from accounts_gql.repositories.memberships import EMPTY_PAGE, MemberPage
from accounts_gql.services.reads.paging import PageRequest


@dataclass(frozen=True, slots=True)
class MemberPageKey:
    """One group's page of members, as asked for by one `members(...)` field."""

    group_id: uuid.UUID
    request: PageRequest
    role: str | None


Rows = list[Any]


def by_id(keys: list[uuid.UUID], rows: Rows) -> list[Any]:
    found = {row.id: row for row in rows}
    return [found.get(key) for key in keys]


def by_user(keys: list[uuid.UUID], rows: Rows) -> list[list[Any]]:
    grouped: defaultdict[uuid.UUID, list[Any]] = defaultdict(list)
    for row in rows:
        grouped[row.user_id].append(row)
    return [grouped.get(key, []) for key in keys]


def counts(keys: list[uuid.UUID], rows: Rows) -> list[int]:
    found = dict(rows)
    return [found.get(key, 0) for key in keys]


@dataclass(frozen=True, slots=True)
class KeyedRead:
    """A loader whose keys are the values of one column (`keyed_by`: its call's
    `key`) and go to one call; `values` gives each key's value from the call's
    rows. `columns`: those of its rows that another loader may take keys from
    (`Loaders.follow`); `carries`: what they hold of another loader's rows (a
    contact its type's id and code), and `joins` the call that holds it where
    ours does not (a group's member count)."""

    call: BatchCall
    values: Callable[[list[Any], Rows], list[Any]]
    args: tuple[object, ...] = ()
    columns: frozenset[str] = frozenset()
    # Columns of another loader's rows that these rows carry: {loader: {its column:
    # ours}}. A follower asked only for those is made of our rows, not fetched.
    carries: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    # The GraphQL type its rows are (None: not one type).
    type_name: str | None = None
    # Calls that return our rows with what they carry of a loader's: {loader: the
    # call}, asked for instead of ours when that loader's rows are made of them
    # (ours stays for the reads that want none of it).
    joins: Mapping[str, BatchCall] = field(default_factory=dict)
    # Its keys are a column's values alone: it follows without a shape.
    shaped = False

    @property
    def keyed_by(self) -> str:
        key = self.call.key
        assert key is not None  # batch_call: a keyed call names it
        return key

    def fetches(self, keys: list[Any], call: BatchCall | None = None) -> list[Fetch]:
        return [Fetch(call or self.call, keys, self.args)]

    def answer(self, keys: list[Any], fetches: list[Fetch]) -> list[Any]:
        return self.values(keys, fetches[0].rows())

    def follower(self, column: str, call: BatchCall | None, shape: Any) -> Fetch:
        return Fetch(call or self.call, args=self.args, column=column)

    def follower_keys(self, values: list[Any], shape: Any) -> list[Any]:
        return values

    def projection(self, needs: frozenset[str]) -> frozenset[str] | None:
        """The columns to ask for rows used for `needs` alone: those, and those it is
        keyed and followed by. None when that is every column, or not columns."""
        wanted = needs | self.columns | {self.keyed_by}
        return wanted if self.call.narrower(wanted) else None


@dataclass(frozen=True, slots=True)
class MemberPagesRead:
    """Member pages: one call per distinct page shape, however many groups ask for it."""

    columns: frozenset[str] = frozenset({"user_id", "added_by"})
    # As a follower, of the groups in a column, it is asked for one page shape.
    shaped = True

    def follower(self, column: str, call: BatchCall | None, shape: PageShape) -> Fetch:
        return Fetch(memberships.MEMBER_PAGES, args=_page_args(*shape), column=column)

    def follower_keys(self, values: list[uuid.UUID], shape: PageShape) -> list[MemberPageKey]:
        return [MemberPageKey(group_id, *shape) for group_id in values]

    def fetches(self, keys: list[MemberPageKey], call: BatchCall | None = None) -> list[Fetch]:
        return [
            Fetch(memberships.MEMBER_PAGES, group_ids, _page_args(request, role))
            for (request, role), group_ids in _shapes(keys).items()
        ]

    def answer(self, keys: list[MemberPageKey], fetches: list[Fetch]) -> list[MemberPage]:
        found: dict[MemberPageKey, MemberPage] = {}
        for ((request, role), group_ids), fetch in zip(_shapes(keys).items(), fetches, strict=True):
            shaped = memberships.pages(fetch.rows(), request.limit, request.backward)
            for group_id in group_ids:
                found[MemberPageKey(group_id, request, role)] = shaped.get(group_id, EMPTY_PAGE)
        return [found[key] for key in keys]


@dataclass(frozen=True, slots=True)
class PageKey:
    """A root page (`users(...)`, `groups(...)`): its call's arguments, as the
    repository's `…_page_args` gives them."""

    arguments: tuple[object, ...]


@dataclass(frozen=True, slots=True)
class RootPageRead:
    """Root pages, a call each (a query asks for one or two), so that what follows
    their rows (a user's contacts, a group's members: by `id`) comes in their
    statement. `page` makes the page of a call's records."""

    call: BatchCall
    page: Callable[[Sequence[Any], BatchCall], Any]
    type_name: str
    primes: str  # the loader its rows are primed in, by id (services/reads)
    columns: frozenset[str] = frozenset({"id"})
    shaped = None  # never a follower: its keys are no column of other rows

    def fetches(self, keys: list[PageKey], call: BatchCall | None = None) -> list[Fetch]:
        return [Fetch(call or self.call, args=key.arguments) for key in keys]

    def answer(self, keys: list[PageKey], fetches: list[Fetch]) -> list[Any]:
        return [self.page(fetch.records, fetch.call) for fetch in fetches]

    def projection(self, needs: frozenset[str]) -> frozenset[str] | None:
        """As KeyedRead's, of the page's rows (its has_more always comes too)."""
        wanted = needs | self.columns
        return wanted if self.call.narrower(wanted) else None

    def follower(self, column: str, call: BatchCall | None, shape: Any) -> Fetch:
        raise TypeError("a root page follows no other rows")

    def follower_keys(self, values: list[Any], shape: Any) -> list[Any]:
        raise TypeError("a root page follows no other rows")


# A page request and a role: a member page key without its group.
PageShape = tuple[PageRequest, str | None]


def _shapes(keys: list[MemberPageKey]) -> dict[PageShape, list[uuid.UUID]]:
    """The groups of each page shape, in the order the keys first ask for it."""
    shapes: dict[PageShape, list[uuid.UUID]] = {}
    for key in keys:
        shapes.setdefault((key.request, key.role), []).append(key.group_id)
    return shapes


def _page_args(request: PageRequest, role: str | None) -> tuple[object, ...]:
    return memberships.member_page_args(
        request.limit,
        backward=request.backward,
        after=request.after,
        before=request.before,
        role=role,
    )


_USER_COLUMNS = frozenset({"id"})
_CONTACT_COLUMNS = frozenset({"user_id", "contact_type_id"})
# A contact's type's id and code come with the contact (contacts_by_user_ids
# joins them in), so `type { code }` needs no call of contact_types_by_ids.
_CONTACT_CARRIES = {"contact_type": {"id": "contact_type_id", "code": "type_code"}}
# A group's member count comes with the group from groups_with_member_counts_by_ids
# (sql/0022), so `memberCount` needs no call of group_member_counts.
_GROUP_CARRIES = {"member_count": {"group_id": "id", "member_count": "member_count"}}
# A membership's group comes with it from memberships_with_groups_by_user_ids
# (sql/0024), so `group { … }` of a membership needs no call of groups_by_ids.
_MEMBERSHIP_CARRIES = {
    "group": {
        "id": "group_id",
        "slug": "group_slug",
        "name": "group_name",
        "description": "group_description",
        "version": "group_version",
        "created_at": "group_created_at",
        "updated_at": "group_updated_at",
    }
}
# Each loader's read, by the loader's name in Loaders.
SOURCES: dict[str, KeyedRead | MemberPagesRead | RootPageRead] = {
    "user": KeyedRead(users.USERS_BY_IDS, by_id, columns=_USER_COLUMNS, type_name="User"),
    "contact": KeyedRead(
        contacts.CONTACTS_BY_IDS, by_id, (), _CONTACT_COLUMNS, _CONTACT_CARRIES, "Contact"
    ),
    "contacts": KeyedRead(
        contacts.CONTACTS_BY_USER_IDS,
        by_user,
        (False,),
        _CONTACT_COLUMNS,
        _CONTACT_CARRIES,
        "Contact",
    ),
    "all_contacts": KeyedRead(
        contacts.CONTACTS_BY_USER_IDS,
        by_user,
        (True,),
        _CONTACT_COLUMNS,
        _CONTACT_CARRIES,
        "Contact",
    ),
    "contact_type": KeyedRead(contact_types.CONTACT_TYPES_BY_IDS, by_id, type_name="ContactType"),
    "memberships": KeyedRead(
        memberships.MEMBERSHIPS_BY_USER_IDS,
        by_user,
        columns=frozenset({"user_id", "group_id", "added_by"}),
        carries=_MEMBERSHIP_CARRIES,
        type_name="Membership",
        joins={"group": memberships.MEMBERSHIPS_WITH_GROUPS},
    ),
    "sessions": KeyedRead(sessions.SESSIONS_OF_USERS, by_user, type_name="Session"),
    "group": KeyedRead(
        groups.GROUPS_BY_IDS,
        by_id,
        columns=frozenset({"id"}),
        carries=_GROUP_CARRIES,
        type_name="Group",
        joins={"member_count": groups.GROUPS_WITH_MEMBER_COUNTS},
    ),
    "member_count": KeyedRead(groups.MEMBER_COUNTS, counts),
    "member_page": MemberPagesRead(),
    "users_page": RootPageRead(users.USERS_PAGE, users.user_page, "User", "user"),
    "groups_page": RootPageRead(groups.GROUPS_PAGE, groups.group_page, "Group", "group"),
}


def projection(loader: str, needs: frozenset[str]) -> frozenset[str] | None:
    """The columns a loader asks for when its rows are used for `needs` alone,
    or None when it reads them whole."""
    read = SOURCES[loader]
    return None if isinstance(read, MemberPagesRead) else read.projection(needs)


def rows_type(loader: str) -> str | None:
    """The GraphQL type a loader's rows are, if one."""
    read = SOURCES[loader]
    return None if isinstance(read, MemberPagesRead) else read.type_name


def primed(loader: str) -> str | None:
    """The loader a root page's rows are primed in."""
    read = SOURCES[loader]
    return read.primes if isinstance(read, RootPageRead) else None
