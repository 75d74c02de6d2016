"""Which queries the execution plans answer themselves (docs/architecture.md).

The differential tests hold both paths to the same bytes; these hold the plans
to the shapes they are for, so that a change cannot quietly send the bench's
operations back to graphql-core.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import asyncpg
import httpx

from accounts_gql.api.engine.explain import explain
from accounts_gql.api.ids import encode_id
from accounts_gql.api.schema import schema
from bench.operations import OPERATIONS
from tests.api.conftest import GraphQL, planned_outcomes, should_be_planned


async def outcome_of(gql: GraphQL, query: str, variables: dict[str, object], **kw: object) -> str:
    before = planned_outcomes()
    body = await gql(query, variables, **kw)  # type: ignore[arg-type]
    assert body, query
    after = planned_outcomes()
    changed = list(after - before)  # the counts only grow
    assert len(changed) == 1, (query, before, after)
    return changed[0]


async def test_the_bench_operations_and_node_lookups_run_on_plans(
    gql: GraphQL, make_user: Callable[..., Awaitable[uuid.UUID]], pool: asyncpg.Pool
) -> None:
    admin = await make_user(roles=("admin",))
    user = await make_user()
    group: uuid.UUID = await pool.fetchval(
        "SELECT id FROM accounts.create_group($1, $1, '', $2, $2)",
        f"planned-{uuid.uuid4().hex[:8]}",
        user,
    )
    variables = {
        "Q1": {"id": encode_id("User", user)},
        "Q2": {},
        "Q3": {"id": encode_id("Group", group)},
    }
    for name, query in OPERATIONS.items():
        assert await outcome_of(gql, query, variables[name], as_user=admin) == "planned", name
    node = """query($ids: [ID!]!) { nodes(ids: $ids) { __typename id
        ... on User { username } ... on Group { slug members(first: 5) { edges { cursor } } } } }"""
    ids = [encode_id("User", user), encode_id("Group", group)]
    assert await outcome_of(gql, node, {"ids": ids}, as_user=admin) == "planned"


async def test_errors_and_introspection_go_to_graphql_core(
    gql: GraphQL, make_user: Callable[..., Awaitable[uuid.UUID]]
) -> None:
    viewer = await make_user()
    failing = "{ users(first: 101) { totalCount } }"
    assert await outcome_of(gql, failing, {}, as_user=viewer) == "deoptimized"
    introspection = "{ __schema { queryType { name } } }"
    assert await outcome_of(gql, introspection, {}, as_user=viewer) == "unplanned"


def test_the_suite_fails_when_a_query_the_plans_cover_falls_back() -> None:
    """post_both fails a test whose query the standard path answers without an error
    while the plans gave up on it (see should_be_planned)."""
    query = {"query": "{ me { id } }"}
    ok = httpx.Response(200, content=b'{"data":{"me":null}}')
    failed = httpx.Response(200, content=b'{"errors":[{"message":"x"}],"data":null}')
    assert should_be_planned(query, ok)
    assert not should_be_planned(query, failed)
    assert not should_be_planned({"query": "{ __schema { types { name } } }"}, ok)
    assert not should_be_planned(query, httpx.Response(400, content=b"{}"))


def test_a_plan_prints_its_levels_and_reads() -> None:
    """`accounts-gql plan` (docs/architecture.md shows Q1's)."""
    text = explain(schema, OPERATIONS["Q1"], {"id": encode_id("User", uuid.uuid4())})
    lines = text.splitlines()
    assert lines[0] == "query Q1: 4 levels"
    assert " 1   user: read reads.users.user [SIGNED_IN] id: $id -> User" in lines
    assert any(
        "contacts: read reads.users.users_contacts [SELF_OR_ADMIN]" in line for line in lines
    )
    assert " 2     displayName: attribute ('display_name') -> String!" in lines
    mutation = 'mutation { deleteGroup(input: {id: "x"}) { __typename } }'
    assert explain(schema, mutation).startswith("no plan: graphql-core's standard execution")
