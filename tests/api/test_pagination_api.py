"""Keyset pagination over GraphQL: users walked forwards and backwards in every
order, while users are inserted between pages; page size bounds; member pages."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts_gql.api.ids import encode_cursor, encode_id
from tests.api.conftest import GraphQL

MakeUser = Callable[..., Awaitable[uuid.UUID]]
ORDERS = ["CREATED_AT_ASC", "CREATED_AT_DESC", "USERNAME_ASC", "USERNAME_DESC"]

# The SQL order each orderBy means, to compute what a walk must return.
SQL_ORDER = {
    "CREATED_AT_ASC": "created_at, id",
    "CREATED_AT_DESC": "created_at DESC, id DESC",
    "USERNAME_ASC": "lower(username), id",
    "USERNAME_DESC": "lower(username) DESC, id DESC",
}

USERS = """query($first: Int, $after: String, $last: Int, $before: String,
                 $search: String, $order: UserOrder!) {
  users(first: $first, after: $after, last: $last, before: $before,
        filter: {search: $search}, orderBy: $order) {
    edges { cursor node { id username } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    totalCount
  }
}"""


def user_gid(user_id: uuid.UUID) -> str:
    return encode_id("User", user_id)


async def create_user(pool: asyncpg.Pool, username: str) -> uuid.UUID:
    user_id: uuid.UUID = await pool.fetchval(
        "SELECT id FROM accounts.create_user($1, '', '{}'::jsonb, '{}', NULL)", username
    )
    return user_id


async def create_users(pool: asyncpg.Pool, token: str, count: int) -> list[uuid.UUID]:
    """`count` users whose names carry `token`, with cases and prefixes mixed so
    that username order differs from creation order."""
    ids = []
    for i in range(count):
        letter = "qbxdmafzkcy"[i % 11]
        name = f"{letter.upper() if i % 2 else letter}{i:02d}_{token}"
        ids.append(await create_user(pool, name))
    return ids


async def expected(pool: asyncpg.Pool, ids: list[uuid.UUID], order: str) -> list[str]:
    rows = await pool.fetch(
        f"SELECT id FROM accounts.users WHERE id = ANY($1) ORDER BY {SQL_ORDER[order]}", ids
    )
    return [user_gid(row["id"]) for row in rows]


async def page(gql: GraphQL, viewer: uuid.UUID, **variables: Any) -> dict[str, Any]:
    body = await gql(USERS, variables, as_user=viewer)
    assert "errors" not in body, body
    connection: dict[str, Any] = body["data"]["users"]
    return connection


async def walk_forward(
    gql: GraphQL,
    viewer: uuid.UUID,
    token: str,
    order: str,
    size: int,
    between: Callable[[int], Awaitable[None]] | None = None,
) -> list[str]:
    seen: list[str] = []
    after: str | None = None
    for number in range(1000):
        connection = await page(gql, viewer, first=size, after=after, search=token, order=order)
        edges = connection["edges"]
        info = connection["pageInfo"]
        assert len(edges) <= size
        assert info["hasPreviousPage"] is (after is not None)
        if edges:
            assert info["startCursor"] == edges[0]["cursor"]
            assert info["endCursor"] == edges[-1]["cursor"]
        seen += [edge["node"]["id"] for edge in edges]
        if not info["hasNextPage"]:
            return seen
        assert len(edges) == size
        after = info["endCursor"]
        if between is not None:
            await between(number)
    raise AssertionError("the walk did not end")


async def walk_backward(
    gql: GraphQL, viewer: uuid.UUID, token: str, order: str, size: int
) -> list[str]:
    seen: list[str] = []
    before: str | None = None
    for _ in range(1000):
        connection = await page(gql, viewer, last=size, before=before, search=token, order=order)
        edges = connection["edges"]
        info = connection["pageInfo"]
        assert len(edges) <= size
        assert info["hasNextPage"] is (before is not None)
        seen = [edge["node"]["id"] for edge in edges] + seen
        if not info["hasPreviousPage"]:
            return seen
        assert len(edges) == size
        before = info["startCursor"]
    raise AssertionError("the walk did not end")


@pytest.mark.parametrize("order", ORDERS)
async def test_walks_forward_and_back_visit_every_user_once_in_order(
    gql: GraphQL, make_user: MakeUser, pool: asyncpg.Pool, order: str
) -> None:
    viewer = await make_user()
    token = uuid.uuid4().hex[:10]
    ids = await create_users(pool, token, 13)
    want = await expected(pool, ids, order)
    assert want != await expected(
        pool, ids, "CREATED_AT_ASC" if "USERNAME" in order else "USERNAME_ASC"
    )
    for size in (1, 3, 5, 13, 20):
        assert await walk_forward(gql, viewer, token, order, size) == want, size
        assert await walk_backward(gql, viewer, token, order, size) == want, size
    full = await page(gql, viewer, first=13, search=token, order=order)
    assert full["pageInfo"]["hasNextPage"] is False
    assert full["totalCount"] == 13


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    order=st.sampled_from(ORDERS),
    size=st.integers(min_value=1, max_value=5),
    # Before which page requests users are inserted, and where their names sort.
    inserts=st.lists(
        st.tuples(st.integers(min_value=0, max_value=6), st.sampled_from("aamnnzz0")),
        max_size=8,
    ),
)
async def test_a_forward_walk_survives_inserts_between_pages(
    gql: GraphQL,
    make_user: MakeUser,
    pool: asyncpg.Pool,
    order: str,
    size: int,
    inserts: list[tuple[int, str]],
) -> None:
    viewer = await make_user()
    token = uuid.uuid4().hex[:10]
    ids = await create_users(pool, token, 11)
    want = await expected(pool, ids, order)
    added: list[uuid.UUID] = []

    async def insert(after_page: int) -> None:
        for number, letter in inserts:
            if number == after_page:
                name = f"{letter}{len(added):02d}n_{token}"
                added.append(await create_user(pool, name))

    seen = await walk_forward(gql, viewer, token, order, size, insert)
    assert len(seen) == len(set(seen)), "a user came twice"
    originals = set(want)
    assert [item for item in seen if item in originals] == want
    assert set(seen) - originals <= {user_gid(user_id) for user_id in added}


async def test_default_page_size_is_20_and_total_count_counts_all(
    gql: GraphQL, make_user: MakeUser, pool: asyncpg.Pool
) -> None:
    viewer = await make_user()
    token = uuid.uuid4().hex[:10]
    ids = await create_users(pool, token, 25)
    body = await gql(
        "query($s: String) { users(filter: {search: $s}) {"
        " edges { node { id } } pageInfo { hasNextPage } totalCount } }",
        {"s": token},
        as_user=viewer,
    )
    connection = body["data"]["users"]
    assert len(connection["edges"]) == 20
    assert connection["pageInfo"]["hasNextPage"] is True
    assert connection["totalCount"] == 25
    assert [e["node"]["id"] for e in connection["edges"]] == (
        await expected(pool, ids, "CREATED_AT_ASC")
    )[:20]
    last = await page(gql, viewer, last=4, search=token, order="CREATED_AT_ASC")
    assert len(last["edges"]) == 4
    assert last["totalCount"] == 25


async def test_a_page_of_100_is_allowed_and_101_is_an_error(
    gql: GraphQL, make_user: MakeUser
) -> None:
    viewer = await make_user()
    allowed = await gql("{ users(first: 100) { edges { cursor } } }", as_user=viewer)
    assert "errors" not in allowed
    assert len(allowed["data"]["users"]["edges"]) <= 100
    for query in (
        "{ users(first: 101) { totalCount } }",
        "{ users(last: 500) { totalCount } }",
        "{ users(first: -1) { totalCount } }",
        "{ users(first: 2, last: 2) { totalCount } }",
        "{ groups(first: 101) { totalCount } }",
    ):
        body = await gql(query, as_user=viewer)
        assert body["data"] is None, query
        assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"], query


async def test_a_malformed_cursor_is_an_invalid_cursor_error(
    gql: GraphQL, make_user: MakeUser
) -> None:
    viewer = await make_user()
    body = await gql('{ users(first: 2, after: "bm9wZQ") { totalCount } }', as_user=viewer)
    assert [e["extensions"]["code"] for e in body["errors"]] == ["INVALID_CURSOR"]


async def test_a_cursor_of_another_order_is_an_invalid_cursor_error(
    gql: GraphQL, make_user: MakeUser, pool: asyncpg.Pool
) -> None:
    """A slug or username where a time belongs is the caller's mistake, not a 500."""
    group, owner = await member_group(pool, make_user, 2)
    foreign = encode_cursor("some-slug", uuid.uuid4())
    queries = (
        "query($c: String) { groups(first: 2, after: $c) { totalCount } }",
        "query($c: String) { groups(last: 2, before: $c) { totalCount } }",
        f'query($c: String) {{ group(id: "{encode_id("Group", group)}") '
        "{ members(first: 2, after: $c) { edges { cursor } } } }",
        "query($c: String) { me { groups(first: 2, after: $c) { edges { cursor } } } }",
    )
    # A time without its offset (never issued) is refused too: `me.groups` pages in
    # Python, where it made an internal error (a differential hunt found it).
    naive = encode_cursor("2020-01-01", uuid.uuid4())
    for query in queries:
        for cursor in (foreign, naive):
            body = await gql(query, {"c": cursor}, as_user=owner)
            codes = [e["extensions"]["code"] for e in body["errors"]]
            assert codes == ["INVALID_CURSOR"], (query, cursor)
    by_slug = await gql(
        "query($c: String) { groups(first: 2, after: $c, orderBy: SLUG_ASC) { totalCount } }",
        {"c": foreign},
        as_user=owner,
    )
    assert "errors" not in by_slug


async def test_garbage_and_a_cursor_of_another_order_get_the_same_code(
    gql: GraphQL, make_user: MakeUser
) -> None:
    """One code, INVALID_CURSOR, for a cursor that does not decode and for one of
    another orderBy (a username where a time belongs and the other way round)."""
    viewer = await make_user()
    first = await gql("{ users(first: 1) { edges { cursor } } }", as_user=viewer)
    by_time = first["data"]["users"]["edges"][0]["cursor"]
    first = await gql(
        "{ users(first: 1, orderBy: USERNAME_ASC) { edges { cursor } } }", as_user=viewer
    )
    by_name = first["data"]["users"]["edges"][0]["cursor"]
    query = """query($c: String, $o: UserOrder!) {
      users(first: 2, after: $c, orderBy: $o) { totalCount } }"""
    for order, cursor in (
        ("CREATED_AT_ASC", "bm9wZQ"),
        ("CREATED_AT_DESC", by_name),
        ("USERNAME_ASC", "bm9wZQ"),
        ("USERNAME_DESC", by_time),
    ):
        body = await gql(query, {"c": cursor, "o": order}, as_user=viewer)
        codes = [e["extensions"]["code"] for e in body["errors"]]
        assert codes == ["INVALID_CURSOR"], (order, cursor)
    for order, cursor in (("CREATED_AT_ASC", by_time), ("USERNAME_ASC", by_name)):
        body = await gql(query, {"c": cursor, "o": order}, as_user=viewer)
        assert "errors" not in body, order


# Member pages -------------------------------------------------------------------------

MEMBERS = """query($id: ID!, $first: Int, $after: String, $last: Int, $before: String,
                 $role: MembershipRole) {
  group(id: $id) {
    memberCount
    members(first: $first, after: $after, last: $last, before: $before, role: $role) {
      edges { cursor node { role user { id } } }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
  }
}"""


async def member_group(
    pool: asyncpg.Pool, make_user: MakeUser, count: int
) -> tuple[uuid.UUID, uuid.UUID]:
    """A group of `count` members joined one after another: every fifth a manager."""
    owner = await make_user()
    slug = f"pages-{uuid.uuid4().hex[:10]}"
    group: uuid.UUID = await pool.fetchval(
        "SELECT id FROM accounts.create_group($1, $1, '', $2, $2)", slug, owner
    )
    for i in range(count - 1):
        await pool.execute(
            "SELECT 1 FROM accounts.add_group_member($1, $2, $3, $4)",
            group,
            await make_user(),
            "manager" if i % 5 == 0 else "member",
            owner,
        )
    return group, owner


async def members_in_join_order(
    pool: asyncpg.Pool, group: uuid.UUID, role: str | None = None
) -> list[str]:
    rows = await pool.fetch(
        "SELECT user_id FROM accounts.user_group_memberships"
        " WHERE group_id = $1 AND ($2::text IS NULL OR role = $2) ORDER BY joined_at, user_id",
        group,
        role,
    )
    return [user_gid(row["user_id"]) for row in rows]


async def walk_members(
    gql: GraphQL, viewer: uuid.UUID, group: uuid.UUID, role: str | None, backward: bool = False
) -> list[str]:
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(100):
        variables: dict[str, Any] = {"id": encode_id("Group", group), "role": role}
        if backward:
            variables |= {"last": 10, "before": cursor}
        else:
            variables |= {"first": 10, "after": cursor}
        body = await gql(MEMBERS, variables, as_user=viewer)
        assert "errors" not in body, body
        members = body["data"]["group"]["members"]
        ids = [edge["node"]["user"]["id"] for edge in members["edges"]]
        if role is not None:
            assert {edge["node"]["role"] for edge in members["edges"]} <= {role}
        info = members["pageInfo"]
        if backward:
            seen = ids + seen
            if not info["hasPreviousPage"]:
                return seen
            cursor = info["startCursor"]
        else:
            seen += ids
            if not info["hasNextPage"]:
                return seen
            cursor = info["endCursor"]
        assert len(ids) == 10
    raise AssertionError("the walk did not end")


async def test_members_are_walked_ten_at_a_time_in_join_order(
    gql: GraphQL, make_user: MakeUser, pool: asyncpg.Pool
) -> None:
    group, owner = await member_group(pool, make_user, 27)
    viewer = await make_user()
    want = await members_in_join_order(pool, group)
    assert len(want) == 27
    assert want[0] == encode_id("User", owner)
    assert await walk_members(gql, viewer, group, None) == want
    assert await walk_members(gql, viewer, group, None, backward=True) == want

    first = await gql(MEMBERS, {"id": encode_id("Group", group), "first": 10}, as_user=viewer)
    assert first["data"]["group"]["memberCount"] == 27
    roles = [edge["node"]["role"] for edge in first["data"]["group"]["members"]["edges"]]
    assert roles[0] == "OWNER"
    assert roles[1] == "MANAGER"


async def test_members_filtered_by_role(
    gql: GraphQL, make_user: MakeUser, pool: asyncpg.Pool
) -> None:
    group, owner = await member_group(pool, make_user, 56)
    viewer = await make_user()
    managers = await members_in_join_order(pool, group, "manager")
    assert len(managers) == 11
    assert await walk_members(gql, viewer, group, "MANAGER") == managers
    assert await walk_members(gql, viewer, group, "MANAGER", backward=True) == managers
    owners = await walk_members(gql, viewer, group, "OWNER")
    assert owners == [encode_id("User", owner)]
    members = await walk_members(gql, viewer, group, "MEMBER")
    assert members == await members_in_join_order(pool, group, "member")
    assert len(members) == 44
