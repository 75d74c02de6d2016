"""Configuration is checked before anything touches the database: a bad one
exits with one clear line, no traceback, and nothing migrated."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from tests.conftest import SERVER_URL, admin_execute, database_url_for


def _serve(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("JWT_", "APP_ENV"))}
    return subprocess.run(
        [sys.executable, "-m", "accounts_gql.cli", "serve"],
        env=base | {"LOG_DIR": str(tmp_path / "logs"), "PORT": "0"} | env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("secret", "says"),
    # No keys at all: EdDSA, which needs JWT_PRIVATE_KEYS in production.
    [(None, "JWT_PRIVATE_KEYS is required"), ("short", "at least 32 bytes")],
)
async def test_production_without_a_strong_secret_exits_before_migrating(
    run_id: str, tmp_path: Path, secret: str | None, says: str
) -> None:
    name = f"accounts_test_{run_id}_config_{'none' if secret is None else 'short'}"
    await admin_execute(f'CREATE DATABASE "{name}"')
    try:
        env = {"APP_ENV": "production", "DATABASE_URL": database_url_for(SERVER_URL, name)}
        if secret is not None:
            env["JWT_SECRET"] = secret
        result = _serve(env, tmp_path)
        assert result.returncode == 2
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert says in lines[0]
        assert "Traceback" not in result.stderr
        connection = await asyncpg.connect(database_url_for(SERVER_URL, name))
        try:
            schemas = await connection.fetchval(
                "SELECT count(*) FROM pg_namespace WHERE nspname = 'accounts'"
            )
        finally:
            await connection.close()
        assert schemas == 0  # not migrated
    finally:
        await admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_a_malformed_variable_is_named_in_one_line_without_its_value(tmp_path: Path) -> None:
    result = _serve({"DB_POOL_MAX": "twenty-s3cret", "PORT": "eighty"}, tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "DB_POOL_MAX" in lines[0]
    assert "PORT" in lines[0]
    assert "s3cret" not in result.stderr
    assert "Traceback" not in result.stderr


def test_inconsistent_pool_sizes_are_refused(tmp_path: Path) -> None:
    result = _serve({"DB_POOL_MIN": "30", "DB_POOL_MAX": "10"}, tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "DB_POOL_MIN may not exceed DB_POOL_MAX" in lines[0]
