"""The dataloaders of one request (PRODUCT §4), over the repositories' batch reads.

Created per request, so no caller ever sees rows cached for another. A loader is
how a batch read of a repository (`…_by_ids(uuid[])`, repositories/batches.py)
is called per request: the keys a level of the query asks for in one round are
fetched by one call, and the calls of every loader of a level by one statement.
The loaders read through the request's executor: its one connection for a query
(see RequestConnection), the primary after a mutation, so that a payload shows
what was just written.

A loader may also be followed (`Loaders.follow`): whenever it fetches, the keys
another loader will be asked for, a column of its rows (a membership's group id),
are fetched in the same statement and cached there. An execution plan knows
which reads lie below which (services/reads/contract.py, `Read.rows` and
`Read.key`) and says so before it runs; a follower's values are what its own
fetch would have given, so nothing but the number of statements changes. A
follower may also be keyed by the arguments of the field that asks it (a group's
page of members: `Read.shape`); the plan works that part out per request and
the follower is fetched for it (`follow_shaped`).

Projections. Most queries read a few fields of a row (a member's username and
display name), and decoding the rest costs more than anything else a large
answer needs: asyncpg builds a datetime of every timestamp, PostgreSQL sends the
profile's JSON (docs/performance.md). So a plan may also say, before it runs,
which columns of a loader's rows its fields and reads use (`Loaders.project`,
from the fields' and reads' declarations), and the loader asks its call for
those, with the columns it keys and is followed by. Its rows then have only
those fields set (repositories/rows.py, `projection`): a use nobody declared
raises AttributeError, the plan gives up, and the standard path, whose loaders
always read whole rows, answers. A plan projects only loaders whose rows all
its reads declare; any other read of them (`node`, a key outside its rows)
leaves them whole (api/engine/plans.py, `projections`).
"""

from __future__ import annotations

import uuid
import weakref
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Generic, TypeVar, overload

from accounts_gql.core.dataloader import Batching, Loader
from accounts_gql.db.pool import Executor
from accounts_gql.repositories import contact_types, contacts, groups, memberships, sessions, users
from accounts_gql.repositories.batches import BatchCall, Fetch, fetch_all
from accounts_gql.repositories.contact_types import ContactTypeRow
from accounts_gql.repositories.contacts import ContactRow
from accounts_gql.repositories.groups import GroupRow
from accounts_gql.repositories.memberships import EMPTY_PAGE, MemberPage, MembershipRow
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
    """A loader whose keys are the values of one column (`keyed_by`) and go to one
    call; `values` gives each key's value from the call's rows. `columns`: those
    of its rows that another loader may take keys from (`Loaders.follow`);
    `carries`: what they hold of another loader's rows (a contact its type's id
    and code)."""

    call: BatchCall
    values: Callable[[list[Any], Rows], list[Any]]
    keyed_by: str
    args: tuple[object, ...] = ()
    columns: frozenset[str] = frozenset()
    # Columns of another loader's rows that these rows carry: {loader: {its column:
    # ours}}. A follower asked only for those is made of our rows, not fetched.
    carries: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    # The GraphQL type its rows are (None: not one type).
    type_name: str | None = None
    # Its keys are a column's values alone: it follows without a shape.
    shaped = False

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
        call = self.call
        wanted = needs | self.columns | {self.keyed_by}
        if call.kind is None or not wanted < set(call.columns):
            return None
        return wanted


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
        call = self.call
        fields = set(call.columns[: len(call.columns) - call.extras])
        wanted = needs | self.columns
        if call.kind is None or not wanted < fields:
            return None
        return wanted

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
# Each loader's read, by the loader's name in Loaders.
SOURCES: dict[str, KeyedRead | MemberPagesRead | RootPageRead] = {
    "user": KeyedRead(users.USERS_BY_IDS, by_id, "id", columns=_USER_COLUMNS, type_name="User"),
    "contact": KeyedRead(
        contacts.CONTACTS_BY_IDS, by_id, "id", (), _CONTACT_COLUMNS, _CONTACT_CARRIES, "Contact"
    ),
    "contacts": KeyedRead(
        contacts.CONTACTS_BY_USER_IDS,
        by_user,
        "user_id",
        (False,),
        _CONTACT_COLUMNS,
        _CONTACT_CARRIES,
        "Contact",
    ),
    "all_contacts": KeyedRead(
        contacts.CONTACTS_BY_USER_IDS,
        by_user,
        "user_id",
        (True,),
        _CONTACT_COLUMNS,
        _CONTACT_CARRIES,
        "Contact",
    ),
    "contact_type": KeyedRead(
        contact_types.CONTACT_TYPES_BY_IDS, by_id, "id", type_name="ContactType"
    ),
    "memberships": KeyedRead(
        memberships.MEMBERSHIPS_BY_USER_IDS,
        by_user,
        "user_id",
        columns=frozenset({"user_id", "group_id", "added_by"}),
        type_name="Membership",
    ),
    "sessions": KeyedRead(sessions.SESSIONS_OF_USERS, by_user, "user_id", type_name="Session"),
    "group": KeyedRead(
        groups.GROUPS_BY_IDS, by_id, "id", columns=frozenset({"id"}), type_name="Group"
    ),
    "member_count": KeyedRead(groups.MEMBER_COUNTS, counts, "group_id"),
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


def _carry(made: Fetch, parent: Fetch, column: str, sources: tuple[str, ...]) -> None:
    """Fills `made` with a record per distinct non-null `column` of `parent`'s rows,
    of their `sources` columns."""
    columns = parent.call.columns
    key_at, at = columns.index(column), [columns.index(source) for source in sources]
    found: dict[Any, tuple[Any, ...]] = {}
    for record in parent.records:
        key = record[key_at]
        if key is not None and key not in found:
            found[key] = tuple(record[index] for index in at)
    made.keys, made.records = list(found), list(found.values())


def _alive(loaders: weakref.ref[Loaders]) -> Loaders:
    found = loaders()
    if found is None:  # a loader kept past its request's context
        raise RuntimeError("a loader was used after its request ended")
    return found


async def _fetch_alone(loaders: weakref.ref[Loaders], name: str, keys: list[Any]) -> list[Any]:
    return await _alive(loaders).fetch_alone(name, keys)


async def _together(
    loaders: weakref.ref[Loaders], wanted: list[tuple[Loader[Any, Any], list[Any]]]
) -> list[Sequence[Any] | Exception]:
    return await _alive(loaders).together(wanted)


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


# (loader, follower, column): when `loader` fetches, `follower` fetches the keys
# in `column` of its rows in the same statement.
Link = tuple[str, str, str]


class Loaders:
    """Each loader is made on first use: most requests need two or three of them."""

    def __init__(self, db: Executor) -> None:
        self.db = db
        # The loaders and their batching reach back here through a weak reference:
        # a strong one would make a cycle of every request's loaders and all the
        # rows they cache, which only the garbage collector could free, in pauses
        # as long as the rows are many (docs/performance.md, "The collector").
        self._this = weakref.ref(self)
        # A query's plan collects each level's batches and fetches them together.
        self.batching = Batching(partial(_together, self._this))
        # Each loader's followers: (follower, column, shape); see `follow_shaped`.
        self._followers: dict[str, list[tuple[str, str, Any]]] = {}
        self._calls: dict[str, BatchCall] = {}  # projected calls, by loader

    def follow(self, links: Iterable[Link]) -> None:
        """Fetches each follower with its loader from now on (see the module).
        A link whose column the loader's rows lack, or whose follower needs a
        shape, is left out."""
        for loader, follower, column in links:
            self._add_follower(loader, follower, column, None)

    def follow_shaped(self, loader: str, follower: str, column: str, shape: Any) -> None:
        """Like `follow`, for a follower whose keys are a column's values and a shape
        the field's arguments give (a group's page of members: a page request and
        a role), fetched for that shape."""
        self._add_follower(loader, follower, column, shape)

    def _add_follower(self, loader: str, follower: str, column: str, shape: Any) -> None:
        if column in SOURCES[loader].columns and SOURCES[follower].shaped == (shape is not None):
            followers = self._followers.setdefault(loader, [])
            if (follower, column, shape) not in followers:  # two fields, one page
                followers.append((follower, column, shape))

    def release(self) -> None:
        """Drops every row the loaders cached, once the request is answered.
        graphql-core's standard execution keeps its context in a reference cycle
        (its executor holds bound methods of itself), so what the context holds
        waits for the collector; the rows need not wait with it."""
        for name in SOURCES:
            loader = self.__dict__.get(name)
            if loader is not None:
                loader.clear_all()

    def project(self, projections: Mapping[str, frozenset[str]]) -> None:
        """Reads only the given columns of each loader's rows from now on (see the
        module; `projection` gives them)."""
        for name, columns in projections.items():
            read = SOURCES[name]
            assert not isinstance(read, MemberPagesRead), name
            self._calls[name] = read.call.project(columns)

    def _loader(self, name: str) -> Loader[Any, Any]:
        return Loader(partial(_fetch_alone, self._this, name), self.batching, name)

    async def fetch_alone(self, name: str, keys: list[Any]) -> list[Any]:
        [answer] = await self._fetch([(name, keys)])
        if isinstance(answer, Exception):
            raise answer
        values: list[Any] = answer
        return values

    async def together(
        self, wanted: list[tuple[Loader[Any, Any], list[Any]]]
    ) -> list[Sequence[Any] | Exception]:
        return await self._fetch([(loader.source, keys) for loader, keys in wanted])

    async def _fetch(self, wanted: list[tuple[str, list[Any]]]) -> list[Any]:
        """Each loader's values of its keys, or the error that kept them: one statement."""
        calls: list[list[Fetch]] = []
        followers: list[tuple[str, Fetch, Any]] = []
        carried: list[tuple[Fetch, Fetch, str, tuple[str, ...]]] = []
        for name, keys in wanted:
            fetches = SOURCES[name].fetches(keys, self._calls.get(name))
            for fetch in fetches:
                self._add_followers(name, fetch, {name}, followers, carried)
            calls.append(fetches)
        try:
            await fetch_all(self.db, [fetch for fetches in calls for fetch in fetches])
        except Exception as error:
            return [error] * len(wanted)
        for made, parent, column, sources in carried:
            _carry(made, parent, column, sources)
        answers: list[Any] = []
        for (name, keys), fetches in zip(wanted, calls, strict=True):
            try:
                answers.append(SOURCES[name].answer(keys, fetches))
            except Exception as error:
                answers.append(error)
        for name, fetch, shape in followers:
            loader, read = getattr(self, name), SOURCES[name]
            primed: list[Any] = read.follower_keys(list(fetch.keys or ()), shape)
            if not primed:
                continue
            for key, value in zip(primed, read.answer(primed, [fetch]), strict=True):
                loader.prime(key, value)
        return answers

    def _add_followers(
        self,
        name: str,
        fetch: Fetch,
        chain: set[str],
        found: list[tuple[str, Fetch, Any]],
        carried: list[tuple[Fetch, Fetch, str, tuple[str, ...]]],
    ) -> None:
        """Follows `fetch` by the followers of its loader, and theirs, once per path;
        a follower that `fetch`'s rows carry is made of them instead (`carries`)."""
        for follower, column, shape in self._followers.get(name, ()):
            if follower in chain:
                continue
            sources = self._carried(name, fetch, follower, column)
            if sources is not None:
                made = Fetch(self._calls[follower])
                carried.append((made, fetch, column, sources))
                found.append((follower, made, shape))
                continue
            followed = SOURCES[follower].follower(column, self._calls.get(follower), shape)
            fetch.follows.append(followed)
            found.append((follower, followed, shape))
            self._add_followers(follower, followed, chain | {follower}, found, carried)

    def _carried(
        self, name: str, fetch: Fetch, follower: str, column: str
    ) -> tuple[str, ...] | None:
        """The columns of `fetch`'s rows that make the follower's, in its call's order,
        when they carry all it is asked for here, keyed by `column`; else None."""
        read, call = SOURCES[name], self._calls.get(follower)
        if not isinstance(read, KeyedRead) or call is None or self._followers.get(follower):
            return None
        carries = read.carries.get(follower)
        target = SOURCES[follower]
        if carries is None or not isinstance(target, KeyedRead):
            return None
        if carries.get(target.keyed_by) != column or not set(call.columns) <= carries.keys():
            return None
        sources = tuple(carries[own] for own in call.columns)
        return sources if set(sources) <= set(fetch.call.columns) else None

    @made_on_first_use
    def user(self) -> Loader[uuid.UUID, UserRow | None]:
        return self._loader("user")

    @made_on_first_use
    def contact(self) -> Loader[uuid.UUID, ContactRow | None]:
        return self._loader("contact")

    @made_on_first_use
    def contacts(self) -> Loader[uuid.UUID, list[ContactRow]]:
        return self._loader("contacts")

    @made_on_first_use
    def all_contacts(self) -> Loader[uuid.UUID, list[ContactRow]]:
        return self._loader("all_contacts")

    @made_on_first_use
    def contact_type(self) -> Loader[uuid.UUID, ContactTypeRow | None]:
        return self._loader("contact_type")

    @made_on_first_use
    def memberships(self) -> Loader[uuid.UUID, list[MembershipRow]]:
        return self._loader("memberships")

    @made_on_first_use
    def sessions(self) -> Loader[uuid.UUID, list[SessionRow]]:
        return self._loader("sessions")

    @made_on_first_use
    def group(self) -> Loader[uuid.UUID, GroupRow | None]:
        return self._loader("group")

    @made_on_first_use
    def member_count(self) -> Loader[uuid.UUID, int]:
        return self._loader("member_count")

    @made_on_first_use
    def member_page(self) -> Loader[MemberPageKey, MemberPage]:
        return self._loader("member_page")

    @made_on_first_use
    def users_page(self) -> Loader[PageKey, users.UserPage]:
        return self._loader("users_page")

    @made_on_first_use
    def groups_page(self) -> Loader[PageKey, groups.GroupPage]:
        return self._loader("groups_page")
