"""accountEvents over graphql-transport-ws (issue 15 part 1): a real uvicorn server,
a real WebSocket client, the run's database."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import httpx
import orjson
import pytest

from accounts_gql.core.settings import Settings
from accounts_gql.events.envelope import encode_row
from accounts_gql.events.outbox import OutboxRow
from tests.api.streams import EVENTS, Server, client, serve, signed_in
from tests.proxy import TcpProxy, proxied_url

MakeUser = Callable[..., Awaitable[uuid.UUID]]


@pytest.fixture(scope="module")
async def server(settings: Settings, database_url: str) -> AsyncIterator[Server]:
    async with serve(_fast(settings), database_url) as running:
        yield running


def _fast(settings: Settings, **changes: Any) -> Settings:
    return settings.model_copy(
        update={"subscription_tick_interval": 0.01, "subscription_poll_interval": 0.5, **changes}
    )


async def rename(pool: asyncpg.Pool, user_id: uuid.UUID, name: str) -> uuid.UUID:
    """Changes a user's display name; the id of its user.updated event."""
    async with pool.acquire() as connection, connection.transaction():
        await connection.execute(
            "SELECT FROM accounts.update_user($1, NULL, $2, NULL, NULL, NULL)", user_id, name
        )
        event_id: uuid.UUID = await connection.fetchval(
            "SELECT event_id FROM accounts.outbox WHERE aggregate_id = $1 ORDER BY position DESC "
            "LIMIT 1",
            user_id,
        )
    return event_id


async def test_live_events_arrive_as_the_broker_carries_them(
    server: Server, pool: asyncpg.Pool, make_user: MakeUser
) -> None:
    alice = await make_user()
    async with signed_in(server, alice) as ws:
        await ws.subscribe()
        await ws.nothing(0.3)
        event_id = await rename(pool, alice, "Alice One")
        event = await ws.event()
    record = await pool.fetchrow("SELECT * FROM accounts.outbox WHERE event_id = $1", event_id)
    assert record is not None
    # The same envelope as the message the relay publishes (CloudEvents 1.0),
    # where an absent attribute (actorid of the system) is null.
    published = orjson.loads(encode_row(OutboxRow.from_record(record)))
    assert {name: value for name, value in event.items() if value is not None} == published
    assert event["type"] == "user.updated"
    assert event["subject"] == str(alice)
    assert event["data"]["user"]["display_name"] == "Alice One"


async def test_a_user_sees_their_own_events_only(
    server: Server, pool: asyncpg.Pool, make_user: MakeUser
) -> None:
    alice, bob = await make_user(), await make_user()
    async with signed_in(server, alice) as ws:
        await ws.subscribe()
        await ws.nothing(0.3)
        await rename(pool, bob, "Bob Elsewhere")
        await pool.execute(
            "SELECT FROM accounts.add_contact($1, 'email', $2, true, false, $1)",
            alice,
            f"{uuid.uuid4().hex[:8]}@example.com",
        )
        event = await ws.event()
        assert (event["type"], event["subject"]) == ("contact.added", str(alice))
        await ws.nothing(0.3)


async def test_group_managers_see_membership_events_and_members_do_not(
    server: Server, pool: asyncpg.Pool, make_user: MakeUser, unique: str
) -> None:
    owner, member, newcomer = await make_user(), await make_user(), await make_user()
    group = await pool.fetchval(
        "SELECT id FROM accounts.create_group($1, 'G', '', $2, $2)", f"g-{unique}", owner
    )
    await pool.execute(
        "SELECT FROM accounts.add_group_member($1, $2, 'member', $3)", group, member, owner
    )
    async with signed_in(server, owner) as manager_ws, signed_in(server, member) as member_ws:
        await manager_ws.subscribe({"types": ["membership.added", "membership.role_changed"]})
        await member_ws.subscribe({"types": ["membership.added", "membership.role_changed"]})
        await asyncio.sleep(0.2)
        await pool.execute(
            "SELECT FROM accounts.add_group_member($1, $2, 'member', $3)", group, newcomer, owner
        )
        added = await manager_ws.event()
        assert added["type"] == "membership.added"
        assert added["data"]["membership"]["user_id"] == str(newcomer)
        await member_ws.nothing(0.3)
        # Made a manager, the member sees the group's membership events from then on.
        await pool.execute(
            "SELECT FROM accounts.change_member_role($1, $2, 'manager', $3)", group, member, owner
        )
        promoted = await member_ws.event()
        assert promoted["type"] == "membership.role_changed"
        await pool.execute(
            "SELECT FROM accounts.change_member_role($1, $2, 'manager', $3)", group, newcomer, owner
        )
        assert (await member_ws.event())["data"]["membership"]["user_id"] == str(newcomer)


async def test_admin_sees_every_event(
    server: Server, pool: asyncpg.Pool, make_user: MakeUser
) -> None:
    admin, bob = await make_user(roles=("admin",)), await make_user()
    async with signed_in(server, admin, ("admin",)) as ws:
        await ws.subscribe({"types": ["user.updated"]})
        await asyncio.sleep(0.2)
        await rename(pool, bob, "Bob Seen")
        event = await ws.event()
        assert event["subject"] == str(bob)


async def test_after_replays_what_was_missed_then_goes_live(
    server: Server, pool: asyncpg.Pool, make_user: MakeUser
) -> None:
    alice = await make_user()
    async with signed_in(server, alice) as ws:
        await ws.subscribe({"types": ["user.updated"]})
        await asyncio.sleep(0.2)
        first = await rename(pool, alice, "A1")
        assert (await ws.event())["id"] == str(first)
    # Committed while disconnected.
    missed = [await rename(pool, alice, f"A{n}") for n in (2, 3, 4)]
    async with signed_in(server, alice) as ws:
        await ws.subscribe({"types": ["user.updated"], "after": str(first)})
        replayed = await ws.events(3)
        assert [e["id"] for e in replayed] == [str(m) for m in missed]
        live = await rename(pool, alice, "A5")
        assert (await ws.event())["id"] == str(live)
        await ws.nothing(0.3)


async def test_the_stream_follows_commit_order_not_insert_order(
    server: Server, pool: asyncpg.Pool, make_user: MakeUser
) -> None:
    """An event inserted first but committed last comes last, live and on resume:
    resuming after the event committed first still brings the late one."""
    alice, bob = await make_user(), await make_user()
    async with signed_in(server, alice, ("admin",)) as ws:
        await ws.subscribe({"types": ["user.updated"]})
        await asyncio.sleep(0.2)
        async with pool.acquire() as slow:
            transaction = slow.transaction()
            await transaction.start()
            await slow.execute(
                "SELECT FROM accounts.update_user($1, NULL, 'late', NULL, NULL, NULL)", alice
            )
            early = await rename(pool, bob, "early")
            assert (await ws.event())["id"] == str(early)
            await ws.nothing(0.3)
            await transaction.commit()
        late = await ws.event()
        assert late["data"]["user"]["display_name"] == "late"
    position = dict(
        await pool.fetch(
            "SELECT event_id, position FROM accounts.outbox WHERE event_id = ANY($1::uuid[])",
            [early, uuid.UUID(late["id"])],
        )
    )
    assert position[uuid.UUID(late["id"])] < position[early]
    async with signed_in(server, alice, ("admin",)) as ws:
        await ws.subscribe({"types": ["user.updated"], "after": str(early)})
        assert (await ws.event())["id"] == late["id"]
        await ws.nothing(0.3)


async def test_after_an_unknown_event_is_a_typed_error(server: Server, make_user: MakeUser) -> None:
    alice = await make_user()
    async with signed_in(server, alice) as ws:
        await ws.subscribe({"after": str(uuid.uuid4())})
        message = await ws.receive()
        assert message["type"] == "next"
        error = message["payload"]["errors"][0]
        assert error["extensions"]["code"] == "EVENT_CURSOR_UNKNOWN"
        assert (await ws.receive())["type"] == "complete"
        await ws.subscribe({"types": ["no.such"]})
        message = await ws.receive()
        assert message["payload"]["errors"][0]["extensions"]["field"] == "types"


async def test_an_expired_token_ends_the_connection_with_4403(
    server: Server, make_user: MakeUser
) -> None:
    alice = await make_user()
    async with signed_in(server, alice, ttl=2) as ws:
        await ws.subscribe()
        code, reason = await ws.closed(within=5)
        assert code == 4403
        assert "expired" in (reason or "")


async def test_a_revoked_session_ends_the_connection_with_4403(
    server: Server, pool: asyncpg.Pool, make_user: MakeUser
) -> None:
    alice = await make_user()
    token = await pool.fetchrow(
        "SELECT * FROM accounts.open_session($1, $2, 3600, 'test', '127.0.0.1')",
        alice,
        os.urandom(32),
    )
    assert token is not None
    session = token["family_id"]
    async with signed_in(server, alice, session_id=session) as ws:
        await ws.subscribe({"types": ["user.updated"]})
        await asyncio.sleep(0.2)
        await pool.execute("SELECT FROM accounts.end_session($1, 'revoked', $2)", session, alice)
        code, _ = await ws.closed()
        assert code == 4403


async def test_a_deactivated_user_is_disconnected(
    server: Server, pool: asyncpg.Pool, make_user: MakeUser
) -> None:
    alice = await make_user()
    async with signed_in(server, alice) as ws:
        await ws.subscribe()
        await asyncio.sleep(0.2)
        await pool.execute("SELECT FROM accounts.deactivate_user($1, NULL)", alice)
        code, _ = await ws.closed()
        assert code == 4403


async def test_a_bad_token_is_refused_and_anonymous_callers_must_sign_in(server: Server) -> None:
    async with client(server) as ws:
        await ws.send({"type": "connection_init", "payload": {"token": "not-a-token"}})
        code, _ = await ws.closed()
        assert code == 4403
    async with client(server) as ws:
        assert (await ws.init())["type"] == "connection_ack"
        await ws.subscribe()
        message = await ws.receive()
        assert message["payload"]["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_only_subscriptions_go_over_websocket_and_they_do_not_go_over_http(
    server: Server, make_user: MakeUser
) -> None:
    alice = await make_user()
    async with signed_in(server, alice) as ws:
        await ws.subscribe(query="{ me { id } }")
        message = await ws.receive()
        assert message["type"] == "error"
        assert "Only subscriptions" in message["payload"][0]["message"]
    async with httpx.AsyncClient(base_url=server.http) as http:
        response = await http.post(
            "/graphql",
            json={"query": EVENTS},
            headers={"authorization": f"Bearer {server.token(alice)}"},
        )
    assert "WebSocket" in response.json()["errors"][0]["message"]


async def test_connection_init_must_come_in_time(settings: Settings, database_url: str) -> None:
    late = _fast(settings, subscription_init_timeout=0.5)
    async with serve(late, database_url) as server, client(server) as ws:
        code, _ = await ws.closed(within=3)
        assert code == 4408


async def test_subscriptions_are_bounded_per_connection_and_per_user(
    settings: Settings, database_url: str, make_user: MakeUser
) -> None:
    bounded = _fast(settings, subscription_max_per_connection=2, subscription_max_per_user=3)
    alice = await make_user()
    async with (
        serve(bounded, database_url) as server,
        signed_in(server, alice) as first,
        signed_in(server, alice) as second,
    ):
        await first.subscribe()
        await first.subscribe()
        await first.subscribe()
        refused = await first.receive()
        assert refused["type"] == "error"
        assert "limit" in refused["payload"][0]["message"].lower()
        await second.subscribe()
        await asyncio.sleep(0.2)
        await second.subscribe()
        message = await second.receive()
        assert message["payload"]["errors"][0]["extensions"]["code"] == "LIMIT_REACHED"


async def test_a_client_too_slow_for_its_events_is_closed_with_1013(
    settings: Settings, database_url: str, pool: asyncpg.Pool, make_user: MakeUser
) -> None:
    """It reads nothing while 3,000 events commit at once: more than its queue of 20
    (and the socket buffers) hold. It is closed; a client that reads keeps going."""
    slow_settings = _fast(settings, subscription_send_queue=20)
    alice = await make_user()
    async with serve(slow_settings, database_url) as server, signed_in(server, alice) as slow:
        await slow.subscribe()
        await asyncio.sleep(0.2)
        # 3,000 events of alice's account in one transaction.
        await pool.execute(
            "SELECT count(accounts.emit_event('user.updated', 'user', $1,"
            " jsonb_build_object('user', jsonb_build_object('id', $1::uuid), 'n', n), NULL))"
            " FROM generate_series(1, 3000) AS n",
            alice,
        )
        code, _ = await slow.closed(within=20)
        assert code == 1013


async def test_the_stream_survives_a_database_outage_without_losing_its_place(
    settings: Settings,
    database_url: str,
    pool: asyncpg.Pool,
    make_user: MakeUser,
    pg_proxy: TcpProxy,
) -> None:
    alice = await make_user()
    proxied = proxied_url(database_url, pg_proxy)
    async with serve(_fast(settings), proxied) as server, signed_in(server, alice) as ws:
        await ws.subscribe({"types": ["user.updated"]})
        await asyncio.sleep(0.2)
        before = await rename(pool, alice, "before")
        assert (await ws.event())["id"] == str(before)
        await pg_proxy.cut()
        during = [await rename(pool, alice, f"during {n}") for n in range(3)]
        await asyncio.sleep(0.5)
        await pg_proxy.resume()
        after = await rename(pool, alice, "after")
        received = await ws.events(4, within=15)
        assert [e["id"] for e in received] == [str(e) for e in [*during, after]]
        await ws.nothing(0.3)


async def test_graphiql_subscribes_over_the_same_path(server: Server) -> None:
    async with httpx.AsyncClient(base_url=server.http) as http:
        page = await http.get("/graphql", headers={"accept": "text/html"})
    if page.status_code == 503:
        pytest.skip("GraphiQL's assets are not installed")
    assert "subscriptionUrl" in page.text
    assert '"wss://" : "ws://") + location.host + "/graphql"' in page.text


async def test_a_subscription_resumes_on_another_replica(
    settings: Settings, database_url: str, pool: asyncpg.Pool, make_user: MakeUser
) -> None:
    """Two processes' streams, one order: what one replica streamed, another resumes."""
    alice = await make_user()
    async with (
        serve(_fast(settings), database_url) as first,
        serve(_fast(settings), database_url) as second,
    ):
        async with signed_in(first, alice) as ws:
            await ws.subscribe({"types": ["user.updated"]})
            await asyncio.sleep(0.2)
            seen = await rename(pool, alice, "on the first")
            assert (await ws.event())["id"] == str(seen)
        missed = [await rename(pool, alice, f"between {n}") for n in range(2)]
        async with signed_in(second, alice) as ws:
            await ws.subscribe({"types": ["user.updated"], "after": str(seen)})
            assert [e["id"] for e in await ws.events(2)] == [str(m) for m in missed]
            live = await rename(pool, alice, "on the second")
            assert (await ws.event())["id"] == str(live)
            await ws.nothing(0.3)
