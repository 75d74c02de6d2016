"""Filtered user pages and counts on static statements (sql/0019_filtered_users_page_plans.sql).

Each filter alone and combined with the others, in each order, walked page by
page both ways, and read between two cursors, answers as one plain query over
the whole table does (`reference` below): the same users in the same order,
the same has_more, the same count. The crowd's users are created in order, so
that a page near them fills from users_page_filtered's window, and a filter
few of the table's users pass goes on to the statement led by that filter;
both are walked. The last tests read the plans: a group's page reads its
members, a common filter's deep page reads about a page.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import pytest

from accounts_gql.repositories import users
from accounts_gql.repositories.users import UserRow
from tests.conftest import SERVER_URL, database_url_for
from tests.sql.explained import explain_nested, inner_plans, nodes, run_explained

ORDERS = {
    "username_asc": ("lower(u.username)", "text", False),
    "username_desc": ("lower(u.username)", "text", True),
    "created_at_asc": ("u.created_at", "timestamptz", False),
    "created_at_desc": ("u.created_at", "timestamptz", True),
}
Cursor = tuple[str, uuid.UUID]


def cursor_of(row: UserRow, order: str) -> Cursor:
    key = row.username.lower() if order.startswith("username") else row.created_at.isoformat()
    return key, row.id


async def reference(
    db: asyncpg.Connection,
    order: str,
    filters: dict[str, Any],
    after: Cursor | None = None,
    before: Cursor | None = None,
) -> list[uuid.UUID]:
    """The ids a filter and two cursors select, in the order's order: one query
    with every predicate written out."""
    key, kind, desc = ORDERS[order]
    ahead, behind = ("<", ">") if desc else (">", "<")
    direction = "DESC" if desc else "ASC"
    records = await db.fetch(
        f"""
        SELECT u.id FROM accounts.users u
        WHERE (accounts.like_pattern($1) IS NULL
               OR u.username ILIKE accounts.like_pattern($1)
               OR u.display_name ILIKE accounts.like_pattern($1))
          AND ($2::text IS NULL OR u.status = $2)
          AND ($3::uuid IS NULL OR EXISTS (
                SELECT FROM accounts.user_group_memberships m
                WHERE m.group_id = $3 AND m.user_id = u.id))
          AND ($4::text IS NULL OR $4 = ANY(u.roles))
          AND ($6::uuid IS NULL OR ({key}, u.id) {ahead} ($5::text::{kind}, $6))
          AND ($8::uuid IS NULL OR ({key}, u.id) {behind} ($7::text::{kind}, $8))
        ORDER BY {key} {direction}, u.id {direction}
        """,
        filters.get("search"),
        filters.get("status"),
        filters.get("group_id"),
        filters.get("role"),
        *(after or (None, None)),
        *(before or (None, None)),
    )
    return [record["id"] for record in records]


async def walk(
    db: asyncpg.Connection, order: str, size: int, backward: bool, filters: dict[str, Any]
) -> list[UserRow]:
    """Every page from one end, following the cursors a client would."""
    seen: list[UserRow] = []
    cursor: Cursor | None = None
    while True:
        if backward:
            page = await users.users_page(db, last=size, before=cursor, order=order, **filters)
            seen = list(page.rows) + seen
        else:
            page = await users.users_page(db, first=size, after=cursor, order=order, **filters)
            seen += page.rows
        if not page.has_more:
            return seen
        assert len(page.rows) == size, "only a full page can have more"
        cursor = cursor_of(page.rows[0] if backward else page.rows[-1], order)


@pytest.fixture
async def crowd(db: asyncpg.Connection, unique: str) -> dict[str, Any]:
    """45 users sharing a search token, created in batches of three (one now()
    per batch: ties on created_at), some admins, some deactivated, some in a
    group; a third of them carry a second token in their display name only."""
    rows: list[UserRow] = []
    for batch in range(15):
        async with db.transaction():
            for i in range(3):
                n = 3 * batch + i
                name = f"{'QqR'[i]}{uuid.uuid4().hex[:8]}_{unique}"
                shown = f"Walker {n} mark{unique[::-1]}" if n % 3 == 1 else f"Walker {n}"
                rows.append(await users.create_user(db, name, shown))
    for row in rows[::4]:
        await users.update_user(db, row.id, roles=["admin"])
    for row in rows[2::5]:
        await users.deactivate_user(db, row.id)
    group_id, empty_id = [
        await db.fetchval(
            "INSERT INTO accounts.user_groups (slug, name) VALUES ($1, 'Walkers') RETURNING id",
            f"walkers-{which}-{unique}",
        )
        for which in ("some", "none")
    ]
    await db.executemany(
        "INSERT INTO accounts.user_group_memberships (user_id, group_id) VALUES ($1, $2)",
        [(row.id, group_id) for row in rows[7:40:2]],
    )
    return {
        "rows": await users.users_by_ids(db, [row.id for row in rows]),
        "search": unique,
        "mark": f"mark{unique[::-1]}",
        "group_id": group_id,
        "empty_id": empty_id,
    }


def shapes(crowd: dict[str, Any]) -> list[dict[str, Any]]:
    """Each filter alone and combined; those without a search or a group select
    from every user of the run's database, not only the crowd."""
    search, mark, group_id = crowd["search"], crowd["mark"], crowd["group_id"]
    return [
        {"search": search},
        {"search": mark.upper()},  # display names only, any case
        {"search": search, "status": "deactivated"},
        {"search": search, "role": "admin"},
        {"search": search, "status": "active", "role": "admin"},
        {"group_id": group_id},
        {"group_id": group_id, "status": "active"},
        {"group_id": group_id, "role": "admin", "search": search},
        {"group_id": group_id, "search": mark},
        {"group_id": group_id, "search": "   "},  # a blank search filters nothing
        {"group_id": crowd["empty_id"]},
        {"status": "deactivated"},
        {"role": "admin"},
        {"status": "active", "role": "admin"},
        {"search": f"no{search}"},
    ]


@pytest.mark.parametrize("order", list(ORDERS))
async def test_every_filter_walks_both_ways_as_the_plain_query_selects(
    db: asyncpg.Connection, crowd: dict[str, Any], order: str
) -> None:
    for filters in shapes(crowd):
        expected = await reference(db, order, filters)
        assert await users.users_count(db, **filters) == len(expected), filters
        everyone = {row.id: row for row in await users.users_by_ids(db, expected)}
        sizes = (1, 4, 50) if len(expected) <= 60 else (50,)
        for size in sizes:
            for backward in (False, True):
                rows = await walk(db, order, size, backward, filters)
                assert [row.id for row in rows] == expected, (filters, size, backward)
                assert rows == [everyone[i] for i in expected], "whole rows"


@pytest.mark.parametrize("order", list(ORDERS))
async def test_pages_between_two_cursors_of_any_users(
    db: asyncpg.Connection, crowd: dict[str, Any], order: str
) -> None:
    in_order = await reference(db, order, {"search": crowd["search"]})
    by_id = {row.id: row for row in crowd["rows"]}
    # Cursors of users who may or may not pass the filter: keys, not rows.
    after, before = cursor_of(by_id[in_order[3]], order), cursor_of(by_id[in_order[38]], order)
    for filters in shapes(crowd):
        between = await reference(db, order, filters, after, before)
        for size in (2, 5, 100):
            forward = await users.users_page(
                db, first=size, after=after, before=before, order=order, **filters
            )
            assert ([r.id for r in forward.rows], forward.has_more) == (
                between[:size],
                len(between) > size,
            ), (filters, size)
            backward = await users.users_page(
                db, last=size, after=after, before=before, order=order, **filters
            )
            assert ([r.id for r in backward.rows], backward.has_more) == (
                between[-size:] if between else [],
                len(between) > size,
            ), (filters, size)
        # Only one cursor, from either side.
        assert [
            r.id
            for r in (await users.users_page(db, first=3, after=after, order=order, **filters)).rows
        ] == (await reference(db, order, filters, after=after))[:3], filters
        tail = await reference(db, order, filters, before=before)
        assert [
            r.id
            for r in (
                await users.users_page(db, last=3, before=before, order=order, **filters)
            ).rows
        ] == tail[-3:], filters
        # The other way round: nothing lies between.
        assert (
            await users.users_page(db, first=5, after=before, before=after, order=order, **filters)
        ).rows == [], filters


@pytest.mark.parametrize(
    ("arguments", "sqlstate", "field"),
    [
        ({"order": "age_asc"}, "UA005", "orderBy"),
        ({"first": 1001}, "UA005", "first"),
        ({"last": -1}, "UA005", "last"),
        ({"after": ("yesterday-ish", uuid.UUID(int=7))}, "UA005", "after"),
        ({"before": ("", uuid.UUID(int=7))}, "UA005", "before"),
    ],
)
async def test_bad_arguments_fail_with_a_filter_as_without(
    db: asyncpg.Connection,
    crowd: dict[str, Any],
    arguments: dict[str, Any],
    sqlstate: str,
    field: str,
) -> None:
    call = "SELECT * FROM accounts.users_page($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    merged = {"first": 5, "last": None, "order": "created_at_asc", **arguments}
    after, before = merged.get("after"), merged.get("before")
    for filters in ({}, {"search": crowd["search"]}, {"group_id": crowd["group_id"]}):
        with pytest.raises(asyncpg.PostgresError) as raised:
            await db.fetch(
                call,
                merged["first"] if "last" not in arguments else None,
                merged["last"],
                *(after or (None, None)),
                *(before or (None, None)),
                merged["order"],
                filters.get("search"),
                None,
                filters.get("group_id"),
                None,
            )
        assert (raised.value.sqlstate, getattr(raised.value, "column_name", None)) == (
            sqlstate,
            field,
        ), filters


@pytest.fixture
async def explained(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A superuser's connection that receives the plans of the statements inside
    functions as notices (auto_explain)."""
    connection = await asyncpg.connect(
        database_url_for(SERVER_URL, urlsplit(database_url).path.lstrip("/"))
    )
    try:
        await explain_nested(connection, "log_analyze = on", "log_timing = off")
        yield connection
    finally:
        await connection.close()


async def plans(connection: asyncpg.Connection, *args: object) -> list[dict[str, Any]]:
    """The plans of the statements users_page runs for one call."""
    _, found = await run_explained(
        connection,
        "SELECT * FROM accounts.users_page($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        *args,
    )
    return inner_plans(found)


def users_read(plan: dict[str, Any]) -> int:
    """Rows the scans of users returned or filtered out."""
    return sum(
        (node["Actual Rows"] + node.get("Rows Removed by Filter", 0)) * node["Actual Loops"]
        for node in nodes(plan)
        if node.get("Relation Name") == "users"
    )


async def test_a_group_page_reads_the_group_not_the_users_in_order(
    explained: asyncpg.Connection, crowd: dict[str, Any]
) -> None:
    for order in ORDERS:
        found = await plans(explained, 5, None, None, None, None, None, order, None, None,
                            crowd["group_id"], None)  # fmt: skip
        indexes = {node.get("Index Name") for plan in found for node in nodes(plan)}
        assert "memberships_group_idx" in indexes, order
        assert not indexes & {"users_created_at_idx", "users_username_order_idx"}, order
        # The group's 17 members, whatever the order (found[1] reads the page by id).
        assert users_read(found[0]) <= 17, order


async def test_a_deep_page_of_a_common_filter_reads_about_a_page(
    explained: asyncpg.Connection, crowd: dict[str, Any]
) -> None:
    rows = {row.id: row for row in crowd["rows"]}
    for order in ORDERS:
        in_order = await reference(explained, order, {"search": crowd["search"]})
        deep = cursor_of(rows[in_order[10]], order)
        # A page of 5 and one more. The users next to the cursor in the order
        # are the whole table's (other tests' crowds interleave by username),
        # so where the sixth active one lies is read from the table, not
        # assumed: within the probe of twice the page, or in the window of 120.
        for first, last, after, before in ((5, None, deep, None), (None, 5, None, deep)):
            bounds = (*(after or (None, None)), *(before or (None, None)))
            found = await plans(explained, first, last, *bounds, order, None, "active", None, None)
            reading = [plan for plan in found if users_read(plan)]
            sixth = await nth_active_beyond(explained, order, after, before, 6)
            windows = 1 if sixth <= 12 else 2
            where = (order, first, last, sixth)
            assert len(reading) == windows + 1, ("the window answered; then the page's rows", where)
            # Up to the sixth active user, and at most a batch of 32 more where
            # the plan sorts the unique index's rows by id (an incremental sort).
            assert users_read(reading[windows - 1]) <= sixth + 32, where


async def nth_active_beyond(
    db: asyncpg.Connection, order: str, after: Cursor | None, before: Cursor | None, n: int
) -> int:
    """How many users a page reads from a cursor, in its direction, to meet the
    nth active one."""
    ids = await reference(db, order, {}, after, before)
    nearest = ids if after else ids[::-1]
    active = await db.fetch(
        "SELECT id FROM accounts.users WHERE id = ANY($1) AND status = 'active'", nearest[:120]
    )
    found = {record["id"] for record in active}
    positions = [i + 1 for i, id_ in enumerate(nearest[:120]) if id_ in found]
    assert len(positions) >= n, "six active users within the window of 120"
    return positions[n - 1]
