"""Fixtures of the identity tests: one app on the run's database that clients reach
from addresses of their choosing (login throttling, sessions), and GraphQL helpers.

The app signs access tokens with EdDSA (two keys of its own) and hashes with cheap
argon2 parameters so that tests sending dozens of logins stay quick; throttling
and sessions do not depend on the hash's cost.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from accounts_gql.app import create_app
from accounts_gql.core.keys import new_private_key_entry
from accounts_gql.core.settings import Settings

PASSWORD = "correct horse battery"
SESSION = """
    __typename
    ... on AuthPayload { accessToken refreshToken user { id username } }
    ... on Error { message }
"""
SIGN_UP = f"mutation($input: SignUpInput!) {{ signUp(input: $input) {{ {SESSION} }} }}"
LOGIN = (
    "mutation($input: LoginInput!) { login(input: $input) { "
    f"{SESSION} ... on TooManyAttempts {{ retryAfterSeconds }} }} }}"
)
REFRESH = (
    "mutation($input: RefreshTokenInput!) { refreshToken(input: $input) { "
    f"{SESSION} ... on SessionRevoked {{ reason }} }} }}"
)


class Api:
    """An HTTP client of the identity app, as seen from one client address."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def post(
        self, query: str, variables: dict[str, Any] | None = None, *, token: str | None = None
    ) -> dict[str, Any]:
        headers = {"accept": "application/graphql-response+json"}
        if token is not None:
            headers["authorization"] = f"Bearer {token}"
        response = await self.http.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        assert "errors" not in body, body
        return body

    async def field(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        token: str | None = None,
    ) -> dict[str, Any]:
        """The one root field's value of the answer."""
        data = (await self.post(query, variables, token=token))["data"]
        value: dict[str, Any] = next(iter(data.values()))
        return value

    async def sign_up(self, username: str, password: str = PASSWORD) -> dict[str, Any]:
        return await self.field(SIGN_UP, {"input": {"username": username, "password": password}})

    async def login(self, username: str, password: str = PASSWORD) -> dict[str, Any]:
        return await self.field(LOGIN, {"input": {"username": username, "password": password}})

    async def refresh(self, refresh_token: str) -> dict[str, Any]:
        return await self.field(REFRESH, {"input": {"refreshToken": refresh_token}})


# Two Ed25519 keys: the first signs, both verify and are published.
SIGNING_KEYS = f"{new_private_key_entry('identity-new')},{new_private_key_entry('identity-old')}"


def identity_settings(settings: Settings, **changes: Any) -> Settings:
    return settings.model_copy(
        update={
            "argon2_memory_cost": 1024,
            "argon2_time_cost": 1,
            "jwt_private_keys": SIGNING_KEYS,
            **changes,
        }
    )


@pytest.fixture(scope="session")
def identity_config(settings: Settings) -> Settings:
    """The identity app's settings: EdDSA with SIGNING_KEYS, cheap hashing."""
    return identity_settings(settings)


@pytest.fixture(scope="session")
async def identity_app(identity_config: Settings, database_url: str) -> AsyncIterator[Starlette]:
    app = create_app(identity_config, database_url)
    async with app.router.lifespan_context(app):
        yield app


ApiFrom = Callable[..., Awaitable[Api]]


@pytest.fixture
async def api_from(identity_app: Starlette) -> AsyncIterator[ApiFrom]:
    """`await api_from("198.51.100.7", user_agent=...)`: a client of the identity app
    whose requests come from that address."""
    async with AsyncExitStack() as stack:

        async def make(address: str, user_agent: str = "identity-tests") -> Api:
            transport = httpx.ASGITransport(app=identity_app, client=(address, 40000))
            http = await stack.enter_async_context(
                httpx.AsyncClient(
                    transport=transport,
                    base_url="http://identity",
                    headers={"user-agent": user_agent},
                    timeout=30,
                )
            )
            return Api(http)

        yield make
