"""The service with a TCP proxy between it and PostgreSQL (and RabbitMQ), and
what it logged meanwhile."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from accounts_gql.app import create_app
from accounts_gql.core.security import issue_access_token
from accounts_gql.core.settings import Settings
from tests.log_capture import LogLines
from tests.proxy import TcpProxy, proxied_url

__all__ = ["LogLines"]

GRAPHQL_RESPONSE = "application/graphql-response+json"
CONTACT_TYPES = "{ contactTypes { code } }"


def fault_settings(database_url: str, **overrides: Any) -> Settings:
    """Settings with short timeouts, so that faults show within a test's patience."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "jwt_secret": "faults-secret-" + "x" * 32,
        "rabbitmq_url": None,
        "relay_enabled": False,
        "db_pool_min": 1,
        "db_pool_max": 4,
        "db_statement_timeout": 1.0,
        "db_acquire_timeout": 1.0,
        **overrides,
    }
    return Settings(**values)


@asynccontextmanager
async def serving(settings: Settings, dsn: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, dsn)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://faults", timeout=30
        ) as client,
    ):
        yield client


@pytest.fixture
async def proxied(
    database_url: str, pg_proxy: TcpProxy
) -> AsyncIterator[tuple[httpx.AsyncClient, TcpProxy]]:
    """The service on the run's database through `pg_proxy`."""
    dsn = proxied_url(database_url, pg_proxy)
    async with serving(fault_settings(dsn), dsn) as client:
        yield client, pg_proxy


def admin_headers(settings_secret: str = "faults-secret-" + "x" * 32) -> dict[str, str]:
    settings = Settings(jwt_secret=settings_secret)
    token = issue_access_token(settings, uuid.uuid4(), ["admin"])
    return {"authorization": f"Bearer {token}", "accept": GRAPHQL_RESPONSE}


async def post(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    return await client.post(
        "/graphql",
        json={"query": query, "variables": variables or {}},
        headers=headers or {"accept": GRAPHQL_RESPONSE},
    )


def code_of(response: httpx.Response) -> str | None:
    errors = response.json().get("errors") or [{}]
    code: str | None = errors[0].get("extensions", {}).get("code")
    return code
