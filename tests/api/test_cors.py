"""Browser frontends on other origins (api/cors.py): a preflight and an actual
request, from an allowed origin and from a refused one."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from accounts_gql.app import create_app
from accounts_gql.core.settings import Settings

ROOT = Path(__file__).resolve().parent.parent.parent
FRONTEND = "https://app.example.com"
STRANGER = "https://evil.example.net"
QUERY = {"query": "{ contactTypes { code } }"}


@asynccontextmanager
async def app_client(settings: Settings, **overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
    configured = settings.model_copy(update=overrides)
    app = create_app(configured, str(configured.database_url))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://x") as client,
    ):
        yield client


def preflight(origin: str) -> dict[str, str]:
    return {
        "origin": origin,
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type",
    }


async def test_an_allowed_origin_gets_a_cached_preflight_with_credentials(
    settings: Settings,
) -> None:
    async with app_client(settings, cors_origins=f"{FRONTEND}, https://admin.example.com") as api:
        response = await api.options("/graphql", headers=preflight(FRONTEND))
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == FRONTEND
        assert response.headers["access-control-allow-credentials"] == "true"
        allowed = response.headers["access-control-allow-headers"].lower().split(", ")
        assert {"authorization", "content-type"} <= set(allowed)
        assert "POST" in response.headers["access-control-allow-methods"]
        assert response.headers["access-control-max-age"] == "3600"

        actual = await api.post("/graphql", json=QUERY, headers={"origin": FRONTEND})
        assert actual.status_code == 200
        assert actual.json()["data"]["contactTypes"]
        assert actual.headers["access-control-allow-origin"] == FRONTEND
        assert actual.headers["access-control-allow-credentials"] == "true"
        assert "x-request-id" in actual.headers["access-control-expose-headers"].lower()


async def test_a_refused_origin_gets_no_cors_headers(settings: Settings) -> None:
    async with app_client(settings, cors_origins=FRONTEND) as api:
        response = await api.options("/graphql", headers=preflight(STRANGER))
        assert response.status_code == 400
        assert "access-control-allow-origin" not in response.headers
        # The request itself still runs (CORS is the browser's check), but the
        # browser gets no permission to read the answer.
        actual = await api.post("/graphql", json=QUERY, headers={"origin": STRANGER})
        assert "access-control-allow-origin" not in actual.headers


async def test_development_allows_localhost_on_any_port(settings: Settings) -> None:
    async with app_client(settings, app_env="development", cors_origins=None) as api:
        for origin in ("http://localhost:5173", "http://127.0.0.1:3000"):
            response = await api.options("/graphql", headers=preflight(origin))
            assert response.headers["access-control-allow-origin"] == origin
        response = await api.options("/graphql", headers=preflight(FRONTEND))
        assert response.status_code == 400


async def test_production_allows_no_origin_by_default(settings: Settings) -> None:
    async with app_client(
        settings, app_env="production", cors_origins=None, jwt_secret="c" * 40
    ) as api:
        response = await api.options("/graphql", headers=preflight("http://localhost:5173"))
        assert response.status_code == 405
        assert "access-control-allow-origin" not in response.headers


def test_a_wildcard_origin_is_refused(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "accounts_gql.cli", "serve"],
        cwd=ROOT,
        env=os.environ | {"CORS_ORIGINS": "https://a.example.com, *", "LOG_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "CORS_ORIGINS" in result.stderr
