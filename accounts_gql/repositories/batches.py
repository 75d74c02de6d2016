"""Batch reads, several in one statement (PRODUCT §8).

Every statement costs PostgreSQL a wake-up, a transaction and a round trip, and
the service the same on its side: on the bench's machines far more than the
function bodies of our batch reads (docs/performance.md). So the batch reads a
query needs at once go out as one statement, and so do the reads whose keys are
a column of another's rows (a membership's group): PostgreSQL computes those
keys itself, in the same snapshot.

A `BatchCall` is one batch read: a SELECT over one stored function whose first
parameter (`$1`) takes the keys. A `Fetch` is a call to make with its keys, or,
as a follower of another fetch, with the distinct non-null values of one column
of that fetch's rows. `fetch_all` makes a forest of fetches in one statement:

    WITH q0 AS MATERIALIZED (SELECT … FROM accounts.memberships_by_user_ids($1)),
         k1 AS (SELECT ARRAY(SELECT DISTINCT group_id FROM q0
                             WHERE group_id IS NOT NULL) AS keys),
         q1 AS MATERIALIZED (SELECT … FROM accounts.groups_by_ids((SELECT keys FROM k1)))
    SELECT ARRAY(SELECT q0 FROM q0), (SELECT keys FROM k1), ARRAY(SELECT q1 FROM q1)

Each call's rows come back as an array of records: tuples in the call's column
order, which row classes take positionally as they take asyncpg's records.
A lone fetch with nothing following it is sent as its own call.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from accounts_gql.db.pool import Executor
from accounts_gql.repositories.errors import domain_errors

_PARAMETER = re.compile(r"\$(\d+)")
# Composed statement texts by the shape of their forest: a few per application.
_STATEMENTS: dict[tuple[Any, ...], str] = {}
_MAX_STATEMENTS = 1000


@dataclass(frozen=True, slots=True)
class BatchCall:
    """`SELECT … FROM accounts.f($1, $2, …)`, `$1` taking the keys; `row` makes a
    row object of one of its records (an asyncpg record or a tuple)."""

    sql: str
    row: Callable[[Any], Any]


@dataclass(slots=True, eq=False)
class Fetch:
    """A call with its keys and further arguments (`$2`, …), or a follower's: keys
    from `column` of its parent's rows.

    `fetch_all` fills `records`, and for a follower `keys`, as PostgreSQL gave them.
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
    """Makes every fetch and its followers in one statement; fills their rows."""
    if len(fetches) == 1 and not fetches[0].follows:
        only = fetches[0]
        async with domain_errors():
            only.records = await db.fetch(only.call.sql, only.keys, *only.args)
        return
    shape = tuple(fetch.shape() for fetch in fetches)
    statement = _STATEMENTS.get(shape)
    if statement is None:
        statement = _compose(fetches)
        if len(_STATEMENTS) >= _MAX_STATEMENTS:
            _STATEMENTS.clear()
        _STATEMENTS[shape] = statement
    async with domain_errors():
        record = await db.fetchrow(statement, *_arguments(fetches))
    assert record is not None
    values = iter(record)
    for fetch in _preorder(fetches):
        if fetch.column is not None:
            fetch.keys = next(values)
        fetch.records = next(values)


def _preorder(fetches: list[Fetch]) -> list[Fetch]:
    ordered: list[Fetch] = []
    for fetch in fetches:
        ordered.append(fetch)
        ordered.extend(_preorder(fetch.follows))
    return ordered


def _arguments(fetches: list[Fetch]) -> list[object]:
    """The statement's parameters, in the order `_compose` numbers them."""
    arguments: list[object] = []
    for fetch in _preorder(fetches):
        if fetch.column is None:
            arguments.append(fetch.keys)
        arguments.extend(fetch.args)
    return arguments


def _compose(fetches: list[Fetch]) -> str:
    ctes: list[str] = []
    outputs: list[str] = []
    number = 0  # parameters numbered so far
    names: dict[int, str] = {}  # id(fetch) -> its CTE

    def add(fetch: Fetch, parent: str | None) -> None:
        nonlocal number
        index = len(names)
        name = names[id(fetch)] = f"q{index}"
        if parent is None:
            number += 1
            keys = f"${number}"
        else:
            column = fetch.column
            assert column is not None
            assert column.isidentifier(), column
            ctes.append(
                f"k{index} AS (SELECT ARRAY(SELECT DISTINCT {column} FROM {parent}"
                f" WHERE {column} IS NOT NULL) AS keys)"
            )
            keys = f"(SELECT keys FROM k{index})"
            outputs.append(keys)
        first_argument = number

        def renumber(match: re.Match[str]) -> str:
            position = int(match.group(1))
            return keys if position == 1 else f"${first_argument + position - 1}"

        ctes.append(f"{name} AS MATERIALIZED ({_PARAMETER.sub(renumber, fetch.call.sql)})")
        number += len(fetch.args)
        outputs.append(f"ARRAY(SELECT {name} FROM {name})")
        for follower in fetch.follows:
            add(follower, name)

    for fetch in fetches:
        add(fetch, None)
    return f"WITH {', '.join(ctes)} SELECT {', '.join(outputs)}"
