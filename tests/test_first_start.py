"""What a new user sees: `--help`, and the first start of the embedded database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from accounts_gql.cli import COMMANDS

ROOT = Path(__file__).resolve().parent.parent


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "RABBITMQ_URL"}}
    return subprocess.run(
        [sys.executable, "-m", "accounts_gql.cli", *args],
        cwd=ROOT,
        env=clean | (env or {}),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_help_cites_only_what_the_repository_has() -> None:
    for args in [("--help",)] + [(name, "--help") for name in COMMANDS]:
        shown = _cli(*args)
        assert shown.returncode == 0, shown.stderr
        assert "PRODUCT" not in shown.stdout, args
        assert "§" not in shown.stdout, args
    assert ".env.example" in _cli("--help").stdout


@pytest.mark.slow
def test_the_first_start_does_not_print_initdb(tmp_path: Path) -> None:
    env = {"DATA_DIR": str(tmp_path / "data"), "LOG_DIR": str(tmp_path), "LOG_LEVEL": "INFO"}
    first = _cli("migrate", env=env)
    assert first.returncode == 0, first.stderr
    lines = first.stderr.splitlines()
    for chatter in (
        "initdb",
        "Running commandline",
        "postgres command",
        "pg_ctl",
        "database system",
    ):
        assert not [line for line in lines if chatter in line], chatter
    assert any("creating the embedded PostgreSQL" in line for line in lines)
    assert any("migration(s) applied" in line for line in lines)
    # The second start has nothing to create or apply.
    again = _cli("migrate", env=env)
    assert again.returncode == 0, again.stderr
    assert "0 migration(s) applied" in again.stderr
    assert "creating the embedded PostgreSQL" not in again.stderr
