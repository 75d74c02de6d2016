"""The service as a whole: a mutation over HTTP reaches a consumer through the
relay that `serve` runs, and /readyz shows the broker."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from accounts_gql.app import create_app
from accounts_gql.core.security import issue_access_token
from tests.events.conftest import Collector, relay_settings, wait_until


async def test_a_mutation_reaches_a_consumer_through_the_served_relay(
    database_url: str, exchange_name: str, bind_queue: object
) -> None:
    settings = relay_settings(exchange_name).model_copy(
        update={"jwt_secret": "e" * 40, "db_pool_min": 1, "db_pool_max": 2}
    )
    app = create_app(settings, database_url)
    token = issue_access_token(settings, uuid.uuid4(), ["admin"])
    username = f"ev{uuid.uuid4().hex[:10]}"
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://e") as client,
    ):
        collector: Collector = await bind_queue()  # type: ignore[operator]
        created = await client.post(
            "/graphql",
            json={
                "query": """mutation($u: String!) { createUser(input: {username: $u}) {
                    ... on UserPayloadSuccess { user { id } } } }""",
                "variables": {"u": username},
            },
            headers={"authorization": f"Bearer {token}"},
        )
        assert created.json()["data"]["createUser"]["user"]["id"]

        def mine() -> list[dict[str, Any]]:
            return [
                r.envelope
                for r in collector.received
                if r.envelope["data"].get("user", {}).get("username") == username
            ]

        await wait_until(lambda: bool(mine()), within=10, what="user.created")
        envelope = mine()[0]
        assert envelope["type"] == "user.created"
        assert envelope["sequence"] == 1

        ready = await client.get("/readyz")
        assert ready.json()["checks"]["broker"] == "ok"
        assert ready.json()["status"] == "ready"
