"""Batch reads, several in one statement (PRODUCT §8).

Every statement costs PostgreSQL a wake-up, a transaction and a round trip, and
the service the same on its side: on the bench's machines far more than the
function bodies of our batch reads (docs/performance.md). So the batch reads a
query needs at once go out as one statement, and so do the reads whose keys are
a column of another's rows (a membership's group): PostgreSQL computes those
keys itself, in the same snapshot.

A `BatchCall` is one batch read: a SELECT over one stored function whose first
parameter (`$1`) takes the keys (or, for a root page, none: its parameters are
its size, cursors and filters), and the names of the columns it returns. A
`Fetch` is a call to make with its keys, or, as a follower of another fetch,
with the distinct non-null values of one column of that fetch's rows.
`fetch_all` makes a forest of fetches in one statement, each call's rows as
rows of the statement, told apart by their first column and padded with the
other calls' columns as typed nulls:

    WITH q0 AS MATERIALIZED (SELECT user_id, group_id, … FROM
                             accounts.memberships_by_user_ids($1))
    SELECT 0, q0.*, NULL::uuid, NULL::text, … FROM q0
    UNION ALL SELECT 1, NULL::uuid, …, q1.* FROM (SELECT id, slug, … FROM
        accounts.groups_by_ids(ARRAY(SELECT DISTINCT group_id FROM q0
                                     WHERE group_id IS NOT NULL))) AS q1

Rows, not arrays of records: a record built and sent per row costs PostgreSQL
about as much as the statement it saves once a call returns a hundred rows; a
padded row costs a few null markers. Only a call that others follow by its
rows is kept (MATERIALIZED: its rows are read twice); a follower by the column
that holds its parent's keys (a user's contacts by the user's id) takes the
parent's keys instead (`$1` again), which on Q1's statement saved PostgreSQL a
tenth of its CPU, and one by a column no two of its parent's rows share (a
page's ids) takes them as they are, without a DISTINCT. A lone fetch with
nothing following it is sent as its own call.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, is_dataclass
from dataclasses import fields as dataclass_fields
from operator import itemgetter
from typing import Any

from accounts_gql.db.pool import Executor
from accounts_gql.repositories.errors import domain_errors
from accounts_gql.repositories.rows import maker, projection

_PARAMETER = re.compile(r"\$(\d+)")
_MAX_STATEMENTS = 1000


@dataclass(frozen=True, slots=True)
class BatchCall:
    """`SELECT … FROM accounts.f($1, $2, …)`, `$1` taking the keys; `columns` and
    `types` are those it returns, in order (tests/test_batch_calls.py holds them to
    the functions); `row` makes a row object of one of its records (an asyncpg
    record or a tuple of one). When `kind`, the row class, has the columns as its
    fields, the call can be projected: asked for fewer columns (`project`)."""

    sql: str
    columns: tuple[str, ...]
    types: tuple[str, ...]
    row: Callable[[Any], Any]
    function: str = ""
    kind: type | None = None
    # Whether `$1` takes keys; a call without (a root page) takes only arguments.
    keyed: bool = True
    # Columns after the row class's fields (a page's has_more), kept by `project`.
    extras: int = 0
    # The column holding the key each row was asked by (of a keyed call).
    key: str | None = None
    # A column no two of its rows share, never null (a user's id).
    unique: str | None = None

    def narrower(self, columns: Collection[str]) -> bool:
        """Whether `columns` are some of its row class's fields, not all: what
        `project` can ask for instead of the whole call."""
        fields = self.columns[: len(self.columns) - self.extras]
        return self.kind is not None and set(columns) < set(fields)

    def project(self, columns: Collection[str]) -> BatchCall:
        """The call returning only `columns` (a subset of its own), in its order, its
        rows with those fields alone (repositories/rows.py, `projection`)."""
        assert self.kind is not None, self.function
        extra = self.columns[len(self.columns) - self.extras :]
        kept = frozenset(columns) | frozenset(extra)
        key = (self.sql, kept)
        projected = _PROJECTED.get(key)
        if projected is None:
            if unknown := kept - set(self.columns):
                raise ValueError(f"{self.function} returns no {sorted(unknown)}")
            pairs = [(n, t) for n, t in zip(self.columns, self.types, strict=True) if n in kept]
            names = tuple(name for name, _ in pairs)
            projected = BatchCall(
                _select(names, self.function),
                names,
                tuple(kind for _, kind in pairs),
                projection(self.kind, names[: len(names) - self.extras]),
                self.function,
                self.kind,
                self.keyed,
                self.extras,
                self.key if self.key in names else None,
                self.unique if self.unique in names else None,
            )
            if len(_PROJECTED) >= _MAX_STATEMENTS:
                _PROJECTED.clear()
            _PROJECTED[key] = projected
        return projected


# Projected calls by (statement, columns): a few per loader.
_PROJECTED: dict[tuple[str, frozenset[str]], BatchCall] = {}


def _select(names: Sequence[str], function: str) -> str:
    return f"SELECT {', '.join(names)} FROM accounts.{function}"


def batch_call(
    function: str,
    columns: str,
    row: Callable[[Any], Any] | type,
    *,
    keyed: bool = True,
    extras: int = 0,
    key: str | None = None,
    unique: str | None = None,
) -> BatchCall:
    """A call of `accounts.function` (`"users_by_ids($1)"`) that returns `columns`,
    named with their types (`"id uuid, username text"`). `row` makes a row of a
    record, or is the row class (a slotted dataclass whose fields are the
    columns, in order, before `extras` more), and then the call can be
    projected. `key`: the column that holds the key each row was asked by (a
    user's `id`, a contact's `user_id`), which every keyed call names;
    `unique`: a column no two of its rows share and none leaves null. Not
    `keyed`: its parameters are all arguments (a page: its size, cursors,
    filters)."""
    pairs = [column.split() for column in columns.split(",")]
    names = tuple(name for name, _ in pairs)
    types = tuple(type_name for _, type_name in pairs)
    if keyed and key not in names:
        raise TypeError(f"{function}: a keyed call names the column of its keys")
    if not keyed and key is not None:
        raise TypeError(f"{function}: a call without keys has no column of them")
    if unique is not None and unique not in names:
        raise TypeError(f"{function} returns no {unique}")
    kind: type | None = None
    if isinstance(row, type) and is_dataclass(row):
        kind = row
        own = names[: len(names) - extras]
        if (fields := tuple(field.name for field in dataclass_fields(row))) != own:
            raise TypeError(f"{function}: {row.__name__}'s fields {fields} are not {own}")
        row = maker(row)
    return BatchCall(
        _select(names, function), names, types, row, function, kind, keyed, extras, key, unique
    )


@dataclass(slots=True, eq=False)
class Fetch:
    """A call with its keys and further arguments (`$2`, …), or a follower's: keys
    from `column` of its parent's rows.

    `fetch_all` fills `records`, and for a follower `keys`: its parent's keys when
    it follows the column that holds them, else the values found in that column.
    """

    call: BatchCall
    keys: list[Any] | None = None
    args: tuple[object, ...] = ()
    column: str | None = None
    follows: list[Fetch] = field(default_factory=list)
    records: Sequence[Any] = ()

    def rows(self) -> list[Any]:
        return list(map(self.call.row, self.records))

    def shape(self) -> tuple[Any, ...]:
        return (self.call.sql, self.column, tuple(follower.shape() for follower in self.follows))


async def fetch_rows(db: Executor, call: BatchCall, keys: list[Any], *args: object) -> list[Any]:
    """The rows of one call: a statement of its own."""
    fetch = Fetch(call, keys, args)
    await fetch_all(db, [fetch])
    return fetch.rows()


async def fetch_all(db: Executor, fetches: list[Fetch]) -> None:
    """Makes every fetch and its followers in one statement; fills their records."""
    if len(fetches) == 1 and not fetches[0].follows:
        only = fetches[0]
        async with domain_errors():
            keys = [only.keys] if only.call.keyed else []
            only.records = await db.fetch(only.call.sql, *keys, *only.args)
        return
    ordered = _preorder(fetches, None)
    shape = tuple(fetch.shape() for fetch in fetches)
    composed = _COMPOSED.get(shape)
    if composed is None:
        composed = _compose(ordered)
        if len(_COMPOSED) >= _MAX_STATEMENTS:
            _COMPOSED.clear()
        _COMPOSED[shape] = composed
    async with domain_errors():
        records = await db.fetch(composed.sql, *_arguments(ordered))
    parts: list[list[Any]] = [[] for _ in ordered]
    for record in records:
        parts[record[0]].append(record)
    for (fetch, parent), part, columns in zip(ordered, parts, composed.columns, strict=True):
        fetch.records = list(map(columns, part))
        if parent is not None and _by_keys(fetch, parent):
            fetch.keys = parent.keys
        elif parent is not None:
            assert fetch.column is not None
            index = parent.call.columns.index(fetch.column)
            if fetch.column == parent.call.unique:
                fetch.keys = [row[index] for row in parent.records]
            else:
                fetch.keys = list(
                    {key for row in parent.records if (key := row[index]) is not None}
                )


def _by_keys(fetch: Fetch, parent: Fetch) -> bool:
    """Whether `fetch` follows the column that holds its parent's keys (a user's
    contacts by the user's id): then it takes those keys, with no need of the
    parent's rows, so PostgreSQL neither keeps them nor collects their keys."""
    return fetch.column is not None and fetch.column == parent.call.key


def _preorder(fetches: list[Fetch], parent: Fetch | None) -> list[tuple[Fetch, Fetch | None]]:
    """Each fetch after its parent, with its parent (None for the given ones)."""
    ordered: list[tuple[Fetch, Fetch | None]] = []
    for fetch in fetches:
        ordered.append((fetch, parent))
        ordered.extend(_preorder(fetch.follows, fetch))
    return ordered


def _arguments(ordered: list[tuple[Fetch, Fetch | None]]) -> list[object]:
    """The statement's parameters, in the order `_compose` numbers them."""
    arguments: list[object] = []
    for fetch, parent in ordered:
        if parent is None and fetch.call.keyed:
            arguments.append(fetch.keys)
        arguments.extend(fetch.args)
    return arguments


@dataclass(frozen=True, slots=True)
class _Composed:
    """A composed statement, and for each call how to take its columns from a row."""

    sql: str
    columns: list[Callable[[Any], tuple[Any, ...]]]


# Composed statements by the shape of their forest: a few per application.
_COMPOSED: dict[tuple[Any, ...], _Composed] = {}


def _compose(ordered: list[tuple[Fetch, Fetch | None]]) -> _Composed:
    names = {id(fetch): f"q{index}" for index, (fetch, _) in enumerate(ordered)}
    given: dict[int, str] = {}  # each fetch's keys, as the statement has them
    ctes: list[str] = []
    sources: list[str] = []  # what each part selects from
    number = 0  # parameters numbered so far
    for fetch, parent in ordered:
        keys: str | None = None  # what `$1` becomes, when it takes keys
        if parent is None:
            if fetch.call.keyed:
                number += 1
                keys = f"${number}"
        elif _by_keys(fetch, parent):
            keys = given[id(parent)]
        else:
            column = fetch.column
            assert column is not None
            assert column in parent.call.columns, column
            assert fetch.call.keyed, fetch.call.function
            if column == parent.call.unique:  # no need to collect them (a page's ids)
                keys = f"ARRAY(SELECT {column} FROM {names[id(parent)]})"
            else:
                keys = (
                    f"ARRAY(SELECT DISTINCT {column} FROM {names[id(parent)]}"
                    f" WHERE {column} IS NOT NULL)"
                )
        # Its own `$p` (after the keys' `$1`, if any) is the statement's `$(offset + p)`.
        offset = number - 1 if keys is not None else number

        def renumber(match: re.Match[str], keys: str | None = keys, offset: int = offset) -> str:
            position = int(match.group(1))
            return keys if keys is not None and position == 1 else f"${offset + position}"

        if keys is not None:
            given[id(fetch)] = keys
        sql, name = _PARAMETER.sub(renumber, fetch.call.sql), names[id(fetch)]
        if any(not _by_keys(follower, fetch) for follower in fetch.follows):
            ctes.append(f"{name} AS MATERIALIZED ({sql})")
            sources.append(name)
        else:
            sources.append(f"({sql}) AS {name}")
        number += len(fetch.args)
    slots, placements = _slots([fetch.call for fetch, _ in ordered])
    parts = []
    for index, ((fetch, _), source, placed) in enumerate(
        zip(ordered, sources, placements, strict=True)
    ):
        name = names[id(fetch)]
        mine = {slot: column for column, slot in zip(fetch.call.columns, placed, strict=True)}
        values = [
            f"{name}.{mine[slot]}" if slot in mine else f"NULL::{kind}"
            for slot, kind in enumerate(slots)
        ]
        parts.append(f"SELECT {index}, {', '.join(values)} FROM {source}")
    union = " UNION ALL ".join(parts)
    getters = [_getter([1 + slot for slot in placed]) for placed in placements]
    return _Composed(f"WITH {', '.join(ctes)} {union}" if ctes else union, getters)


def _slots(calls: list[BatchCall]) -> tuple[list[str], list[list[int]]]:
    """Columns of the statement, by type, shared by the calls (each part uses its
    own and leaves the rest null): as many of each type as the call that needs the
    most. Returns the columns' types, and for each call the column of each of its."""
    slots: list[str] = []
    placements: list[list[int]] = []
    for call in calls:
        used: dict[str, int] = {}
        placed = []
        for kind in call.types:
            nth = used[kind] = used.get(kind, 0) + 1
            matching = [slot for slot, slot_kind in enumerate(slots) if slot_kind == kind]
            if len(matching) < nth:
                slots.append(kind)
                matching.append(len(slots) - 1)
            placed.append(matching[nth - 1])
        placements.append(placed)
    return slots, placements


def _getter(positions: list[int]) -> Callable[[Any], tuple[Any, ...]]:
    """A row's columns at `positions`, as a tuple."""
    if len(positions) == 1:
        (position,) = positions
        return lambda row: (row[position],)
    return itemgetter(*positions)
