"""An HTTP client of the whole application (ASGI, in process) on this run's database."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import httpx
import pytest

from accounts_gql.app import create_app
from accounts_gql.core.security import issue_access_token
from accounts_gql.core.settings import Settings

GraphQL = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        jwt_secret="test-secret-" + "x" * 32,
        rabbitmq_url=None,
        relay_enabled=False,
        db_pool_min=1,
        db_pool_max=5,
    )


@pytest.fixture(scope="session")
async def client(settings: Settings, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, database_url)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http,
    ):
        yield http


def token_for(settings: Settings, user_id: uuid.UUID, roles: tuple[str, ...] = ()) -> str:
    return issue_access_token(settings, user_id, roles)


@pytest.fixture
def gql(client: httpx.AsyncClient, settings: Settings) -> GraphQL:
    """Posts a GraphQL request as `as_user` (a user id) or anonymously; returns the JSON body."""

    async def run(
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        as_user: uuid.UUID | None = None,
        roles: tuple[str, ...] = (),
    ) -> dict[str, Any]:
        headers = {"accept": "application/graphql-response+json"}
        if as_user is not None:
            headers["authorization"] = f"Bearer {token_for(settings, as_user, roles)}"
        response = await client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )
        body: dict[str, Any] = response.json()
        return body

    return run


@pytest.fixture
async def make_user(pool: asyncpg.Pool, unique: str) -> Callable[..., Awaitable[uuid.UUID]]:
    """Creates a user directly in the database (set-up only); returns its id."""
    counter = iter(range(1000))

    async def make(username: str | None = None, roles: tuple[str, ...] = ()) -> uuid.UUID:
        name = username or f"u{unique}{next(counter)}"
        user_id: uuid.UUID = await pool.fetchval(
            "SELECT id FROM accounts.create_user($1, $2, '{}'::jsonb, $3, NULL)",
            name,
            name.title(),
            list(roles),
        )
        return user_id

    return make
