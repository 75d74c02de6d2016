"""Requests the schema fuzzer (scripts/fuzz) found failing with an internal error,
kept so they stay fixed.

1. A NUL character (U+0000) in any string, e.g. `group(slug: "\\u0000")` or a
   username: PostgreSQL's text and jsonb cannot hold it, so the stored function
   failed ("invalid byte sequence for encoding UTF8: 0x00") and the client got
   INTERNAL_SERVER_ERROR. Now the request is refused before execution with
   INVALID_TEXT, whether the string is a literal or in the variables.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import httpx
import pytest

from accounts_gql.api.ids import encode_id

ADMIN = ("admin",)


async def post(
    client: httpx.AsyncClient,
    token: str,
    query: str,
    variables: dict[str, Any] | None = None,
) -> httpx.Response:
    return await client.post(
        "/graphql",
        json={"query": query, "variables": variables or {}},
        headers={
            "accept": "application/graphql-response+json",
            "authorization": f"Bearer {token}",
        },
    )


def refused_for_nul(response: httpx.Response) -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    assert "data" not in body, body
    assert [error["extensions"]["code"] for error in body["errors"]] == ["INVALID_TEXT"], body
    assert "NUL" in body["errors"][0]["message"]


@pytest.fixture
def admin_token(settings: Any) -> str:
    from tests.api.conftest import token_for

    return token_for(settings, uuid.uuid4(), ADMIN)


@pytest.mark.parametrize(
    "query",
    [
        '{ group(slug: "a\\u0000b") { id } }',
        '{ groups(search: "\\u0000") { totalCount } }',
        '{ user(username: "x\\u0000") { id } }',
        '{ users(filter: { search: "\\u0000" }) { totalCount } }',
        'mutation { createGroup(input: { slug: "g\\u0000", name: "G" }) { __typename } }',
        'mutation { createUser(input: { username: "O\\u0000k" }) { __typename } }',
        'mutation { createUser(input: { username: "okname", profile: { k: "\\u0000" } }) '
        "{ __typename } }",
        'query($s: String = "\\u0000") { group(slug: $s) { id } }',
    ],
)
async def test_a_nul_in_a_string_literal_is_refused_not_an_internal_error(
    client: httpx.AsyncClient, admin_token: str, query: str
) -> None:
    refused_for_nul(await post(client, admin_token, query))


async def test_a_nul_in_variables_is_refused_and_nothing_is_written(
    client: httpx.AsyncClient, admin_token: str, pool: asyncpg.Pool, unique: str
) -> None:
    create = """mutation($input: CreateUserInput!) { createUser(input: $input) {
        __typename ... on Error { message } } }"""
    username = f"nul{unique}"[:32]
    refused_for_nul(
        await post(
            client, admin_token, create, {"input": {"username": username + "\x00", "roles": []}}
        )
    )
    # Deep in a JSON value, and as a JSON object key.
    for profile in ({"a": [1, {"b": "x\x00"}]}, {"k\x00": 1}):
        refused_for_nul(
            await post(
                client, admin_token, create, {"input": {"username": username, "profile": profile}}
            )
        )
    found = await pool.fetchval(
        "SELECT count(*) FROM accounts.users WHERE lower(username) LIKE lower($1) || '%'",
        username,
    )
    assert found == 0

    group = "query($slug: String) { group(slug: $slug) { id } }"
    refused_for_nul(await post(client, admin_token, group, {"slug": "\x00"}))


async def test_a_nul_in_a_json_patch_is_refused_and_the_profile_is_unchanged(
    client: httpx.AsyncClient,
    admin_token: str,
    make_user: Callable[..., Awaitable[uuid.UUID]],
    pool: asyncpg.Pool,
) -> None:
    user_id = await make_user()
    patch = """mutation($input: UpdateUserProfileInput!) { updateUserProfile(input: $input) {
        __typename } }"""
    refused_for_nul(
        await post(
            client,
            admin_token,
            patch,
            {"input": {"id": encode_id("User", user_id), "patch": {"bio": "a\x00b"}}},
        )
    )
    profile = await pool.fetchval("SELECT profile FROM accounts.users WHERE id = $1", user_id)
    assert "bio" not in (profile or "{}")


async def test_other_control_characters_still_reach_the_resolvers(
    client: httpx.AsyncClient, admin_token: str
) -> None:
    """Only U+0000 is refused: other odd text is answered normally."""
    response = await post(
        client,
        admin_token,
        "query($s: String) { groups(search: $s) { totalCount } group(slug: $s) { id } }",
        {"s": "\x01\u0085\ufeff\U0001f600"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    assert body["data"]["group"] is None
    assert body["data"]["groups"]["totalCount"] == 0
