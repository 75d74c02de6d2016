"""What each port serves (api/listeners.py), and GraphiQL's files only with GraphiQL on."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from accounts_gql.app import create_app
from accounts_gql.core.settings import Settings
from tests.ports import free_port

ROOT = Path(__file__).resolve().parent.parent.parent
ASSET = "/graphql/assets/graphiql.min.js"


@asynccontextmanager
async def app_client(settings: Settings, **overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
    configured = settings.model_copy(update=overrides)
    app = create_app(configured, str(configured.database_url))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://x") as client,
    ):
        yield client


async def test_metrics_answer_on_their_port_only(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    metrics = f"http://127.0.0.1:{settings.metrics_port}"
    assert (await client.get("/metrics")).status_code == 404
    assert (await client.get(f"{metrics}/metrics")).status_code == 200
    # The metrics port serves nothing else.
    assert (await client.get(f"{metrics}/healthz")).status_code == 404
    assert (
        await client.post(f"{metrics}/graphql", json={"query": "{ __typename }"})
    ).status_code == 404


async def test_without_a_metrics_port_there_are_no_metrics(settings: Settings) -> None:
    async with app_client(settings, metrics_port=None) as client:
        assert (await client.get("/metrics")).status_code == 404
        assert (await client.get("http://127.0.0.1:9464/metrics")).status_code == 404
        assert (await client.get("/healthz")).status_code == 200


def test_metrics_listen_on_localhost_unless_told_otherwise() -> None:
    assert Settings().metrics_host == "127.0.0.1"
    assert Settings().metrics_port is None


async def test_graphiql_files_are_served_only_with_graphiql_on(settings: Settings) -> None:
    async with app_client(settings, graphiql=True) as on:
        assert (await on.get(ASSET)).status_code == 200
    async with app_client(settings, graphiql=False) as off:
        assert (await off.get(ASSET)).status_code == 404
        page = await off.get("/graphql", headers={"accept": "text/html"})
        assert "GraphiQL" not in page.text


def test_serve_listens_for_metrics_on_a_port_of_their_own(
    database_url: str, tmp_path: Path
) -> None:
    port, metrics_port = free_port(), free_port()
    env = os.environ | {
        "DATABASE_URL": database_url,
        "JWT_SECRET": "m" * 40,
        "PORT": str(port),
        "METRICS_PORT": str(metrics_port),
        "LOG_DIR": str(tmp_path),
        "RELAY_ENABLED": "false",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "accounts_gql.cli", "serve"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    public, metrics = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{metrics_port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, f"serve exited with {process.returncode}"
            try:
                if httpx.get(f"{public}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "serve did not come up"
            time.sleep(0.2)
        assert httpx.get(f"{public}/metrics").status_code == 404
        scraped = httpx.get(f"{metrics}/metrics")
        assert scraped.status_code == 200
        assert 'accounts_http_requests_total{path="/healthz",status="200"}' in scraped.text
        assert httpx.get(f"{metrics}/graphql").status_code == 404
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def test_a_metrics_port_equal_to_the_public_port_is_refused(tmp_path: Path) -> None:
    env = os.environ | {"PORT": "8123", "METRICS_PORT": "8123", "LOG_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "accounts_gql.cli", "serve"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "METRICS_PORT must differ from PORT" in result.stderr
