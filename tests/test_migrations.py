"""Migrations: applied in order, once, checked, and safe when replicas race."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from pathlib import Path

import asyncpg
import pytest

from accounts_gql.db.migrations import SQL_DIR, MigrationError, load_migrations, migrate
from tests.conftest import SERVER_URL, admin_execute, database_url_for


@pytest.fixture
async def scratch_url() -> str:
    name = f"accounts_test_mig_{uuid.uuid4().hex[:12]}"
    await admin_execute(f'CREATE DATABASE "{name}"')
    try:
        yield database_url_for(SERVER_URL, name)  # type: ignore[misc]
    finally:
        await admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _applied(url: str) -> list[str]:
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch("SELECT name FROM public.schema_migrations ORDER BY name")
        return [row["name"] for row in rows]
    finally:
        await connection.close()


async def test_applies_every_file_to_an_empty_database_then_nothing(scratch_url: str) -> None:
    names = [migration.name for migration in load_migrations()]
    assert await migrate(scratch_url) == names
    assert await migrate(scratch_url) == []
    assert await _applied(scratch_url) == names


async def test_refuses_an_edited_applied_migration(scratch_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "sql"
    shutil.copytree(SQL_DIR, folder)
    await migrate(scratch_url, folder)
    first = sorted(folder.glob("*.sql"))[0]
    first.write_text(first.read_text() + "\n-- an edit\n")
    with pytest.raises(MigrationError, match=first.name):
        await migrate(scratch_url, folder)


async def test_racing_migrations_apply_each_file_once(scratch_url: str) -> None:
    results = await asyncio.gather(*(migrate(scratch_url) for _ in range(3)))
    names = [migration.name for migration in load_migrations()]
    assert sorted(results, key=len) == [[], [], names]
    assert await _applied(scratch_url) == names
