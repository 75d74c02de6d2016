"""Resource limits: the smallest request over each is refused, the largest under passes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from accounts_gql.app import create_app
from accounts_gql.core.settings import Settings

GRAPHQL_RESPONSE = "application/graphql-response+json"


@pytest.fixture(scope="module")
async def tight(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app with small limits, so that each is easy to reach."""
    settings = Settings(
        database_url=database_url,
        jwt_secret="limits-secret-" + "x" * 32,
        relay_enabled=False,
        max_query_depth=4,
        max_aliases=2,
        max_tokens=60,
        max_query_cost=100,
        max_batch_operations=2,
        max_body_bytes=2048,
        db_pool_min=1,
        db_pool_max=2,
    )
    app = create_app(settings, database_url)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        yield client


async def _post(client: httpx.AsyncClient, body: Any) -> httpx.Response:
    return await client.post("/graphql", json=body, headers={"accept": GRAPHQL_RESPONSE})


def _code(response: httpx.Response) -> str:
    return str(response.json()["errors"][0]["extensions"]["code"])


async def test_depth(tight: httpx.AsyncClient) -> None:
    # contactTypes(1) > code(2): depth 2; nodes through users add levels.
    under = "{ users(first: 1) { edges { node { username } } } }"  # depth 4
    over = "{ users(first: 1) { edges { node { memberships { role } } } } }"  # depth 5
    assert (
        "errors" not in (await _post(tight, {"query": under})).json()
        or _code(await _post(tight, {"query": under})) != "QUERY_TOO_DEEP"
    )
    response = await _post(tight, {"query": over})
    assert response.status_code == 400
    assert _code(response) == "QUERY_TOO_DEEP"


async def test_aliases(tight: httpx.AsyncClient) -> None:
    under = "{ a: contactTypes { code } b: contactTypes { code } }"
    over = "{ a: contactTypes { code } b: contactTypes { code } c: contactTypes { code } }"
    assert (await _post(tight, {"query": under})).status_code == 200
    response = await _post(tight, {"query": over})
    assert response.status_code == 400
    assert _code(response) == "TOO_MANY_ALIASES"


async def test_typename_aliases_count(tight: httpx.AsyncClient, client: httpx.AsyncClient) -> None:
    under = "{ a: __typename b: __typename }"
    over = "{ a: __typename contactTypes { ... on ContactType { b: __typename c: __typename } } }"
    assert (await _post(tight, {"query": under})).json() == {"data": {"a": "Query", "b": "Query"}}
    response = await _post(tight, {"query": over})
    assert (response.status_code, _code(response)) == (400, "TOO_MANY_ALIASES")
    # The default limit (30) with the 1,000 aliases that used to pass.
    many = "{ " + " ".join(f"t{i}: __typename" for i in range(1000)) + " }"
    response = await _post(client, {"query": many})
    assert (response.status_code, _code(response)) == (400, "TOO_MANY_ALIASES")


async def test_tokens(tight: httpx.AsyncClient) -> None:
    # The parser counts the tokens before the final "}": 5 + one per field.
    under = "{ contactTypes { " + "code " * 55 + "} }"  # 60 counted
    over = "{ contactTypes { " + "code " * 56 + "} }"  # 61 counted
    assert (await _post(tight, {"query": under})).status_code == 200
    response = await _post(tight, {"query": over})
    assert response.status_code == 400
    assert "tokens" in response.json()["errors"][0]["message"]


async def test_cost_weighs_connections_by_their_page_size(tight: httpx.AsyncClient) -> None:
    # users (1) + edges (n) + node (n) + id (n) = 1 + 3n: n = 33 costs 100, n = 34 costs 103.
    query = "query($n: Int!) { users(first: $n) { edges { node { id } } } }"
    under = await _post(tight, {"query": query, "variables": {"n": 33}})
    assert under.status_code == 200
    over = await _post(tight, {"query": query, "variables": {"n": 34}})
    assert over.status_code == 400
    assert _code(over) == "QUERY_TOO_COSTLY"
    literal = await _post(tight, {"query": "{ users(first: 34) { edges { node { id } } } }"})
    assert _code(literal) == "QUERY_TOO_COSTLY"


async def test_batch_size(tight: httpx.AsyncClient) -> None:
    one = {"query": "{ contactTypes { code } }"}
    under = await _post(tight, [one, one])
    assert under.status_code == 200
    assert [len(item["data"]["contactTypes"]) > 0 for item in under.json()] == [True, True]
    over = await _post(tight, [one, one, one])
    assert over.status_code == 400


async def test_body_size(tight: httpx.AsyncClient) -> None:
    padding = " " * 1900
    under = await _post(tight, {"query": "{ contactTypes { code } }" + padding})
    assert under.status_code == 200
    over = await _post(tight, {"query": "{ contactTypes { code } }" + padding + " " * 200})
    assert over.status_code == 413


async def test_page_size(tight: httpx.AsyncClient) -> None:
    # Over 100 rows a page is refused whatever the cost limit says.
    response = await _post(tight, {"query": "{ users(first: 101) { edges { cursor } } }"})
    assert response.json()["errors"]
