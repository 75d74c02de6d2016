"""An HTTP client of the whole application (ASGI, in process) on this run's database.

Every query sent through `gql` is sent twice: to the app as configured (queries
through the planned path, `compiled_execution=True`) and to `standard_client`
(graphql-core's standard execution only); the two responses must be the same
bytes with the same status. The counts are printed at the end of the session.
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
import pytest
from graphql import GraphQLError, OperationDefinitionNode, OperationType, parse

from accounts_gql.api.metrics import registry
from accounts_gql.app import create_app
from accounts_gql.core.security import issue_access_token
from accounts_gql.core.settings import Settings
from tests.api.identity import api_from, identity_app, identity_config  # noqa: F401 (fixtures)

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
        # In process no port is bound: a request to this port is one to the
        # metrics listener (api/listeners.py).
        metrics_port=9464,
    )


@pytest.fixture(scope="session")
async def client(settings: Settings, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, database_url)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http,
    ):
        yield http


@pytest.fixture(scope="session")
async def standard_client(
    settings: Settings, database_url: str
) -> AsyncIterator[httpx.AsyncClient]:
    """Like `client`, but every operation runs through graphql-core's standard execution."""
    standard = settings.model_copy(update={"compiled_execution": False})
    app = create_app(standard, database_url)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http,
    ):
        yield http


@dataclass
class Differential:
    """Counts of the planned path's responses compared with the standard path's."""

    suite_compared: int = 0
    suite_differences: int = 0
    generated_compared: int = 0
    generated_differences: int = 0
    # Distinct generated cases that differed (hypothesis runs a failing case
    # again while shrinking it; each case counts once).
    generated_failing: set[str] = field(default_factory=set)
    # How the generated operations were answered: "200 data", "200 data+errors", "400", …
    generated_outcomes: Counter[str] = field(default_factory=Counter)
    # How the planned app ran the generated queries (its metric, when it has one).
    generated_paths: Counter[str] = field(default_factory=Counter)


DIFFERENTIAL = Differential()

# Sent with both requests of a pair, so that the request ids in masked errors
# (extensions.requestId) are equal instead of random.
_request_ids = itertools.count(1)


def is_query(document: str) -> bool:
    """Whether the document's operation(s) are queries (unparsable documents are not)."""
    try:
        parsed = parse(document)
    except GraphQLError:
        return False
    operations = [d for d in parsed.definitions if isinstance(d, OperationDefinitionNode)]
    return bool(operations) and all(op.operation is OperationType.QUERY for op in operations)


def _json(content: bytes) -> Any:
    try:
        return json.loads(content)
    except ValueError:
        return None


def _errors_sorted(content: bytes) -> Any:
    body = _json(content)
    if isinstance(body, dict) and isinstance(body.get("errors"), list):
        body["errors"] = sorted(body["errors"], key=lambda e: json.dumps(e, sort_keys=True))
    return body


def difference(planned: httpx.Response, standard: httpx.Response) -> str | None:
    """None when both responses have the same status and body bytes, else both shown."""
    if planned.status_code == standard.status_code and planned.content == standard.content:
        return None
    kind = ""
    if planned.status_code == standard.status_code:
        if _json(planned.content) == _json(standard.content) is not None:
            kind = " (the same JSON, other bytes)"
        elif _errors_sorted(planned.content) == _errors_sorted(standard.content) is not None:
            kind = " (the same errors in another order)"
    return (
        f"the planned and standard paths answered differently{kind}\n"
        f"planned  (compiled_execution=True):  {planned.status_code} "
        f"{planned.content.decode(errors='replace')}\n"
        f"standard (compiled_execution=False): {standard.status_code} "
        f"{standard.content.decode(errors='replace')}"
    )


async def post_both(
    client: httpx.AsyncClient,
    standard_client: httpx.AsyncClient,
    body: dict[str, Any],
    headers: dict[str, str],
) -> tuple[httpx.Response, httpx.Response]:
    """Posts the same request to the planned and the standard path."""
    headers = headers | {"x-request-id": f"differential-{next(_request_ids)}"}
    before = planned_outcomes()
    planned = await client.post("/graphql", json=body, headers=headers)
    ran = planned_outcomes() - before
    if ran["failed"]:
        pytest.fail(f"an execution plan failed (see the log) for {body}")
    standard = await standard_client.post("/graphql", json=body, headers=headers)
    if (ran["unplanned"] or ran["deoptimized"]) and should_be_planned(body, standard):
        pytest.fail(
            f"a query the plans cover fell back to the standard path ({', '.join(ran)}): {body}"
        )
    return planned, standard


def should_be_planned(body: dict[str, Any], standard: httpx.Response) -> bool:
    """Whether the plans should have answered a query: one the standard path answers
    without an error, and no introspection (which plans leave to graphql-core). A
    plan that quietly gives up on it (a broken assumption of the engine's adapter
    after an upgrade looks like that) fails the suite."""
    query = body.get("query") or ""
    if standard.status_code != 200 or "__schema" in query or "__type" in query:
        return False
    answer = _json(standard.content)
    return isinstance(answer, dict) and "errors" not in answer and answer.get("data") is not None


def planned_outcomes() -> Counter[str]:
    """The planned app's count of queries by how they ran: planned, unplanned, deoptimized,
    failed. The metric is per process."""
    counts: Counter[str] = Counter()
    for outcome in ("planned", "unplanned", "deoptimized", "failed"):
        value = registry.get_sample_value(
            "accounts_graphql_planned_queries_total", {"outcome": outcome}
        )
        if value:
            counts[outcome] = int(value)
    return counts


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{key}: {n}" for key, n in sorted(counter.items())) or "none"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    d = DIFFERENTIAL
    if d.suite_compared:
        terminalreporter.write_line(
            f"differential: {d.suite_compared} queries of the suite compared,"
            f" {d.suite_differences} differences"
        )
    if d.generated_compared:
        terminalreporter.write_line(
            f"differential: {d.generated_compared} generated operations compared,"
            f" {d.generated_differences} differences"
            f" ({len(d.generated_failing)} distinct failing cases)"
        )
        terminalreporter.write_line(
            f"differential: generated operations answered: {_counts(d.generated_outcomes)}"
        )
        terminalreporter.write_line(
            f"differential: generated operations on the planned app: {_counts(d.generated_paths)}"
        )
    if d.suite_compared or d.generated_compared:
        terminalreporter.write_line(
            f"differential: all queries on the planned app: {_counts(planned_outcomes())}"
        )


def token_for(settings: Settings, user_id: uuid.UUID, roles: tuple[str, ...] = ()) -> str:
    return issue_access_token(settings, user_id, roles)


@pytest.fixture
def gql(
    client: httpx.AsyncClient, standard_client: httpx.AsyncClient, settings: Settings
) -> GraphQL:
    """Posts a GraphQL request as `as_user` (a user id) or anonymously; returns the JSON body.

    A query is also posted to the standard path; a different status or body fails the test.
    """

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
        payload = {"query": query, "variables": variables or {}}
        if not is_query(query):
            response = await client.post("/graphql", json=payload, headers=headers)
        else:
            response, standard = await post_both(client, standard_client, payload, headers)
            DIFFERENTIAL.suite_compared += 1
            differs = difference(response, standard)
            if differs is not None:
                DIFFERENTIAL.suite_differences += 1
                pytest.fail(
                    f"{differs}\nquery: {query}\nvariables: {variables}\n"
                    f"viewer: {as_user} roles={roles}"
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
