"""Least privilege (docs/database.md, "Roles"): the service role executes the
functions of schema `accounts` and can do nothing else; migrations run as the owner."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from accounts_gql.db.migrations import SQL_DIR, MigrationError, migrate
from accounts_gql.db.privileges import SEARCH_PATH, secure_schema
from accounts_gql.db.roles import DatabaseRoles
from tests.conftest import SERVER_URL, admin_execute
from tests.roles import RunRoles

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
async def service(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(database_url)
    yield connection
    await connection.close()


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT * FROM accounts.users",
        "SELECT count(*) FROM accounts.credentials",
        "UPDATE accounts.users SET roles = '{admin}'",
        "INSERT INTO accounts.outbox (event_type) VALUES ('user.deleted')",
        "DELETE FROM accounts.refresh_tokens",
        "TRUNCATE accounts.login_attempts",
        "CREATE FUNCTION accounts.mine() RETURNS int LANGUAGE sql AS 'SELECT 1'",
        "CREATE TABLE public.mine (id int)",
        "INSERT INTO public.schema_migrations (name, checksum) VALUES ('9999_x.sql', 'x')",
    ],
)
async def test_the_service_role_cannot_touch_a_table_directly(
    service: asyncpg.Connection, statement: str
) -> None:
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await service.execute(statement)


async def test_the_service_role_reads_and_writes_through_the_functions(
    service: asyncpg.Connection, unique: str
) -> None:
    created = await service.fetchrow(
        "SELECT * FROM accounts.create_user($1, 'Through', '{}'::jsonb, '{}', NULL)", f"p{unique}"
    )
    assert created is not None
    read = await service.fetchval("SELECT username FROM accounts.users_by_ids($1)", [created["id"]])
    assert read == f"p{unique}"
    # The write recorded its event in the outbox, which the role cannot read directly.
    pending = await service.fetch("SELECT * FROM accounts.outbox_list('pending', 100000)")
    assert any(row["aggregate_id"] == created["id"] for row in pending)


async def test_every_function_runs_as_the_owner_with_a_fixed_search_path(
    pool: asyncpg.Pool, roles: RunRoles
) -> None:
    rows = await pool.fetch(
        """
        SELECT p.oid::regprocedure::text AS name, p.prosecdef, p.proconfig,
               p.proowner::regrole::text AS owner,
               has_function_privilege($1, p.oid, 'EXECUTE') AS service_executes,
               EXISTS (SELECT FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
                       WHERE a.grantee = 0) AS public_executes
        FROM pg_proc p WHERE p.pronamespace = 'accounts'::regnamespace
        """,
        roles.service.name,
    )
    assert len(rows) > 50
    wrong = [
        row["name"]
        for row in rows
        if not row["prosecdef"]
        or f"search_path={SEARCH_PATH}" not in (row["proconfig"] or [])
        or row["owner"] != roles.owner.name
        or not row["service_executes"]
        or row["public_executes"]
    ]
    assert wrong == []


async def test_the_privilege_step_changes_nothing_the_second_time(
    pool: asyncpg.Pool, roles: RunRoles
) -> None:
    async with pool.acquire() as connection:
        assert await secure_schema(connection, roles.service.name) == 0


@pytest.fixture
async def scratch(roles: RunRoles) -> AsyncIterator[DatabaseRoles]:
    """A database of the run's owner role, not yet migrated."""
    name = f"accounts_test_priv_{uuid.uuid4().hex[:12]}"
    await admin_execute(f'CREATE DATABASE "{name}" OWNER "{roles.owner.name}"')
    try:
        yield DatabaseRoles(
            service_url=roles.service.url(SERVER_URL, name),
            owner_url=roles.owner.url(SERVER_URL, name),
        )
    finally:
        await admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _with_a_later_function(tmp_path: Path) -> Path:
    folder = tmp_path / "sql"
    shutil.copytree(SQL_DIR, folder)
    (folder / "9999_later.sql").write_text(
        "CREATE FUNCTION accounts.later_count() RETURNS bigint LANGUAGE sql STABLE AS $$\n"
        "    SELECT count(*) FROM accounts.users\n$$;\n"
    )
    return folder


async def test_a_function_a_later_migration_adds_is_covered(
    scratch: DatabaseRoles, tmp_path: Path
) -> None:
    await migrate(scratch.owner_url, service_role=scratch.service_role)
    folder = _with_a_later_function(tmp_path)

    # The service role checks the history, sees a file pending and refuses to go on.
    with pytest.raises(MigrationError, match=r"9999_later\.sql.*MIGRATION_DATABASE_URL"):
        await migrate(scratch.service_url, folder)

    assert await migrate(scratch.owner_url, folder, scratch.service_role) == ["9999_later.sql"]
    assert await migrate(scratch.service_url, folder) == []
    connection = await asyncpg.connect(scratch.service_url)
    try:
        # It runs as the owner, so it counts the rows the service role cannot select.
        assert await connection.fetchval("SELECT accounts.later_count()") == 0
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await connection.fetchval("SELECT count(*) FROM accounts.users")
    finally:
        await connection.close()


async def test_a_superuser_as_the_service_role_is_refused(scratch: DatabaseRoles) -> None:
    with pytest.raises(MigrationError, match="superuser or a member of the owner role"):
        await migrate(scratch.owner_url, service_role="postgres")


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "accounts_gql.cli", *args],
        env=os.environ | {"LOG_LEVEL": "INFO"} | env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


def test_migrate_and_events_with_both_urls(scratch: DatabaseRoles) -> None:
    env = {"DATABASE_URL": scratch.service_url, "MIGRATION_DATABASE_URL": scratch.owner_url}
    migrated = _cli(env, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    assert f"{len(list(SQL_DIR.glob('*.sql')))} migration(s) applied" in migrated.stderr
    events = _cli(env, "events")
    assert events.returncode == 0, events.stderr
    # The messenger types 0011 creates wait in the outbox (no broker here).
    assert "3 pending" in events.stdout
    assert events.stdout.count("contact_type.created") == 3
    # Without the owner's URL the service role finds nothing to do and goes on.
    alone = _cli({"DATABASE_URL": scratch.service_url}, "events", "--status", "all")
    assert alone.returncode == 0, alone.stderr
