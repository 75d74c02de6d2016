"""RFC 7396 JSON Merge Patch as accounts.jsonb_merge_patch implements it."""

from __future__ import annotations

import json
from typing import Any

import asyncpg
import pytest

# RFC 7396, Appendix A: (original, patch, result).
APPENDIX_A: list[tuple[Any, Any, Any]] = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


async def merge(db: asyncpg.Connection, target: Any, patch: Any) -> Any:
    """The merge of two JSON documents (JSON null stays JSON null, not SQL NULL)."""
    text: str = await db.fetchval(
        "SELECT accounts.jsonb_merge_patch($1::text::jsonb, $2::text::jsonb)::text",
        json.dumps(target),
        json.dumps(patch),
    )
    return json.loads(text)


@pytest.mark.parametrize(("target", "patch", "result"), APPENDIX_A)
async def test_rfc_7396_appendix_a(
    db: asyncpg.Connection, target: Any, patch: Any, result: Any
) -> None:
    assert await merge(db, target, patch) == result


async def test_deep_merge_keeps_untouched_branches(db: asyncpg.Connection) -> None:
    target = {"a": {"x": 1, "y": {"p": [1, 2], "q": "keep"}}, "b": True, "odd key,{}": 1}
    patch = {"a": {"y": {"p": None, "r": {"s": None, "t": 0}}}, "b": None, "odd key,{}": 2}
    assert await merge(db, target, patch) == {
        "a": {"x": 1, "y": {"q": "keep", "r": {"t": 0}}},
        "odd key,{}": 2,
    }


async def test_an_empty_patch_changes_nothing(db: asyncpg.Connection) -> None:
    target = {"a": {"b": [1, {"c": None}]}}
    assert await merge(db, target, {}) == target


async def test_a_missing_target_counts_as_an_empty_object(db: asyncpg.Connection) -> None:
    text = await db.fetchval(
        "SELECT accounts.jsonb_merge_patch(NULL, $1::text::jsonb)::text",
        json.dumps({"a": {"b": None, "c": 1}}),
    )
    assert json.loads(text) == {"a": {"c": 1}}
