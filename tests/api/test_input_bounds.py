"""Bounds on free-form input (accounts_gql/services/bounds.py): deep profiles and
merge patches, long search terms. Each is a typed error naming its field, and
changes nothing."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import httpx
import orjson
import pytest

from accounts_gql.core.settings import Settings
from accounts_gql.services.bounds import MAX_JSON_DEPTH, MAX_SEARCH_LENGTH, json_depth_exceeds
from tests.api.conftest import GraphQL, token_for
from tests.api.test_users_api import CREATE, PROFILE, Unchanged, gid

MakeUser = Callable[..., Awaitable[uuid.UUID]]


def nested(levels: int) -> str:
    """A JSON object nesting `levels` objects, as text (no encoder's recursion limit)."""
    return '{"a":' * levels + "1" + "}" * levels


async def post_raw(
    client: httpx.AsyncClient, settings: Settings, body: str, user: uuid.UUID
) -> dict[str, Any]:
    response = await client.post(
        "/graphql",
        content=body.encode(),
        headers={
            "content-type": "application/json",
            "accept": "application/graphql-response+json",
            "authorization": f"Bearer {token_for(settings, user, ('admin',))}",
        },
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def test_depth_is_counted_in_levels_of_objects_and_arrays() -> None:
    assert not json_depth_exceeds(1, 0)
    assert not json_depth_exceeds({"a": [1, {"b": 2}]}, 3)
    assert json_depth_exceeds({"a": [1, {"b": 2}]}, 2)
    assert json_depth_exceeds([[[]]], 2)
    assert not json_depth_exceeds(orjson.loads(nested(MAX_JSON_DEPTH)), MAX_JSON_DEPTH)


# 255 levels answered INTERNAL_SERVER_ERROR (accepted, then not encodable). A
# request body may nest 1,024 levels (the JSON parser's bound, a 400 beyond),
# three of them the request's own: 1,021 is the deepest patch one can carry.
@pytest.mark.parametrize("levels", [MAX_JSON_DEPTH + 1, 255, 1021])
async def test_a_deep_merge_patch_is_a_validation_error_on_patch(
    client: httpx.AsyncClient,
    settings: Settings,
    make_user: MakeUser,
    pool: asyncpg.Pool,
    levels: int,
) -> None:
    user = await make_user()
    body = (
        '{"query": '
        + orjson.dumps(PROFILE).decode()
        + ', "variables": {"input": {"id": "'
        + gid(user)
        + '", "patch": '
        + nested(levels)
        + "}}}"
    )
    async with Unchanged(pool, user):
        answer = await post_raw(client, settings, body, user)
    result = answer["data"]["updateUserProfile"]
    assert (result["__typename"], result["field"]) == ("ValidationError", ["input", "patch"])
    assert f"at most {MAX_JSON_DEPTH} levels" in result["message"]


async def test_a_patch_at_the_bound_is_applied(gql: GraphQL, make_user: MakeUser) -> None:
    user = await make_user()
    patch = orjson.loads(nested(MAX_JSON_DEPTH))
    body = await gql(PROFILE, {"input": {"id": gid(user), "patch": patch}}, as_user=user)
    assert body["data"]["updateUserProfile"]["user"]["profile"] == patch


async def test_a_deep_profile_on_creation_is_a_validation_error_on_profile(
    client: httpx.AsyncClient, settings: Settings, make_user: MakeUser, unique: str
) -> None:
    admin = await make_user(roles=("admin",))
    body = (
        '{"query": '
        + orjson.dumps(CREATE).decode()
        + ', "variables": {"input": {"username": "'
        + f"deep{unique}"
        + '", "profile": '
        + nested(255)
        + "}}}"
    )
    result = (await post_raw(client, settings, body, admin))["data"]["createUser"]
    assert (result["__typename"], result["field"]) == ("ValidationError", ["input", "profile"])


USERS = """query($search: String) {
  users(first: 5, filter: {search: $search}) { totalCount nodes { username } }
}"""
GROUPS = "query($search: String) { groups(first: 5, search: $search) { totalCount } }"


@pytest.mark.parametrize("length", [MAX_SEARCH_LENGTH + 1, 90_000])
async def test_a_long_search_is_a_validation_error_on_filter_search(
    gql: GraphQL, make_user: MakeUser, length: int
) -> None:
    viewer = await make_user()
    body = await gql(USERS, {"search": "a" * length}, as_user=viewer)
    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"] == {"code": "VALIDATION", "field": "filter.search"}
    assert error["message"] == f"filter.search must be at most {MAX_SEARCH_LENGTH} characters"

    body = await gql(GROUPS, {"search": "a" * length}, as_user=viewer)
    assert [e["extensions"] for e in body["errors"]] == [{"code": "VALIDATION", "field": "search"}]


async def test_a_search_at_the_bound_runs(gql: GraphQL, make_user: MakeUser) -> None:
    viewer = await make_user()
    body = await gql(USERS, {"search": "a" * MAX_SEARCH_LENGTH}, as_user=viewer)
    assert body == {"data": {"users": {"totalCount": 0, "nodes": []}}}
    body = await gql(GROUPS, {"search": "a" * MAX_SEARCH_LENGTH}, as_user=viewer)
    assert body == {"data": {"groups": {"totalCount": 0}}}
