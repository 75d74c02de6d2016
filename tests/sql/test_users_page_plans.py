"""Unfiltered user pages on static queries (sql/0016_users_page_plans.sql).

users_page answers a call without filters from one of its static queries, and
any other call through the statement-building function of 0002, renamed
users_page_filtered. The two must give the same rows, flags and errors for
every order, direction, page size and cursor, which these tests compare on the
run's database; and a deep page of the static queries reads about a page.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import pytest

from accounts_gql.repositories import users
from tests.conftest import SERVER_URL, database_url_for
from tests.sql.explained import explain_nested, inner_plans, run_explained

ORDERS = ["created_at_asc", "created_at_desc", "username_asc", "username_desc"]
CALL = "SELECT * FROM accounts.{}($1, $2, $3, $4, $5, $6, $7, NULL, NULL, NULL, NULL)"


async def answer(db: asyncpg.Connection, function: str, *args: object) -> object:
    """Rows of a call, or its error as the service sees it (SQLSTATE, message, field)."""
    try:
        return [tuple(row) for row in await db.fetch(CALL.format(function), *args)]
    except asyncpg.PostgresError as error:
        return (error.sqlstate, str(error), getattr(error, "column_name", None))


async def same(db: asyncpg.Connection, *args: object) -> Any:
    served = await answer(db, "users_page", *args)
    assert served == await answer(db, "users_page_filtered", *args), args
    return served


@pytest.fixture
async def names(db: asyncpg.Connection) -> list[uuid.UUID]:
    """Sixteen users of our own, with ties on created_at, so there is something to page."""
    token = uuid.uuid4().hex[:6]
    ids = []
    async with db.transaction():  # one now(): every row ties on created_at
        for i in range(16):
            row = await users.create_user(db, f"{'AbZ'[i % 3]}pp{i}_{token}", "")
            ids.append(row.id)
    return ids


def key(row: tuple[Any, ...], order: str) -> str:
    return str(row[7].isoformat()) if order.startswith("created_at") else str(row[1]).lower()


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("size", [1, 4, 25])
async def test_walking_every_page_both_ways_answers_as_the_statement_builder(
    db: asyncpg.Connection, names: list[uuid.UUID], order: str, size: int
) -> None:
    for first, last in ((size, None), (None, size)):
        after: tuple[str, uuid.UUID] | None = None
        before: tuple[str, uuid.UUID] | None = None
        for _ in range(4):  # the first pages from either end
            rows = await same(
                db,
                first,
                last,
                after[0] if after else None,
                after[1] if after else None,
                before[0] if before else None,
                before[1] if before else None,
                order,
            )
            assert isinstance(rows, list)
            if not rows:
                break
            edge = rows[-1] if first else rows[0]
            cursor = (key(edge, order), edge[0])
            after, before = (cursor, before) if first else (after, cursor)


@pytest.mark.parametrize("order", ORDERS)
async def test_pages_between_two_cursors_answer_as_the_statement_builder(
    db: asyncpg.Connection, names: list[uuid.UUID], order: str
) -> None:
    rows = await same(db, 40, None, None, None, None, None, order)
    assert isinstance(rows, list)
    low, high = rows[3], rows[30]
    for first, last in ((5, None), (None, 5), (100, None), (None, 100)):
        await same(db, first, last, key(low, order), low[0], key(high, order), high[0], order)
        # The other way round: nothing lies between.
        assert (
            await same(db, first, last, key(high, order), high[0], key(low, order), low[0], order)
            == []
        )


@pytest.mark.parametrize(
    "args",
    [
        (-1, None, None, None, None, None, "created_at_asc"),
        (1001, None, None, None, None, None, "username_asc"),
        (None, -3, None, None, None, None, "username_desc"),
        (0, None, None, None, None, None, "created_at_desc"),
        (5, None, None, None, None, None, "bogus"),
        (5, None, None, None, None, None, None),
        (5, None, "not a time", uuid.uuid4(), None, None, "created_at_asc"),
        (5, None, None, uuid.uuid4(), None, None, "username_asc"),
        (None, 5, None, None, None, uuid.uuid4(), "created_at_desc"),
        (5, None, "zz", None, None, None, "username_asc"),  # a key without an id: no bound
        (None, None, None, None, None, None, "created_at_asc"),  # the default size
    ],
)
async def test_edge_arguments_answer_and_fail_as_the_statement_builder(
    db: asyncpg.Connection, names: list[uuid.UUID], args: tuple[object, ...]
) -> None:
    await same(db, *args)


@pytest.fixture
async def explained(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection that receives the plans of statements inside functions as
    notices (auto_explain; loading it takes a superuser)."""
    connection = await asyncpg.connect(
        database_url_for(SERVER_URL, urlsplit(database_url).path.lstrip("/"))
    )
    try:
        await explain_nested(connection, "log_analyze = on", "log_timing = off")
        yield connection
    finally:
        await connection.close()


def scanned(plan: dict[str, Any]) -> int:
    """Rows the scans of users returned or filtered out."""
    total = 0
    if plan.get("Relation Name") == "users":
        total += (plan["Actual Rows"] + plan.get("Rows Removed by Filter", 0)) * plan[
            "Actual Loops"
        ]
    return total + sum(scanned(child) for child in plan.get("Plans", []))


@pytest.mark.parametrize("order", ORDERS)
async def test_a_deep_page_reads_about_a_page(
    explained: asyncpg.Connection, names: list[uuid.UUID], order: str
) -> None:
    everyone = await explained.fetch(CALL.format("users_page"), 1000, None, *[None] * 4, order)
    deep = everyone[len(everyone) // 2]
    for first, last, after, before in (
        (5, None, deep, None),
        (None, 5, None, deep),
        (5, None, deep, everyone[-1]),
    ):
        rows, plans = await run_explained(
            explained,
            CALL.format("users_page"),
            first,
            last,
            key(tuple(after), order) if after else None,
            after["id"] if after else None,
            key(tuple(before), order) if before else None,
            before["id"] if before else None,
            order,
        )
        assert len(rows) == 5
        inner = inner_plans(plans)
        assert inner, "the page's own statement was explained"
        # LIMIT page + 1, whatever lies before the cursor.
        assert scanned(inner[0]) <= 6, (order, first, last)
