"""The command line, run as an operator runs it."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import asyncpg


def _cli(database_url: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = os.environ | {"DATABASE_URL": database_url, "LOG_LEVEL": "INFO"}
    return subprocess.run(
        [sys.executable, "-m", "accounts_gql.cli", *args],
        input=stdin,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_create_admin_creates_then_promotes(database_url: str, pool: asyncpg.Pool) -> None:
    name = f"adm{uuid.uuid4().hex[:8]}"
    created = _cli(database_url, "create-admin", name, stdin="a-long-enough-password\n")
    assert created.returncode == 0, created.stderr
    row = await pool.fetchrow(
        "SELECT u.roles, c.password_hash FROM accounts.users u"
        " JOIN accounts.credentials c ON c.user_id = u.id WHERE u.username = $1",
        name,
    )
    assert row is not None
    assert row["roles"] == ["admin"]
    assert row["password_hash"].startswith("$argon2id$")

    member = f"mem{uuid.uuid4().hex[:8]}"
    await pool.execute("SELECT id FROM accounts.create_user($1, NULL, NULL, NULL, NULL)", member)
    promoted = _cli(database_url, "create-admin", member)
    assert promoted.returncode == 0, promoted.stderr
    roles = await pool.fetchval("SELECT roles FROM accounts.users WHERE username = $1", member)
    assert roles == ["admin"]


def test_create_admin_refuses_a_short_password(database_url: str) -> None:
    result = _cli(database_url, "create-admin", f"adm{uuid.uuid4().hex[:8]}", stdin="short\n")
    assert result.returncode == 2


def test_export_schema_writes_the_sdl(database_url: str) -> None:
    result = _cli(database_url, "export-schema", "-o", "-")
    assert result.returncode == 0
    assert "type Query" in result.stdout
