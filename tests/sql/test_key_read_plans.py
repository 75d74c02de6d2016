"""The batch reads by keys go by their indexes (sql/0023_key_reads_index_scans.sql).

Their statements run on generic plans, which estimate `col = ANY(p_ids)` at ten
rows; planned with the server's default random_page_cost those ten rows were a
bitmap heap scan and a sort, or a scan of the whole table. Each function sets
the cost for data held in memory, so that its plan is an index scan that returns
the rows in the index's order and stops at the keys (for the groups, a table of
a few pages, a bitmap of the keys' pages). The assertions read the
plan auto_explain reports for the function's statement (PL/pgSQL: never inlined
into the caller's), never a time.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest

from accounts_gql.db.migrations import migrate
from accounts_gql.repositories.demo import seed_demo
from tests.conftest import SERVER_URL, admin_execute, database_url_for
from tests.roles import RunRoles
from tests.sql.explained import explain_nested, inner_plans, nodes, run_explained

USERS = 20_000  # the bench's database: 56,000 contacts, 200 groups, 40,000 memberships


@dataclass(frozen=True)
class Keys:
    users: list[uuid.UUID]
    groups: list[uuid.UUID]
    contacts: list[uuid.UUID]


@pytest.fixture(scope="module")
async def seeded(run_id: str, roles: RunRoles) -> AsyncIterator[str]:
    """A database of its own, migrated and seeded as `accounts-gql seed` does, with
    fresh statistics; yields its name."""
    name = f"accounts_test_{run_id}_keys"
    await admin_execute(f'CREATE DATABASE "{name}" OWNER "{roles.owner.name}"')
    url = roles.owner.url(SERVER_URL, name)
    await migrate(url, service_role=roles.service.name)
    connection = await asyncpg.connect(url)
    try:
        await seed_demo(connection, USERS, None)
        await connection.execute("ANALYZE")
    finally:
        await connection.close()
    yield name
    await admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
async def explained(seeded: str) -> AsyncIterator[asyncpg.Connection]:
    """A superuser's connection to it, with auto_explain on."""
    connection = await asyncpg.connect(database_url_for(SERVER_URL, seeded))
    try:
        await explain_nested(connection)
        yield connection
    finally:
        await connection.close()


@pytest.fixture(scope="module")
async def keys(explained: asyncpg.Connection) -> Keys:
    """Three users, spread over the table, their contacts and three groups."""
    users = await explained.fetch("SELECT id FROM accounts.users ORDER BY id OFFSET 5000 LIMIT 3")
    groups = await explained.fetch(
        "SELECT id FROM accounts.user_groups ORDER BY id OFFSET 50 LIMIT 3"
    )
    contacts = await explained.fetch(
        "SELECT id FROM accounts.user_contacts WHERE user_id = ANY($1)",
        [row["id"] for row in users],
    )
    return Keys(*([row["id"] for row in rows] for rows in (users, groups, contacts)))


async def function_plan(
    connection: asyncpg.Connection, call: str, *args: object
) -> list[dict[str, Any]]:
    """The nodes of the plan of the statement inside `call`."""
    statement = f"SELECT * FROM accounts.{call}"
    await connection.fetch(statement, *args)  # asyncpg's own queries of the types, unheard
    _, plans = await run_explained(connection, statement, *args)
    inner = inner_plans(plans)
    assert len(inner) == 1, plans
    return list(nodes(inner[0]))


def reads_of(plan: list[dict[str, Any]], table: str) -> list[tuple[str, str | None]]:
    """How the plan reads `table`: each scan's kind and the index it goes by."""
    reads = []
    for node in plan:
        if node.get("Relation Name") == table:
            index = node.get("Index Name")
            if node["Node Type"] == "Bitmap Heap Scan":
                index = node["Plans"][0].get("Index Name")
            reads.append((node["Node Type"], index))
    return reads


INDEX_SCANS = ("Index Scan", "Index Only Scan")
# A table of a few pages (200 groups): a bitmap of the keys' pages is as cheap,
# what is avoided is reading every row to compare it with the array.
BY_INDEX = (*INDEX_SCANS, "Bitmap Heap Scan")


@pytest.mark.parametrize(
    ("call", "keys_of", "table", "index", "kinds", "ordered"),
    [
        ("users_by_ids($1)", "users", "users", "users_pkey", INDEX_SCANS, False),
        ("groups_by_ids($1)", "groups", "user_groups", "user_groups_pkey", BY_INDEX, False),
        (
            "groups_with_member_counts_by_ids($1)",
            "groups",
            "user_groups",
            "user_groups_pkey",
            BY_INDEX,
            False,
        ),
        (
            "contacts_by_ids($1)",
            "contacts",
            "user_contacts",
            "user_contacts_pkey",
            INDEX_SCANS,
            False,
        ),
        (
            "contacts_by_user_ids($1, false)",
            "users",
            "user_contacts",
            "user_contacts_user_idx",
            INDEX_SCANS,
            True,
        ),
        (
            "memberships_by_user_ids($1)",
            "users",
            "user_group_memberships",
            "memberships_user_idx",
            INDEX_SCANS,
            True,
        ),
        (
            "memberships_with_groups_by_user_ids($1)",
            "users",
            "user_group_memberships",
            "memberships_user_idx",
            INDEX_SCANS,
            True,
        ),
        (
            "memberships_with_groups_by_user_ids($1)",
            "users",
            "user_groups",
            "user_groups_pkey",
            INDEX_SCANS,
            True,
        ),
        ("group_member_counts($1)", "groups", "group_sizes", "group_sizes_pkey", BY_INDEX, False),
    ],
)
async def test_a_read_by_keys_goes_by_its_index(
    explained: asyncpg.Connection,
    keys: Keys,
    call: str,
    keys_of: str,
    table: str,
    index: str,
    kinds: tuple[str, ...],
    ordered: bool,
) -> None:
    plan = await function_plan(explained, call, getattr(keys, keys_of))

    reads = reads_of(plan, table)
    assert len(reads) == 1, reads
    kind, used = reads[0]
    assert kind in kinds, reads
    assert used == index, reads
    if ordered:
        assert "Sort" not in [node["Node Type"] for node in plan], "the rows in the index's order"


async def test_every_read_by_keys_plans_for_memory(explained: asyncpg.Connection) -> None:
    """Every PL/pgSQL read of the schema by an array of ids, including any added
    later, sets the cost (the plans above hold for the tables big enough to test)."""
    settings = await explained.fetch(
        """
        SELECT p.proname, p.proconfig FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
        WHERE p.pronamespace = 'accounts'::regnamespace AND l.lanname = 'plpgsql'
          AND p.proargtypes[0] = 'uuid[]'::regtype
          AND (p.proname LIKE '%\\_by\\_%ids' OR p.proname = 'group_member_counts')
        """
    )
    assert {row["proname"] for row in settings} >= {
        "users_by_ids",
        "contact_types_by_ids",
        "contacts_by_user_ids",
        "contacts_by_ids",
        "groups_by_ids",
        "groups_with_member_counts_by_ids",
        "memberships_by_user_ids",
        "memberships_with_groups_by_user_ids",
        "group_member_counts",
    }
    for row in settings:
        assert "random_page_cost=1.1" in row["proconfig"], row["proname"]
