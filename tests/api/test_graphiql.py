"""GraphiQL for browsers, its assets served by the service itself."""

from __future__ import annotations

import re

import httpx

from accounts_gql.api.ide import assets_installed


async def test_a_browser_gets_graphiql_with_local_assets_only(client: httpx.AsyncClient) -> None:
    assert assets_installed(), "run scripts/bootstrap: GraphiQL's assets are missing"
    response = await client.get("/graphql", headers={"accept": "text/html,*/*"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert "GraphiQL" in page
    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert sources
    assert all(source.startswith("/graphql/assets/") for source in sources)
    assert "http://" not in page
    assert "https://" not in page
    for source in sources:
        asset = await client.get(source)
        assert asset.status_code == 200, source
        assert asset.headers["content-type"].split(";")[0] in {"text/javascript", "text/css"}


async def test_only_listed_assets_are_served(client: httpx.AsyncClient) -> None:
    assert (await client.get("/graphql/assets/package.json")).status_code == 404
    assert (await client.get("/graphql/assets/..%2F..%2Fide.py")).status_code == 404


async def test_a_get_with_a_query_still_runs_it(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/graphql",
        params={"query": "{ contactTypes { code } }"},
        headers={"accept": "text/html, application/json"},
    )
    assert response.json()["data"]["contactTypes"]
