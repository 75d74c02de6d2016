"""Persisted documents by hash (Apollo's convention) and trusted-documents mode."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import orjson
import pytest

from accounts_gql.app import create_app
from accounts_gql.core.settings import Settings

QUERY = "{ contactTypes { code } }"
HASH = hashlib.sha256(QUERY.encode()).hexdigest()


def _persisted(digest: str = HASH) -> dict[str, object]:
    return {"persistedQuery": {"version": 1, "sha256Hash": digest}}


async def test_a_hash_is_asked_for_then_remembered(client: httpx.AsyncClient) -> None:
    unique_query = "{ contactTypes { code name } }"
    digest = hashlib.sha256(unique_query.encode()).hexdigest()
    first = await client.post("/graphql", json={"extensions": _persisted(digest)})
    assert first.status_code == 200
    assert first.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"

    registered = await client.post(
        "/graphql", json={"query": unique_query, "extensions": _persisted(digest)}
    )
    assert registered.json()["data"]["contactTypes"]

    by_hash = await client.post("/graphql", json={"extensions": _persisted(digest)})
    assert by_hash.json() == registered.json()
    by_get = await client.get(
        "/graphql", params={"extensions": orjson.dumps(_persisted(digest)).decode()}
    )
    assert by_get.json() == registered.json()


async def test_a_hash_that_does_not_match_its_query_is_refused(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/graphql",
        json={"query": QUERY, "extensions": _persisted("0" * 64)},
        headers={"accept": "application/graphql-response+json"},
    )
    assert response.status_code == 400
    assert "does not match" in response.json()["errors"][0]["message"]


@pytest.fixture
async def trusted(database_url: str, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    manifest = tmp_path / "trusted.json"
    manifest.write_bytes(orjson.dumps({HASH: QUERY}))
    settings = Settings(
        database_url=database_url,
        jwt_secret="t" * 40,
        relay_enabled=False,
        trusted_documents=manifest,
        db_pool_min=1,
        db_pool_max=2,
    )
    app = create_app(settings, database_url)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        yield client


async def test_trusted_mode_runs_only_known_documents(trusted: httpx.AsyncClient) -> None:
    known = await trusted.post("/graphql", json={"extensions": _persisted()})
    assert known.json()["data"]["contactTypes"]
    for body in (
        {"query": QUERY},
        {"query": "{ contactTypes { name } }"},
        {"extensions": _persisted("1" * 64)},
    ):
        refused = await trusted.post("/graphql", json=body)
        assert refused.json()["errors"][0]["extensions"]["code"] == "UNTRUSTED_DOCUMENT"
