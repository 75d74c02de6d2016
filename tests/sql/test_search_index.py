"""The trigram indexes serve the users and groups searches (sql/0010_search_index.sql).

On a database of its own, seeded with rows whose names are fixed (letters
drawn from md5 of a counter) and vacuumed (which moves the rows of GIN's pending
list into the index, as autovacuum does), the plans PostgreSQL chooses depend on
the data and the statistics only, not on the machine. auto_explain reports the plans of the
statements the search functions run (loading it takes a superuser).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from accounts_gql.db.migrations import migrate
from tests.conftest import SERVER_URL, admin_execute, database_url_for
from tests.roles import RunRoles
from tests.sql.explained import explain_nested, nodes, run_explained

ROWS = 20_000


@pytest.fixture(scope="module")
async def searched(roles: RunRoles) -> AsyncIterator[asyncpg.Connection]:
    """A superuser's connection to a seeded database, with auto_explain on."""
    name = f"accounts_test_search_{uuid.uuid4().hex[:12]}"
    await admin_execute(f'CREATE DATABASE "{name}" OWNER "{roles.owner.name}"')
    try:
        owner_url = roles.owner.url(SERVER_URL, name)
        await migrate(owner_url, service_role=roles.service.name)
        connection = await asyncpg.connect(database_url_for(SERVER_URL, name))
        try:
            if not await connection.fetchval(
                "SELECT count(*) FROM pg_extension WHERE extname = 'pg_trgm'"
            ):
                pytest.skip("pg_trgm is not available on this server")
            await connection.execute(
                f"""
                CREATE FUNCTION pg_temp.word(seed text) RETURNS text LANGUAGE sql AS $$
                    SELECT string_agg(chr(97 + get_byte(decode(md5(seed || j), 'hex'), 0) % 26), '')
                    FROM generate_series(1, 12) AS j
                $$;
                INSERT INTO accounts.users (username, display_name)
                SELECT pg_temp.word('u' || i), 'Person ' || pg_temp.word('n' || i)
                FROM generate_series(1, {ROWS}) AS i;
                INSERT INTO accounts.user_groups (slug, name)
                SELECT pg_temp.word('g' || i), 'Group ' || pg_temp.word('m' || i)
                FROM generate_series(1, {ROWS}) AS i;
                """
            )
            await connection.execute("VACUUM ANALYZE accounts.users")
            await connection.execute("VACUUM ANALYZE accounts.user_groups")
            await explain_nested(connection)
            yield connection
        finally:
            await connection.close()
    finally:
        await admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def indexes_used(connection: asyncpg.Connection, statement: str, *args: object) -> set[str]:
    """The indexes in the plans of every statement run by `statement`."""
    _, plans = await run_explained(connection, statement, *args)
    return {node["Index Name"] for plan in plans for node in nodes(plan) if "Index Name" in node}


# A part of no name that the seeded words make unlikely to match many.
TERM = "qzxwv"


async def test_the_users_count_of_a_search_reads_the_trigram_indexes(
    searched: asyncpg.Connection,
) -> None:
    used = await indexes_used(searched, "SELECT accounts.users_count($1, NULL, NULL, NULL)", TERM)
    assert {"users_username_trgm_idx", "users_display_name_trgm_idx"} <= used


async def test_a_users_page_of_a_search_reads_the_trigram_indexes(
    searched: asyncpg.Connection,
) -> None:
    used = await indexes_used(
        searched,
        "SELECT * FROM accounts.users_page(20, NULL, NULL, NULL, NULL, NULL,"
        " 'created_at_asc', $1, NULL, NULL, NULL)",
        TERM,
    )
    assert {"users_username_trgm_idx", "users_display_name_trgm_idx"} <= used


async def test_the_groups_count_of_a_search_reads_the_trigram_indexes(
    searched: asyncpg.Connection,
) -> None:
    used = await indexes_used(searched, "SELECT accounts.groups_count($1)", TERM)
    assert {"user_groups_slug_trgm_idx", "user_groups_name_trgm_idx"} <= used
