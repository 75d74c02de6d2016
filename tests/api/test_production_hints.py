"""In production no error suggests a name ("Did you mean …?"): not in
validation, and not in the coercion of variables either (a typo in an enum
value or an input field would reveal the schema that introspection hides)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from accounts_gql.app import create_app
from accounts_gql.core.settings import Settings

CASES = {
    "enum value": (
        "query($s: UserStatus) { users(filter: {status: $s}) { totalCount } }",
        {"s": "ACTIV"},
    ),
    "input field": (
        "mutation($i: CreateUserInput!) { createUser(input: $i) { __typename } }",
        {"i": {"username": "someone", "displayNam": "Some One"}},
    ),
    "order enum": (
        "query($o: UserOrder) { users(orderBy: $o) { totalCount } }",
        {"o": "USERNAME_AS"},
    ),
}


async def _client(database_url: str, app_env: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        app_env=app_env,  # type: ignore[arg-type]
        jwt_secret="h" * 40,
        database_url=database_url,
        relay_enabled=False,
        db_pool_min=1,
        db_pool_max=2,
    )
    app = create_app(settings, database_url)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://h") as client,
    ):
        yield client


@pytest.fixture(scope="module")
async def production(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async for client in _client(database_url, "production"):
        yield client


@pytest.fixture(scope="module")
async def development(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async for client in _client(database_url, "development"):
        yield client


@pytest.mark.parametrize("case", CASES)
async def test_variable_errors_give_no_hints_in_production(
    production: httpx.AsyncClient, development: httpx.AsyncClient, case: str
) -> None:
    query, variables = CASES[case]
    body = {"query": query, "variables": variables}
    hinted = (await development.post("/graphql", json=body)).json()["errors"]
    assert any("Did you mean" in e["message"] for e in hinted)  # the case reaches a hint
    errors = (await production.post("/graphql", json=body)).json()["errors"]
    assert len(errors) == len(hinted)
    assert not any("Did you mean" in e["message"] for e in errors)
    assert all("$" in e["message"] for e in errors)  # still says which variable is wrong
