"""SQL statements per request: nested lists are batched by dataloaders, so the
number of statements does not grow with the page size (PRODUCT §4). Counts, not
timings; the exact numbers are asserted so that a regression shows."""

from __future__ import annotations

import gc
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import asyncpg
import httpx
import pytest

from accounts_gql.app import create_app
from accounts_gql.core.ids import decode_id
from accounts_gql.core.security import issue_access_token
from accounts_gql.core.settings import Settings
from accounts_gql.db.pool import StatementCounter

Counted = Callable[..., Awaitable[tuple[int, dict[str, Any]]]]

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

# Q2: the users page, and with it the contacts with their types and the
# memberships with their groups, in one statement (repositories/batches.py).
Q2_STATEMENTS = 1
# The users page with its memberships, their groups, the groups' member pages
# (one call for all groups) and the members' users, in one statement.
NESTED_STATEMENTS = 1


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
    whichever pool connection a loader happens to get, so it is no cost per request.
    Keeps their text too."""

    def __init__(self) -> None:
        super().__init__()
        self.queries: list[str] = []

    def __call__(self, record: object) -> None:
        query = getattr(record, "query", "")
        if "typeinfo_tree" in query or "set_config('jit'" in query:
            return
        self.queries.append(query)
        super().__call__(record)


@pytest.fixture(scope="module")
def statements() -> RequestStatements:
    return RequestStatements()


@pytest.fixture(scope="module")
async def counted(
    settings: Settings, database_url: str, seed_batch: str, statements: RequestStatements
) -> AsyncIterator[Counted]:
    """Runs a query as an admin on an app of its own; the statements it sent, and the body."""
    counter = statements
    app = create_app(settings, database_url, counter)

    async def run(
        query: str, variables: dict[str, Any], viewer: uuid.UUID | None = None
    ) -> tuple[int, dict[str, Any]]:
        """As an admin; `viewer`: that user, without the admin role."""
        roles = ("admin",) if viewer is None else ()
        token = issue_access_token(settings, viewer or uuid.uuid4(), roles)
        headers = {"authorization": f"Bearer {token}"}
        before = counter.count
        response = await http.post(
            "/graphql", json={"query": query, "variables": variables}, headers=headers
        )
        body: dict[str, Any] = response.json()
        assert "errors" not in body, body
        return await counter.settled() - before, body

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
async def test_a_page_of_users_with_their_groups_members_is_one_statement(
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


Q1 = """query($id: ID!) {
  user(id: $id) {
    id username displayName
    contacts { id value isPrimary type { code } }
    memberships { role joinedAt group { id slug name } }
  }
}"""

Q3 = """query($id: ID!) {
  group(id: $id) {
    id slug name memberCount
    members(first: 100) { edges { cursor node { role joinedAt user { id username } } } }
  }
}"""

ME_GROUPS = """{
  me { username groups { edges { node { slug members(first: 10) {
    edges { node { role user { username contacts { value } } } }
  } } } } }
}"""

NODES = """query($ids: [ID!]!) {
  nodes(ids: $ids) {
    __typename
    ... on User { username }
    ... on Group { slug }
    ... on Contact { value }
    ... on ContactType { code }
  }
}"""

# The nodes with what follows a user and a group of them.
NODES_FOLLOWED = """query($ids: [ID!]!) {
  nodes(ids: $ids) {
    ... on User { username contacts { value } }
    ... on Group { slug memberCount }
    ... on Contact { value }
  }
}"""

FILTERED = """query($search: String) {
  users(first: 20, filter: {search: $search, status: ACTIVE}) {
    edges { node {
      username contacts { value type { code } } primaryContact(type: "email") { value }
    } }
  }
}"""


async def batch_ids(counted: Counted, batch: str) -> dict[str, Any]:
    """Global ids of a user of the batch, its first group, a contact and its type."""
    _, body = await counted(
        """query($s: String) { users(first: 1, filter: {search: $s}) { edges { node {
             id contacts { id type { id } } memberships { group { id } } } } } }""",
        {"s": batch},
    )
    user = body["data"]["users"]["edges"][0]["node"]
    return {
        "user": user["id"],
        "group": user["memberships"][0]["group"]["id"],
        "contact": user["contacts"][0]["id"],
        "type": user["contacts"][0]["type"]["id"],
    }


async def test_q1_is_one_statement(counted: Counted, seed_batch: str) -> None:
    """The user, and below it its contacts with their types and its memberships with
    their groups: keys PostgreSQL takes from the rows above, in the same statement."""
    ids = await batch_ids(counted, seed_batch)
    statements, body = await counted(Q1, {"id": ids["user"]})
    user = body["data"]["user"]
    assert user["contacts"]
    assert all(contact["type"]["code"] for contact in user["contacts"])
    assert all(membership["group"]["slug"] for membership in user["memberships"])
    assert statements == 1


async def test_q3_is_one_statement(counted: Counted, seed_batch: str) -> None:
    """The group, and with it its member count, its page of members (for the page
    the arguments ask) and the members' users."""
    ids = await batch_ids(counted, seed_batch)
    statements, body = await counted(Q3, {"id": ids["group"]})
    group = body["data"]["group"]
    assert group["memberCount"] == len(group["members"]["edges"]) > 10
    assert all(edge["node"]["user"]["username"] for edge in group["members"]["edges"])
    assert statements == 1


async def test_me_with_groups_and_their_members(counted: Counted, seed_batch: str) -> None:
    """Me with my memberships, their groups and the groups' member pages; then the
    members' users (the user loader already leads the first statement, and a
    loader follows no chain it is in) and their contacts, which only their
    owners and admins see."""
    ids = await batch_ids(counted, seed_batch)
    viewer = decode_id(ids["user"], "User")
    statements, body = await counted(ME_GROUPS, {}, viewer)
    me = body["data"]["me"]
    members = [
        edge["node"]
        for group in me["groups"]["edges"]
        for edge in group["node"]["members"]["edges"]
    ]
    assert len(members) == 10 * len(me["groups"]["edges"]) > 0
    others = [member for member in members if member["user"]["username"] != me["username"]]
    assert others
    assert all(member["user"]["contacts"] is None for member in others)
    assert statements == 2


async def test_nodes_of_mixed_types_are_one_statement(counted: Counted, seed_batch: str) -> None:
    ids = await batch_ids(counted, seed_batch)
    statements, body = await counted(NODES, {"ids": list(ids.values())})
    assert [node["__typename"] for node in body["data"]["nodes"]] == [
        "User",
        "Group",
        "Contact",
        "ContactType",
    ]
    assert statements == 1


async def test_a_filtered_page_with_contacts(counted: Counted, seed_batch: str) -> None:
    """The page with its contacts (both fields share them) and their types."""
    statements, body = await counted(FILTERED, {"search": seed_batch})
    edges = body["data"]["users"]["edges"]
    assert len(edges) == 20
    assert all(edge["node"]["primaryContact"]["value"] for edge in edges)
    assert statements == 1


def selected(queries: list[str], function: str) -> list[set[str]]:
    """The columns each call of `accounts.function` in these statements selects."""
    pattern = re.compile(rf"SELECT ([\w, ]+) FROM accounts\.{function}\(")
    return [set(found.split(", ")) for query in queries for found in pattern.findall(query)]


async def test_loaders_read_the_columns_the_query_uses(
    counted: Counted, seed_batch: str, statements: RequestStatements
) -> None:
    """Q3's members: their ids and usernames, not their profiles and timestamps; Q1's
    contacts: what it selects, with the keys and the followed type id; a group its
    member count where it is asked for, a membership its group."""
    ids = await batch_ids(counted, seed_batch)
    before = len(statements.queries)
    await counted(Q3, {"id": ids["group"]})
    await counted(Q1, {"id": ids["user"]})
    sent = statements.queries[before:]
    assert selected(sent, "users_by_ids") == [
        {"id", "username"},
        {"id", "username", "display_name"},
    ]
    # Q3's group comes with its member count, Q1's groups without (sql/0022).
    assert selected(sent, "groups_with_member_counts_by_ids") == [
        {"id", "slug", "name", "member_count"}
    ]
    # Q1's groups come with its memberships (sql/0024).
    assert selected(sent, "groups_by_ids") == []
    assert selected(sent, "group_member_counts") == []
    assert selected(sent, "contacts_by_user_ids") == [
        {"id", "user_id", "contact_type_id", "type_code", "value", "is_primary"}
    ]
    assert selected(sent, "contact_types_by_ids") == []  # the contacts carry id and code
    assert selected(sent, "memberships_by_user_ids") == []
    assert selected(sent, "memberships_with_groups_by_user_ids") == [
        # every column of the membership (no projection) and the group's it reads
        {"user_id", "group_id", "role", "joined_at", "added_by", "group_slug", "group_name"}
    ]


async def test_what_nodes_returns_is_read_for_its_types_fragments(
    counted: Counted, seed_batch: str, statements: RequestStatements
) -> None:
    ids = await batch_ids(counted, seed_batch)
    before = len(statements.queries)
    await counted(NODES, {"ids": list(ids.values())})
    sent = statements.queries[before:]
    assert selected(sent, "users_by_ids") == [{"id", "username"}]
    assert selected(sent, "groups_by_ids") == [{"id", "slug"}]


async def test_what_follows_nodes_comes_in_their_statement(
    counted: Counted, seed_batch: str, statements: RequestStatements
) -> None:
    """A user's contacts and a group's member count follow the node of that type
    alone: one statement, the count with its group (sql/0022)."""
    ids = await batch_ids(counted, seed_batch)
    before = len(statements.queries)
    count, body = await counted(NODES_FOLLOWED, {"ids": list(ids.values())})
    sent = statements.queries[before:]
    assert count == 1
    user, group, contact, _ = body["data"]["nodes"]
    assert user["contacts"]
    assert contact["value"]
    assert group["memberCount"] > 0
    assert selected(sent, "groups_with_member_counts_by_ids") == [{"id", "slug", "member_count"}]
    assert selected(sent, "group_member_counts") == []
    [contacts] = [query for query in sent if "contacts_by_user_ids" in query]
    assert "contacts_by_user_ids($1, $2)" in contacts  # by the users' keys


TWO_PAGES = """query($id: ID!, $after: String) {
  group(id: $id) {
    head: members(first: 3) { edges { node { user { username } } } }
    tail: members(last: 2, after: $after) {
      pageInfo { hasPreviousPage } edges { node { user { username } } }
    }
  }
}"""


async def test_two_pages_of_one_group_come_with_the_group(
    counted: Counted, seed_batch: str
) -> None:
    """Each members field's page follows the group for its own arguments (one a
    variable), in the group's statement; each the page it asks alone."""
    ids = await batch_ids(counted, seed_batch)
    one = """query($id: ID!, $first: Int, $last: Int, $after: String) { group(id: $id) {
      members(first: $first, last: $last, after: $after) {
        pageInfo { hasPreviousPage } edges { cursor node { user { username } } }
      } } }"""
    _, alone = await counted(one, {"id": ids["group"], "first": 3})
    head = alone["data"]["group"]["members"]["edges"]
    _, alone_tail = await counted(one, {"id": ids["group"], "last": 2, "after": head[0]["cursor"]})
    statements, body = await counted(TWO_PAGES, {"id": ids["group"], "after": head[0]["cursor"]})
    group = body["data"]["group"]
    assert [e["node"] for e in group["head"]["edges"]] == [e["node"] for e in head]
    assert group["tail"] == {
        "pageInfo": alone_tail["data"]["group"]["members"]["pageInfo"],
        "edges": [{"node": e["node"]} for e in alone_tail["data"]["group"]["members"]["edges"]],
    }
    assert statements == 1


@contextmanager
def left_for_the_collector() -> Iterator[list[object]]:
    """What the block leaves in reference cycles: the collector is off while it
    runs, and what it then finds is given, not freed, at the block's end."""
    garbage: list[object] = []
    gc.collect()
    gc.disable()
    try:
        yield garbage
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        garbage.extend(gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


async def test_a_planned_query_leaves_no_cycles_of_its_own(
    counted: Counted, seed_batch: str
) -> None:
    """Everything a planned query made is freed when it ends, none of it left for
    the collector (docs/performance.md, "The collector"): its rows, loaders and
    pages hold no reference back to what holds them."""
    ids = await batch_ids(counted, seed_batch)
    viewer = decode_id(ids["user"], "User")
    shapes: list[tuple[str, dict[str, Any], uuid.UUID | None]] = [
        (Q1, {"id": ids["user"]}, None),
        (Q3, {"id": ids["group"]}, None),
        (ME_GROUPS, {}, viewer),
        (NODES, {"ids": list(ids.values())}, None),
        (FILTERED, {"search": seed_batch}, None),
    ]
    for query, variables, who in shapes:  # a new document's validation is cached after
        await counted(query, variables, who)
    with left_for_the_collector() as garbage:
        for query, variables, who in shapes:
            await counted(query, variables, who)
    ours = [o for o in garbage if type(o).__module__.startswith("accounts_gql")]
    assert ours == []


async def test_a_page_of_groups_with_counts_and_members_is_one_statement(
    counted: Counted, seed_batch: str
) -> None:
    """A root page is a loader too: its groups' member counts and pages of members,
    and the members' users, come in its statement."""
    query = """query($search: String) { groups(first: 10, search: $search) {
      edges { node { slug memberCount members(first: 3) { edges { node { user { username } } } } } }
    } }"""
    statements, body = await counted(query, {"search": f"team-{seed_batch}"})
    groups = [edge["node"] for edge in body["data"]["groups"]["edges"]]
    assert len(groups) == 4  # the batch's
    assert all(group["memberCount"] > 3 for group in groups)
    assert all(len(group["members"]["edges"]) == 3 for group in groups)
    assert statements == 1


async def test_a_contact_type_the_contacts_do_not_carry_is_fetched(
    counted: Counted, seed_batch: str, statements: RequestStatements
) -> None:
    """`type { code }` is made of the contacts' own columns; `type { name }` is not
    among them, so the types are read, in the same statement."""
    ids = await batch_ids(counted, seed_batch)
    query = """query($id: ID!) { user(id: $id) {
      contacts { value code: type { code } named: type { code name isUnique } }
    } }"""
    before = len(statements.queries)
    count, body = await counted(query, {"id": ids["user"]})
    [calls] = selected(statements.queries[before:], "contact_types_by_ids")
    assert calls == {"id", "code", "name", "is_unique"}
    contacts = body["data"]["user"]["contacts"]
    assert contacts
    assert all(c["code"]["code"] == c["named"]["code"] and c["named"]["name"] for c in contacts)
    assert count == 1


async def test_the_standard_execution_leaves_no_rows_for_the_collector(
    standard_client: httpx.AsyncClient, settings: Settings, counted: Counted, seed_batch: str
) -> None:
    """graphql-core keeps each execution's context in a reference cycle; the
    request's loaders drop their rows when it returns, so none wait in it."""
    ids = await batch_ids(counted, seed_batch)
    token = issue_access_token(settings, uuid.uuid4(), ("admin",))
    headers = {"authorization": f"Bearer {token}"}
    payload = {"query": Q3, "variables": {"id": ids["group"]}}
    await standard_client.post("/graphql", json=payload, headers=headers)  # validated once
    with left_for_the_collector() as garbage:
        response = await standard_client.post("/graphql", json=payload, headers=headers)
    rows = [o for o in garbage if type(o).__name__.endswith("Row")]
    assert response.json()["data"]["group"]["members"]["edges"]
    assert rows == []
