"""schema.graphql is the code's schema, exported; they must not drift apart."""

from __future__ import annotations

from pathlib import Path

from accounts_gql.api.schema import export_sdl

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schema.graphql"


def test_checked_in_schema_equals_the_code() -> None:
    assert SCHEMA_FILE.read_text(encoding="utf-8") == export_sdl(), (
        "schema.graphql is stale: run `accounts-gql export-schema`"
    )
