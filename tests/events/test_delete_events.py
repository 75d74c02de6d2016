"""Deletion events through the API and the real broker (issue 15, part 5).

A deletion's cascade reaches consumers as events of its own, before the deletion
event, in one transaction: a consumer that counts a group's members or indexes
contact values follows an erasure without reading the service.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from accounts_gql.api.ids import decode_id
from accounts_gql.app import create_app
from accounts_gql.core.security import issue_access_token
from tests.events.conftest import BindQueue, relay_settings, wait_until


@pytest.fixture
async def api(
    database_url: str, exchange_name: str, bind_queue: BindQueue, pool: asyncpg.Pool
) -> AsyncIterator[tuple[httpx.AsyncClient, uuid.UUID]]:
    """The service with its relay publishing to the test's exchange (declared
    first, so that it outlives the relay), and an admin's token."""
    admin = await pool.fetchval(
        "SELECT (accounts.create_user($1, 'Admin', '{}', '{admin}', NULL)).id",
        f"adm{uuid.uuid4().hex[:10]}",
    )
    settings = relay_settings(exchange_name).model_copy(
        update={"jwt_secret": "d" * 40, "db_pool_min": 1, "db_pool_max": 3}
    )
    app = create_app(settings, database_url)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://d") as client,
    ):
        client.headers["authorization"] = f"Bearer {issue_access_token(settings, admin, ['admin'])}"
        yield client, admin


async def mutate(client: httpx.AsyncClient, field: str, input_: str, select: str) -> Any:
    response = await client.post(
        "/graphql", json={"query": f"mutation {{ {field}(input: {input_}) {{ {select} }} }}"}
    )
    data = response.json()["data"][field]
    assert not data["__typename"].endswith(("Error", "Forbidden", "NotFound")), data
    return data


async def create_user(client: httpx.AsyncClient, username: str) -> str:
    data = await mutate(
        client,
        "createUser",
        f'{{username: "{username}", displayName: "Last Name", profile: {{city: "Oulu"}}}}',
        "__typename ... on UserPayloadSuccess { user { id } }",
    )
    user_id: str = data["user"]["id"]
    return user_id


async def create_group(client: httpx.AsyncClient, slug: str) -> str:
    data = await mutate(
        client,
        "createGroup",
        f'{{slug: "{slug}", name: "Counted"}}',
        "__typename ... on GroupPayloadSuccess { group { id } }",
    )
    group_id: str = data["group"]["id"]
    return group_id


async def join(client: httpx.AsyncClient, group: str, user: str) -> None:
    await mutate(
        client,
        "addGroupMember",
        f'{{groupId: "{group}", userId: "{user}"}}',
        "__typename",
    )


def raw_id(global_id: str, kind: str) -> str:
    """The uuid inside a global id (events name rows by their database ids)."""
    return str(decode_id(global_id, kind))


async def test_erasing_a_user_reaches_consumers_as_the_cascade_then_the_deletion(
    api: tuple[httpx.AsyncClient, uuid.UUID], bind_queue: BindQueue, pool: asyncpg.Pool
) -> None:
    client, _ = api
    collector = await bind_queue()
    unique = uuid.uuid4().hex[:8]
    user = await create_user(client, f"erase{unique}")
    for n in (1, 2):
        await mutate(
            client,
            "addContact",
            f'{{userId: "{user}", type: "email", value: "e{n}.{unique}@example.com"}}',
            "__typename",
        )
    groups = [await create_group(client, f"g{n}-{unique}") for n in (1, 2)]
    for group in groups:
        await join(client, group, user)
    user_id = raw_id(user, "User")
    group_ids = [raw_id(group, "Group") for group in groups]

    deleted = await mutate(
        client,
        "deleteUser",
        f'{{id: "{user}"}}',
        "__typename ... on DeleteUserSuccess { deletedUserId }",
    )
    assert deleted["deletedUserId"] == user

    def arrived(kind: str) -> list[dict[str, Any]]:
        return [
            e
            for e in (r.envelope for r in collector.received)
            if e["type"] == kind and user_id in (e["subject"], _member(e))
        ]

    await wait_until(lambda: bool(arrived("user.deleted")), within=10, what="user.deleted")
    await wait_until(
        lambda: len(arrived("membership.removed")) == 2, within=10, what="membership.removed"
    )
    last = arrived("user.deleted")[0]
    assert (last["data"]["user"]["username"], last["data"]["user"]["profile"]) == (
        f"erase{unique}",
        {"city": "Oulu"},
    ), "the state before deletion"
    contacts = arrived("contact.deactivated")
    assert sorted(c["data"]["contact"]["value"] for c in contacts) == [
        f"e1.{unique}@example.com",
        f"e2.{unique}@example.com",
    ]
    assert {(c["data"]["reason"], c["data"]["contact"]["is_active"]) for c in contacts} == {
        ("user_deleted", False)
    }
    # On the user's aggregate, the contacts' events come before the deletion.
    assert [c["sequence"] for c in contacts] == [last["sequence"] - 2, last["sequence"] - 1]
    removed = arrived("membership.removed")
    assert sorted(r["subject"] for r in removed) == sorted(group_ids)
    assert {r["data"]["reason"] for r in removed} == {"user_deleted"}

    # Published, the erased user's rows are kept redacted.
    async def stored_payloads() -> list[Any]:
        rows = await pool.fetch(
            "SELECT payload FROM accounts.outbox"
            " WHERE aggregate_type = 'user' AND aggregate_id = $1 AND published_at IS NOT NULL",
            uuid.UUID(user_id),
        )
        return [row["payload"] for row in rows]

    async def pending() -> int:
        count: int = await pool.fetchval(
            "SELECT count(*) FROM accounts.outbox"
            " WHERE aggregate_type = 'user' AND aggregate_id = $1 AND published_at IS NULL",
            uuid.UUID(user_id),
        )
        return count

    for _ in range(200):
        if await pending() == 0:
            break
        await asyncio.sleep(0.05)
    payloads = await stored_payloads()
    assert len(payloads) == last["sequence"]
    assert all(p in ({"redacted": True}, '{"redacted": true}') for p in payloads), payloads


def _member(envelope: dict[str, Any]) -> str | None:
    membership = envelope["data"].get("membership")
    return membership["user_id"] if membership else None


async def test_deleting_a_group_removes_each_member_first(
    api: tuple[httpx.AsyncClient, uuid.UUID], bind_queue: BindQueue
) -> None:
    client, admin = api
    collector = await bind_queue()
    unique = uuid.uuid4().hex[:8]
    members = [await create_user(client, f"m{n}{unique}") for n in (1, 2, 3)]
    group = await create_group(client, f"doomed-{unique}")
    for member in members:
        await join(client, group, member)
    group_id = raw_id(group, "Group")

    await mutate(client, "deleteGroup", f'{{id: "{group}"}}', "__typename")

    def of_group() -> list[dict[str, Any]]:
        return [r.envelope for r in collector.received if r.envelope["subject"] == group_id]

    await wait_until(
        lambda: any(e["type"] == "group.deleted" for e in of_group()), within=10, what="deleted"
    )
    seen = of_group()
    # The creator joined as owner, then the three members.
    assert [e["type"] for e in seen] == [
        "group.created",
        *["membership.added"] * 4,
        *["membership.removed"] * 4,
        "group.deleted",
    ]
    assert [e["sequence"] for e in seen] == list(range(1, 11))
    removed = [e["data"] for e in seen if e["type"] == "membership.removed"]
    assert [r["membership"]["user_id"] for r in removed] == [
        str(admin),
        *(raw_id(member, "User") for member in members),
    ], "in the order they joined"
    assert {r["reason"] for r in removed} == {"group_deleted"}
    assert seen[-1]["data"]["member_count"] == 4
    assert seen[-1]["data"]["group"]["slug"] == f"doomed-{unique}"
