"""SQL statements per request: nested lists are batched by dataloaders, so the
number of statements does not grow with the page size (PRODUCT §4). Counts, not
timings; the exact numbers are asserted so that a regression shows."""

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
from accounts_gql.db.pool import StatementCounter

Counted = Callable[[str, dict[str, Any]], Awaitable[tuple[int, dict[str, Any]]]]

Q2 = """query($first: Int!, $search: String) {
  users(first: $first, filter: {search: $search}) {
    edges { node {
      id username
      contacts { value type { code } }
      memberships { role group { id slug name } }
    } }
  }
}"""

NESTED_MEMBERS = """query($first: Int!, $search: String) {
  users(first: $first, filter: {search: $search}) {
    edges { node {
      username
      memberships { role group { id members(first: 10) { edges { node { user { username } } } } } }
    } }
  }
}"""

# Q2: the users page, contacts, contact types, memberships, groups.
Q2_STATEMENTS = 5
# The users page, memberships, groups, one member page statement for all groups,
# and the member users not on the page.
NESTED_STATEMENTS = 5


@pytest.fixture(scope="module")
async def seed_batch(pool: asyncpg.Pool) -> AsyncIterator[str]:
    """Seeds 120 demo users in 4 groups; yields the token in all their usernames.

    Removes them afterwards (seeding records no events, nor does this), so that
    later seedings of the shared test database do not meet their phone numbers."""
    before = set(await pool.fetchval("SELECT array_agg(slug) FROM accounts.user_groups") or [])
    await pool.fetchrow("SELECT * FROM accounts.seed_demo(120, 4)")
    after = set(await pool.fetchval("SELECT array_agg(slug) FROM accounts.user_groups"))
    (slug, *_) = sorted(after - before)
    batch: str = slug.split("-")[1]  # team-<batch>-<n>
    users = await pool.fetchval(
        "SELECT count(*) FROM accounts.users WHERE username LIKE '%.' || $1 || '%'", batch
    )
    assert users == 120
    yield batch
    await pool.execute(
        "DELETE FROM accounts.user_groups WHERE slug = ANY($1)", sorted(after - before)
    )
    await pool.execute("DELETE FROM accounts.users WHERE username LIKE '%.' || $1 || '%'", batch)


class RequestStatements(StatementCounter):
    """Counts the statements requests cause, leaving out asyncpg's type introspection:
    a connection runs it (with its jit toggles) once per type it has not yet seen,
    whichever pool connection a loader happens to get, so it is no cost per request."""

    def __call__(self, record: object) -> None:
        query = getattr(record, "query", "")
        if "typeinfo_tree" in query or "set_config('jit'" in query:
            return
        super().__call__(record)


@pytest.fixture(scope="module")
async def counted(settings: Settings, database_url: str, seed_batch: str) -> AsyncIterator[Counted]:
    """Runs a query as an admin on an app of its own; the statements it sent, and the body."""
    counter = RequestStatements()
    app = create_app(settings, database_url, counter)
    token = issue_access_token(settings, uuid.uuid4(), ("admin",))
    headers = {"authorization": f"Bearer {token}"}

    async def run(query: str, variables: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        before = counter.count
        response = await http.post(
            "/graphql", json={"query": query, "variables": variables}, headers=headers
        )
        body: dict[str, Any] = response.json()
        assert "errors" not in body, body
        return counter.count - before, body

    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http,
    ):
        for query in (Q2, NESTED_MEMBERS):  # warm up: first requests open connections
            await run(query, {"first": 50, "search": seed_batch})
        yield run


@pytest.mark.parametrize("first", [5, 50])
async def test_q2_issues_the_same_statements_for_any_page_size(
    counted: Counted, seed_batch: str, first: int
) -> None:
    statements, body = await counted(Q2, {"first": first, "search": seed_batch})
    print(f"Q2 first={first}: {statements} statements")
    edges = body["data"]["users"]["edges"]
    assert len(edges) == first
    assert all(edge["node"]["contacts"] for edge in edges)
    memberships = [m for edge in edges for m in edge["node"]["memberships"]]
    assert len(memberships) > first  # every user one group, many a second
    assert all(m["group"]["slug"] for m in memberships)
    assert statements == Q2_STATEMENTS


@pytest.mark.parametrize("first", [5, 20, 50])
async def test_member_pages_of_every_membership_are_one_statement(
    counted: Counted, seed_batch: str, first: int
) -> None:
    statements, body = await counted(NESTED_MEMBERS, {"first": first, "search": seed_batch})
    print(f"users(first: {first}) > memberships > group > members(first: 10): {statements}")
    edges = body["data"]["users"]["edges"]
    assert len(edges) == first
    for edge in edges:
        for membership in edge["node"]["memberships"]:
            members = membership["group"]["members"]["edges"]
            assert len(members) == 10
            assert all(member["node"]["user"]["username"] for member in members)
    assert statements == NESTED_STATEMENTS


async def test_counts_agree_across_page_sizes(counted: Counted, seed_batch: str) -> None:
    """The same shape at 1, 7, 33 and 100 rows: one number."""
    counts = {}
    for first in (1, 7, 33, 100):
        counts[first], _ = await counted(Q2, {"first": first, "search": seed_batch})
    print(f"Q2 statements by page size: {counts}")
    assert set(counts.values()) == {Q2_STATEMENTS}
