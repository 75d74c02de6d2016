"""RFC 7396 JSON Merge Patch as accounts.jsonb_merge_patch implements it."""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg
import pytest

from accounts_gql.core.errors import DomainError, ErrorKind
from accounts_gql.repositories import users
from tests.sql.test_contacts import events

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


# Through update_user_profile -------------------------------------------------


async def test_update_user_profile_merges_and_records_the_patch(
    db: asyncpg.Connection, unique: str
) -> None:
    actor = uuid.uuid4()
    profile = {"name": {"given": "Ada", "family": "L"}, "tags": ["a", "b"], "lang": "en"}
    row = await users.create_user(db, f"merge{unique}", profile=profile)
    patch = {"name": {"family": None, "middle": "B"}, "tags": ["c"], "lang": None, "tz": "UTC"}

    changed = await users.update_user_profile(db, row.id, patch, expected_version=1, actor_id=actor)

    merged = {"name": {"given": "Ada", "middle": "B"}, "tags": ["c"], "tz": "UTC"}
    assert (changed.profile, changed.version) == (merged, 2)
    assert (changed.username, changed.display_name) == (row.username, row.display_name)
    assert await users.users_by_ids(db, [row.id]) == [changed]
    assert await merge(db, profile, patch) == merged, "the same merge as the function alone"
    event = (await events(db, row.id))[-1]
    assert (event["event_type"], event["aggregate_type"], event["sequence"]) == (
        "user.profile_updated",
        "user",
        2,
    )
    assert event["actor_id"] == actor
    assert event["payload"]["patch"] == patch
    assert event["payload"]["before"] == {"profile": profile}
    assert event["payload"]["after"] == {"profile": merged}
    assert event["payload"]["user"]["profile"] == merged


async def test_a_profile_grown_past_16_kib_is_refused(db: asyncpg.Connection, unique: str) -> None:
    # '{"k": ""}' is 9 bytes as jsonb text: the value fills the rest up to 16384.
    row = await users.create_user(db, f"big{unique}", profile={"k": "x" * 100})
    full = await users.update_user_profile(db, row.id, {"k": "x" * (16_384 - 9)})
    assert full.version == 2, "exactly 16 KiB is allowed"
    before = await events(db, row.id)

    with pytest.raises(DomainError) as caught:
        await users.update_user_profile(db, row.id, {"more": 1})

    assert (caught.value.kind, caught.value.field) == (ErrorKind.VALIDATION, "profile")
    assert await users.users_by_ids(db, [row.id]) == [full]
    assert await events(db, row.id) == before
