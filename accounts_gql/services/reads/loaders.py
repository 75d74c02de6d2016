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
its reads declare; any other read of them (a key outside its rows) leaves them
whole (api/engine/plans.py, `projections`).
"""

from __future__ import annotations

import uuid
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import partial
from typing import Any, Generic, TypeVar, overload

from accounts_gql.core.dataloader import Batching, Loader
from accounts_gql.db.pool import Executor
from accounts_gql.repositories import groups, users
from accounts_gql.repositories.batches import BatchCall, Fetch, fetch_all
from accounts_gql.repositories.contact_types import ContactTypeRow
from accounts_gql.repositories.contacts import ContactRow
from accounts_gql.repositories.groups import GroupRow
from accounts_gql.repositories.memberships import MemberPage, MembershipRow
from accounts_gql.repositories.sessions import SessionRow
from accounts_gql.repositories.users import UserRow
from accounts_gql.services.reads.sources import (
    SOURCES,
    KeyedRead,
    MemberPageKey,
    MemberPagesRead,
    PageKey,
)

T = TypeVar("T")


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
        module; services/reads/sources.py, `projection`, gives them)."""
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
            loader.prime_many(primed, read.answer(primed, [fetch]))
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
            found_carried = self._carried(name, fetch.call, follower, column)
            if found_carried is not None:
                fetch.call, call, sources = found_carried
                made = Fetch(call)
                carried.append((made, fetch, column, sources))
                found.append((follower, made, shape))
                continue
            followed = SOURCES[follower].follower(column, self._calls.get(follower), shape)
            fetch.follows.append(followed)
            found.append((follower, followed, shape))
            self._add_followers(follower, followed, chain | {follower}, found, carried)

    def _carried(
        self, name: str, ours: BatchCall, follower: str, column: str
    ) -> tuple[BatchCall, BatchCall, tuple[str, ...]] | None:
        """When rows of `name` carry all the follower is asked for here, keyed by
        `column`: the call to ask for them (`ours`, or the one of `joins` that holds
        what `ours` lacks, for `ours`'s columns and those), the follower's call, and
        the columns of our rows that make its rows, in its call's order; else None."""
        read, target = SOURCES[name], SOURCES[follower]
        if not isinstance(read, KeyedRead) or not isinstance(target, KeyedRead):
            return None
        carries, call = read.carries.get(follower), self._calls.get(follower, target.call)
        if carries is None or self._followers.get(follower):
            return None
        if carries.get(target.keyed_by) != column or not set(call.columns) <= carries.keys():
            return None
        sources = tuple(carries[own] for own in call.columns)
        if set(sources) <= set(ours.columns):
            return ours, call, sources
        joined = read.joins.get(follower)
        if joined is None:
            return None
        wanted = {*ours.columns, *sources}
        return joined.project(wanted) if joined.narrower(wanted) else joined, call, sources

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
