"""The SQLSTATE table is documented, and the documentation is generated from it."""

from __future__ import annotations

from pathlib import Path

from accounts_gql.core.errors import DESCRIPTIONS, ErrorKind, errors_markdown

DOC = Path(__file__).resolve().parent.parent / "docs" / "errors.md"


def test_every_kind_has_a_unique_code_and_a_description() -> None:
    codes = [kind.sqlstate for kind in ErrorKind]
    assert len(set(codes)) == len(codes)
    assert all(len(code) == 5 and code.startswith("UA") for code in codes)
    assert set(DESCRIPTIONS) == set(ErrorKind)


def test_docs_errors_md_equals_the_table() -> None:
    assert DOC.read_text(encoding="utf-8") == errors_markdown()
