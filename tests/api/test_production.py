"""Production defaults: a strong secret required; introspection, GraphiQL, hints off."""

from __future__ import annotations

import httpx
import pytest

from accounts_gql.app import create_app
from accounts_gql.core.settings import Settings


def test_production_refuses_to_start_without_a_strong_secret(database_url: str) -> None:
    for secret in (None, "short"):
        settings = Settings(app_env="production", jwt_secret=secret, database_url=database_url)
        with pytest.raises(RuntimeError, match=r"JWT_SECRET|32 bytes"):
            create_app(settings, database_url)


async def test_production_hides_the_schema(database_url: str) -> None:
    settings = Settings(
        app_env="production",
        jwt_secret="p" * 40,
        database_url=database_url,
        relay_enabled=False,
        db_pool_min=1,
        db_pool_max=2,
    )
    app = create_app(settings, database_url)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://p") as client,
    ):
        introspection = await client.post(
            "/graphql", json={"query": "{ __schema { types { name } } }"}
        )
        assert "introspection" in introspection.json()["errors"][0]["message"].lower()
        typo = await client.post("/graphql", json={"query": "{ contactType { code } }"})
        assert "Did you mean" not in typo.json()["errors"][0]["message"]
        page = await client.get("/graphql", headers={"accept": "text/html"})
        assert "GraphiQL" not in page.text
        allowed = await client.post("/graphql", json={"query": "{ contactTypes { code } }"})
        assert allowed.json()["data"]["contactTypes"]
