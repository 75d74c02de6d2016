"""Member pages deep in a large group, on a generic plan (sql/0020_member_pages_with_next.sql,
its bounds as sql/0008_member_pages_bounds.sql wrote them).

A function's SQL is planned generically, without the parameter values. There the
cursor bounds of accounts.member_pages_with_next must still be index conditions of
memberships_group_idx, so that a page far into a group reads about a page's worth
of rows, not every member before the cursor. The function returns each page in its
direction and the row beyond it when there is one (up to size + 1 rows, descending
backward). The assertions count the rows and buffers the plan reads (EXPLAIN
ANALYZE), never the time, so the machine's speed does not matter. The function is
PL/pgSQL, whose statements PostgreSQL never inlines into the caller's: auto_explain
reports the plan of its statement.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import asyncpg
import pytest

from accounts_gql.core.errors import DomainError, ErrorKind
from accounts_gql.repositories import memberships
from accounts_gql.repositories.memberships import MemberPage, MembershipRow
from accounts_gql.repositories.pages import Cursor
from tests.conftest import SERVER_URL, database_url_for
from tests.sql.explained import explain_nested, inner_plans, nodes, run_explained
from tests.sql.test_group_functions import member_page

MEMBERS = 20_000
PAGE = 20
DEEP = 19_900  # the cursor row of a deep page: this many members lie before it


@dataclass(frozen=True)
class Member:
    user_id: uuid.UUID
    role: str
    cursor: Cursor


@dataclass(frozen=True)
class BigGroup:
    id: uuid.UUID
    members: list[Member]  # in (joined_at, user_id) order, as a plain ORDER BY gives them

    def ids(self, role: str | None = None) -> list[uuid.UUID]:
        return [m.user_id for m in self.members if role is None or m.role == role]


@pytest.fixture(scope="module")
async def big_group(owner_database_url: str) -> AsyncIterator[BigGroup]:
    """A group of 20,000 members, inserted set-based; every third one a manager.

    Two members share each joined_at, so that user_id has to break the ties."""
    token = uuid.uuid4().hex[:8]
    connection = await asyncpg.connect(owner_database_url)
    try:
        group_id = await connection.fetchval(
            "INSERT INTO accounts.user_groups (slug, name) VALUES ($1, 'Big') RETURNING id",
            f"big-{token}",
        )
        await connection.execute(
            "INSERT INTO accounts.users (username)"
            " SELECT 'mpb-' || $1 || '-' || i FROM generate_series(1, $2::integer) AS i",
            token,
            MEMBERS,
        )
        await connection.execute(
            """
            INSERT INTO accounts.user_group_memberships (user_id, group_id, role, joined_at)
            SELECT u.id, $2, CASE WHEN u.n % 3 = 0 THEN 'manager' ELSE 'member' END,
                   timestamptz '2024-01-01 00:00:00+00' + (u.n / 2) * interval '1 second'
            FROM (SELECT id, row_number() OVER (ORDER BY id) AS n
                  FROM accounts.users WHERE username LIKE 'mpb-' || $1 || '-%') AS u
            """,
            token,
            group_id,
        )
        await connection.execute("ANALYZE accounts.user_group_memberships")
        rows = await connection.fetch(
            "SELECT user_id, role, joined_at FROM accounts.user_group_memberships"
            " WHERE group_id = $1 ORDER BY joined_at, user_id",
            group_id,
        )
        assert len(rows) == MEMBERS
        yield BigGroup(
            group_id,
            [
                Member(r["user_id"], r["role"], (r["joined_at"].isoformat(), r["user_id"]))
                for r in rows
            ],
        )
        await connection.execute("DELETE FROM accounts.user_groups WHERE id = $1", group_id)
        await connection.execute(
            "DELETE FROM accounts.users WHERE username LIKE 'mpb-' || $1 || '-%'", token
        )
    finally:
        await connection.close()


@pytest.fixture
async def generic(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection whose statements always run on their generic plan, and that
    receives the plans of the statements inside functions as notices (loading
    auto_explain takes a superuser)."""
    connection = await asyncpg.connect(
        database_url_for(SERVER_URL, urlsplit(database_url).path.lstrip("/"))
    )
    try:
        await connection.execute("SET plan_cache_mode = force_generic_plan")
        await explain_nested(connection, "log_analyze = on", "log_buffers = on", "log_timing = off")
        await connection.execute(
            "PREPARE member_pages(uuid[], integer, boolean, text, uuid, text, uuid, text) AS"
            " SELECT * FROM accounts.member_pages_with_next($1, $2, $3, $4, $5, $6, $7, $8)"
        )
        yield connection
    finally:
        await connection.close()


def literal(value: object) -> str:
    """A SQL literal of a value this module made (None, bool, int, str, uuid)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


@dataclass(frozen=True)
class Reads:
    rows: list[uuid.UUID]  # as returned: the page in its direction, then the row beyond
    rows_read: int  # index entries of memberships the scans returned or filtered out
    buffers: int  # shared buffers the execution touched
    index_conds: list[str]


async def explain_page(
    connection: asyncpg.Connection,
    group_id: uuid.UUID,
    size: int,
    *,
    backward: bool = False,
    after: Member | None = None,
    before: Member | None = None,
    role: str | None = None,
) -> Reads:
    """EXPLAIN ANALYZE of a member page on the prepared statement's generic plan."""
    args = [
        f"ARRAY[{literal(group_id)}]::uuid[]",
        literal(size),
        literal(backward),
        literal(after.cursor[0] if after else None),
        literal(after.user_id if after else None),
        literal(before.cursor[0] if before else None),
        literal(before.user_id if before else None),
        literal(role),
    ]
    rows, plans = await run_explained(connection, "EXECUTE member_pages(" + ", ".join(args) + ")")
    plan = inner_plans(plans)[0]
    scans = [
        node
        for node in nodes(plan)
        if node.get("Relation Name") == "user_group_memberships" and node["Actual Loops"] > 0
    ]
    assert len(scans) == 1, "one group: one of the two directions' scans runs"
    assert scans[0]["Scan Direction"] == ("Backward" if backward else "Forward")
    counts = await connection.fetchrow(
        "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE name = 'member_pages'"
    )
    assert counts is not None
    assert (counts["generic_plans"] > 0, counts["custom_plans"]) == (True, 0)
    return Reads(
        rows=[row["user_id"] for row in rows],
        rows_read=sum(
            (node["Actual Rows"] + node.get("Rows Removed by Filter", 0)) * node["Actual Loops"]
            for node in scans
        ),
        buffers=plan["Shared Hit Blocks"] + plan["Shared Read Blocks"],
        index_conds=[node.get("Index Cond", "") for node in scans],
    )


# Deep pages read a page's worth of rows ------------------------------------------


@pytest.mark.parametrize("role", [None, "manager"])
async def test_a_deep_page_forward_reads_about_a_page(
    generic: asyncpg.Connection, big_group: BigGroup, role: str | None
) -> None:
    after = big_group.members[DEEP - 1]
    later = [m for m in big_group.members[DEEP:] if role is None or m.role == role]
    reads = await explain_page(generic, big_group.id, PAGE, after=after, role=role)

    assert reads.rows == [m.user_id for m in later[: PAGE + 1]], "the page and the next"
    assert "ROW(joined_at, user_id) >" in reads.index_conds[0]
    # LIMIT page + 1: 21 rows; a third of the members are managers, so ~63 with the role.
    # The bounds as a filter read all 19,900 members before the cursor (~330 buffers).
    assert reads.rows_read <= (PAGE + 1) * (1 if role is None else 3) + 3
    assert reads.buffers < 30


@pytest.mark.parametrize("role", [None, "manager"])
async def test_a_deep_page_backward_reads_about_a_page(
    generic: asyncpg.Connection, big_group: BigGroup, role: str | None
) -> None:
    # Backward, "deep" is far from the end: 19,900 members lie after the cursor.
    before = big_group.members[MEMBERS - DEEP]
    earlier = [m for m in big_group.members[: MEMBERS - DEEP] if role is None or m.role == role]
    reads = await explain_page(generic, big_group.id, PAGE, backward=True, before=before, role=role)

    assert reads.rows == [m.user_id for m in earlier[::-1][: PAGE + 1]], "descending, and one"
    assert "ROW(joined_at, user_id) <" in reads.index_conds[0]
    assert reads.rows_read <= (PAGE + 1) * (1 if role is None else 3) + 3
    assert reads.buffers < 30


async def test_a_page_between_two_deep_cursors_reads_only_between_them(
    generic: asyncpg.Connection, big_group: BigGroup
) -> None:
    after, before = big_group.members[DEEP - 1], big_group.members[DEEP + 10]
    forward = await explain_page(generic, big_group.id, PAGE, after=after, before=before)
    backward = await explain_page(
        generic, big_group.id, PAGE, backward=True, after=after, before=before
    )
    between = [m.user_id for m in big_group.members[DEEP : DEEP + 10]]
    assert forward.rows == backward.rows[::-1] == between
    assert forward.rows_read == backward.rows_read == 10


async def test_the_first_and_last_pages_read_a_page(
    generic: asyncpg.Connection, big_group: BigGroup
) -> None:
    head = await explain_page(generic, big_group.id, PAGE)
    tail = await explain_page(generic, big_group.id, PAGE, backward=True)
    assert head.rows == big_group.ids()[: PAGE + 1]
    assert tail.rows == big_group.ids()[::-1][: PAGE + 1]
    assert head.rows_read == tail.rows_read == PAGE + 1


# Every member exactly once, in order ---------------------------------------------


def user_ids(page: MemberPage) -> list[uuid.UUID]:
    return [row.user_id for row in page.rows]


def cursor(row: MembershipRow) -> Cursor:
    return (row.joined_at.isoformat(), row.user_id)


@pytest.mark.parametrize("role", [None, "manager", "member"])
async def test_walking_all_pages_returns_every_member_once_in_order(
    generic: asyncpg.Connection, big_group: BigGroup, role: str | None
) -> None:
    expected = big_group.ids(role)
    size = 997  # no divisor of the counts: the last page is a partial one

    forward: list[uuid.UUID] = []
    page = await member_page(generic, big_group.id, size, role=role)
    while True:
        forward += user_ids(page)
        assert page.has_more == (len(forward) < len(expected))
        if not page.has_more:
            break
        assert len(page.rows) == size
        page = await member_page(
            generic, big_group.id, size, after=cursor(page.rows[-1]), role=role
        )
    assert forward == expected

    backward: list[list[uuid.UUID]] = []
    page = await member_page(generic, big_group.id, size, backward=True, role=role)
    while True:
        backward.append(user_ids(page))
        if not page.has_more:
            break
        page = await member_page(
            generic, big_group.id, size, backward=True, before=cursor(page.rows[0]), role=role
        )
    assert [u for p in reversed(backward) for u in p] == expected
    assert [len(p) for p in backward[:-1]] == [size] * (len(backward) - 1)


# Page sizes -------------------------------------------------------------------------


@pytest.mark.parametrize(("size", "backward", "field"), [(-1, False, "first"), (-5, True, "last")])
async def test_a_negative_page_size_is_a_validation_error(
    generic: asyncpg.Connection, big_group: BigGroup, size: int, backward: bool, field: str
) -> None:
    with pytest.raises(asyncpg.PostgresError) as raw:
        await generic.fetch(
            f"EXECUTE member_pages(ARRAY[{literal(big_group.id)}]::uuid[],"
            f" {literal(size)}, {literal(backward)}, NULL, NULL, NULL, NULL, NULL)"
        )
    assert (raw.value.sqlstate, raw.value.column_name) == (ErrorKind.VALIDATION.sqlstate, field)

    with pytest.raises(DomainError) as caught:
        await memberships.member_pages(generic, [big_group.id], size, backward=backward)
    assert (caught.value.kind, caught.value.field) == (ErrorKind.VALIDATION, field)


@pytest.mark.parametrize("backward", [False, True])
async def test_a_page_of_size_zero_is_empty_with_nothing_beyond(
    generic: asyncpg.Connection, big_group: BigGroup, backward: bool
) -> None:
    """The function returns the row beyond the empty page; the page says nothing
    lies beyond it, as users' and groups' pages of none do."""
    reads = await explain_page(generic, big_group.id, 0, backward=backward)
    assert reads.rows == [big_group.members[-1 if backward else 0].user_id]
    found = await memberships.member_pages(generic, [big_group.id], 0, backward=backward)
    assert found == {big_group.id: MemberPage([], False)}
