"""Each limit has its own `extensions.code` (docs/errors.md), and the status
follows the response type as the GraphQL-over-HTTP specification has it: 400
in application/graphql-response+json, 200 in application/json (or without an
Accept header); the body limit is 413 in both, read no further."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from accounts_gql.app import create_app
from accounts_gql.core.errors import REQUEST_CODES
from accounts_gql.core.settings import Settings

GRAPHQL_RESPONSE = "application/graphql-response+json"
ACCEPTS: dict[str, dict[str, str]] = {
    "graphql-response": {"accept": GRAPHQL_RESPONSE},
    "json": {"accept": "application/json"},
    "no accept": {},
}


@pytest.fixture(scope="module")
async def tight(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        database_url=database_url,
        jwt_secret="codes-secret-" + "x" * 32,
        relay_enabled=False,
        max_query_depth=4,
        max_tokens=60,
        max_batch_operations=2,
        max_body_bytes=2048,
        db_pool_min=1,
        db_pool_max=2,
    )
    app = create_app(settings, database_url)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://c") as client,
    ):
        yield client


def _error(response: httpx.Response) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["errors"][0]
    return error


@pytest.mark.parametrize("accept", ACCEPTS)
async def test_the_token_limit_has_its_own_code(tight: httpx.AsyncClient, accept: str) -> None:
    over = "{ contactTypes { " + "code " * 56 + "} }"
    response = await tight.post("/graphql", json={"query": over}, headers=ACCEPTS[accept])
    assert response.status_code == (400 if accept == "graphql-response" else 200)
    error = _error(response)
    assert error["extensions"] == {"code": "TOO_MANY_TOKENS", "limit": 60}
    assert "data" not in response.json()


@pytest.mark.parametrize("accept", ACCEPTS)
async def test_the_body_limit_has_its_own_code(tight: httpx.AsyncClient, accept: str) -> None:
    body = {"query": "{ contactTypes { code } }" + " " * 2100}
    response = await tight.post("/graphql", json=body, headers=ACCEPTS[accept])
    assert response.status_code == 413
    assert _error(response)["extensions"] == {"code": "BODY_TOO_LARGE", "limit": 2048}


async def test_the_batch_limit_has_its_own_code(tight: httpx.AsyncClient) -> None:
    one = {"query": "{ contactTypes { code } }"}
    response = await tight.post("/graphql", json=[one, one, one], headers=ACCEPTS["json"])
    assert response.status_code == 400
    assert _error(response)["extensions"] == {"code": "TOO_MANY_OPERATIONS", "limit": 2}


@pytest.mark.parametrize("accept", ACCEPTS)
async def test_a_limit_with_application_json_is_200(tight: httpx.AsyncClient, accept: str) -> None:
    deep = "{ users(first: 1) { edges { node { memberships { role } } } } }"
    response = await tight.post("/graphql", json={"query": deep}, headers=ACCEPTS[accept])
    assert response.status_code == (400 if accept == "graphql-response" else 200)
    assert _error(response)["extensions"]["code"] == "QUERY_TOO_DEEP"


def test_the_codes_are_documented() -> None:
    for code in ("TOO_MANY_TOKENS", "BODY_TOO_LARGE", "TOO_MANY_OPERATIONS", "SERVICE_UNAVAILABLE"):
        assert code in REQUEST_CODES
