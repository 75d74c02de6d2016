"""The outbox relay against a real PostgreSQL and RabbitMQ (PRODUCT §5)."""

from __future__ import annotations

import asyncio
import contextlib
import random
import statistics
import time
import uuid
from datetime import datetime
from urllib.parse import urlsplit

import aio_pika
import asyncpg
import pytest
from aio_pika.abc import AbstractRobustConnection

from tests.conftest import SERVER_URL
from tests.events.conftest import BindQueue, MakeRelay, emit, outbox_row, wait_until


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _assert_in_order(sequences: dict[str, list[int]], expected: dict[str, int]) -> None:
    """Each aggregate's first arrivals are exactly 1..n, in that order."""
    for aggregate, count in expected.items():
        assert sequences.get(aggregate) == list(range(1, count + 1)), aggregate


async def test_committed_event_arrives_as_a_cloudevent(
    pool: asyncpg.Pool, bind_queue: BindQueue, make_relay: MakeRelay, unique: str
) -> None:
    collector = await bind_queue()
    await make_relay()
    actor = await pool.fetchval(
        "SELECT (accounts.create_user($1, 'Actor', '{}', '{}', NULL)).id", f"actor_{unique}"
    )
    user = await pool.fetchrow(
        "SELECT * FROM accounts.create_user($1, 'Ev Ent', '{\"a\": 1}', '{}', $2)",
        f"ev_{unique}",
        actor,
    )
    assert user is not None
    event_id = await pool.fetchval(
        "SELECT event_id FROM accounts.outbox_list('all', 100) WHERE aggregate_id = $1",
        user["id"],
    )
    await collector.wait_for({str(event_id)}, within=10)

    [received] = [r for r in collector.received if r.envelope["id"] == str(event_id)]
    envelope = received.envelope
    assert envelope["specversion"] == "1.0"
    assert envelope["source"] == "/accounts-gql"
    assert envelope["type"] == "user.created"
    assert envelope["subject"] == str(user["id"])
    assert envelope["datacontenttype"] == "application/json"
    assert envelope["aggregatetype"] == "user"
    assert envelope["sequence"] == 1
    assert envelope["actorid"] == str(actor)
    assert envelope["time"].endswith("Z")
    assert datetime.fromisoformat(envelope["time"]) == user["created_at"]
    assert envelope["data"]["user"]["username"] == f"ev_{unique}"
    assert envelope["data"]["user"]["profile"] == {"a": 1}
    assert received.routing_key == "user.created"
    message = received.message
    assert message.message_id == str(event_id)
    assert message.content_type == "application/cloudevents+json"
    assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert message.type == "user.created"

    row = await outbox_row(pool, envelope["id"], lambda r: r.published_at is not None)
    assert row.published_at is not None


async def test_commit_to_arrival_latency(
    pool: asyncpg.Pool, bind_queue: BindQueue, make_relay: MakeRelay
) -> None:
    collector = await bind_queue()
    relay = await make_relay()
    await wait_until(lambda: relay.state().broker_connected, 10, "the relay to connect")
    aggregates = [uuid.uuid4() for _ in range(20)]
    committed: dict[str, float] = {}
    async with pool.acquire() as connection:
        for i in range(1000):
            [event_id] = await emit(connection, aggregates[i % 20])
            committed[event_id] = time.monotonic()
    await collector.wait_for(set(committed), within=30)

    latencies = [(collector.first_at[i] - t) * 1000 for i, t in committed.items()]
    print(
        f"\ncommit→arrival over {len(latencies)} events: "
        f"p50 {statistics.median(latencies):.2f} ms, p99 {_percentile(latencies, 0.99):.2f} ms"
    )
    _assert_in_order(
        collector.sequences_by_aggregate(set(committed)), {str(a): 50 for a in aggregates}
    )


async def test_rolled_back_transaction_publishes_nothing(
    pool: asyncpg.Pool, bind_queue: BindQueue, make_relay: MakeRelay
) -> None:
    collector = await bind_queue()
    await make_relay()
    aggregate = uuid.uuid4()
    async with pool.acquire() as connection:
        transaction = connection.transaction()
        await transaction.start()
        rolled_back = await emit(connection, aggregate, 3)
        await transaction.rollback()
    marker = await emit(pool, aggregate)
    await collector.wait_for(set(marker), within=10)
    await asyncio.sleep(0.3)

    assert not set(rolled_back) & set(collector.ids())
    [arrived] = [r for r in collector.received if r.envelope["id"] in marker]
    # The rolled-back events took no sequence numbers.
    assert arrived.envelope["sequence"] == 1


async def test_publish_to_missing_exchange_is_retried_until_routed(
    pool: asyncpg.Pool,
    broker: AbstractRobustConnection,
    bind_queue: BindQueue,
    make_relay: MakeRelay,
    exchange_name: str,
) -> None:
    relay = await make_relay()
    await wait_until(lambda: relay.state().broker_connected, 10, "the relay to connect")
    channel = await broker.channel()
    await channel.exchange_delete(exchange_name)

    [event_id] = await emit(pool, uuid.uuid4())

    failed = await outbox_row(pool, event_id, lambda r: r.attempts > 0)
    assert failed.attempts >= 1
    assert failed.published_at is None
    assert failed.last_error
    assert failed.next_attempt_at > failed.created_at
    print(f"\nfirst failure recorded: {failed.last_error}")

    # Nothing routes it yet (the relay re-declares the exchange, without bindings):
    # it stays unpublished and keeps failing as unroutable.
    await asyncio.sleep(1.0)
    still = await outbox_row(pool, event_id)
    assert still.published_at is None

    collector = await bind_queue()
    await collector.wait_for({event_id}, within=10)
    done = await outbox_row(pool, event_id, lambda r: r.published_at is not None)
    assert done.published_at is not None
    assert collector.ids().count(event_id) == 1
    await channel.close()


async def test_relay_reconnects_when_the_database_drops_it(
    pool: asyncpg.Pool, bind_queue: BindQueue, make_relay: MakeRelay, database_url: str
) -> None:
    collector = await bind_queue()
    relay = await make_relay()
    aggregate = uuid.uuid4()
    before = await emit(pool, aggregate)
    await collector.wait_for(set(before), within=10)

    # The server ends both of the relay's sessions (the worker and the listener);
    # ending another role's session takes a superuser.
    admin = await asyncpg.connect(SERVER_URL)
    try:
        terminated = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = $1 AND application_name LIKE 'accounts-gql-relay%'",
            urlsplit(database_url).path.lstrip("/"),
        )
    finally:
        await admin.close()
    assert terminated == 2
    await wait_until(lambda: not relay.state().database_connected, 5, "the relay to notice")

    after = await emit(pool, aggregate)
    await collector.wait_for(set(after), within=10)
    assert relay.state().database_connected
    _assert_in_order(collector.sequences_by_aggregate(set(before + after)), {str(aggregate): 2})


@pytest.mark.slow
async def test_relay_throughput(
    pool: asyncpg.Pool, bind_queue: BindQueue, make_relay: MakeRelay
) -> None:
    collector = await bind_queue()
    # Drain whatever earlier tests left pending before measuring.
    relay = await make_relay()
    await wait_until(
        lambda: relay.state().pending == 0 and relay.state().broker_connected,
        30,
        "a drained outbox",
    )
    await relay.stop()

    ids: list[str] = []
    async with pool.acquire() as connection, connection.transaction():
        for _ in range(100):
            ids += await emit(connection, uuid.uuid4(), 50)
    started = time.monotonic()
    await make_relay()
    await collector.wait_for(set(ids), within=60)
    elapsed = time.monotonic() - started
    print(
        f"\nrelay throughput: {len(ids)} events in {elapsed:.2f} s"
        f" = {len(ids) / elapsed:,.0f} events/s (with confirms)"
    )


class _Proxy:
    """A TCP proxy in front of RabbitMQ whose connections the test can cut."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.refusing = False
        self.accepted = 0
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None
        self.listen_port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.listen_port = self._server.sockets[0].getsockname()[1]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refusing:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(self.host, self.port)
        except OSError:
            writer.transport.abort()
            return
        self.accepted += 1
        self._writers |= {writer, up_writer}

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers -= {writer, up_writer}

    def cut(self) -> None:
        """Drops every connection and refuses new ones until `restore()`."""
        self.refusing = True
        for writer in list(self._writers):
            writer.transport.abort()

    def restore(self) -> None:
        self.refusing = False

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


async def _writer(
    pool: asyncpg.Pool,
    aggregates: list[uuid.UUID],
    transactions: int,
    pause: float,
    committed: set[str],
    rolled_back: set[str],
    counts: dict[str, int],
    seed: int,
) -> None:
    chooser = random.Random(seed)
    async with pool.acquire() as connection:
        for i in range(transactions):
            aggregate = chooser.choice(aggregates)
            size = chooser.randint(1, 3)
            transaction = connection.transaction()
            await transaction.start()
            ids = await emit(connection, aggregate, size)
            if i % 10 == 9:
                await transaction.rollback()
                rolled_back.update(ids)
            else:
                await transaction.commit()
                committed.update(ids)
                counts[str(aggregate)] = counts.get(str(aggregate), 0) + size
            await asyncio.sleep(pause)


@pytest.mark.slow
async def test_broker_outage_loses_nothing_and_keeps_order(
    pool: asyncpg.Pool, bind_queue: BindQueue, make_relay: MakeRelay
) -> None:
    collector = await bind_queue()
    proxy = _Proxy("127.0.0.1", 5672)
    await proxy.start()
    try:
        relay = await make_relay(f"amqp://guest:guest@127.0.0.1:{proxy.listen_port}/")
        await wait_until(lambda: relay.state().broker_connected, 10, "the relay to connect")
        aggregates = [uuid.uuid4() for _ in range(20)]
        committed: set[str] = set()
        rolled_back: set[str] = set()
        counts: dict[str, int] = {}
        writer = asyncio.create_task(
            _writer(pool, aggregates, 560, 0.02, committed, rolled_back, counts, seed=1)
        )
        await asyncio.sleep(1.5)
        proxy.cut()
        cut_at = time.monotonic()
        await asyncio.sleep(1.0)
        assert not relay.state().broker_connected
        await asyncio.sleep(10.5 - (time.monotonic() - cut_at))
        during = len(committed)
        proxy.restore()
        await writer
        await collector.wait_for(committed, within=45)
        await asyncio.sleep(0.5)
    finally:
        await proxy.close()

    assert not rolled_back & set(collector.ids())
    _assert_in_order(collector.sequences_by_aggregate(committed), counts)
    print(
        f"\noutage: {len(committed)} events committed ({during} before the broker came back),"
        f" {len(rolled_back)} rolled back; all arrived in order;"
        f" {collector.duplicates(committed)} duplicate(s); relay reconnected"
        f" {proxy.accepted - 1} time(s); {relay.failed} failed publish(es)"
    )


@pytest.mark.slow
async def test_two_relays_share_the_outbox(
    pool: asyncpg.Pool, bind_queue: BindQueue, make_relay: MakeRelay
) -> None:
    collector = await bind_queue()
    first = await make_relay(relay_batch_size=50)
    second = await make_relay(relay_batch_size=50)
    aggregates = [uuid.uuid4() for _ in range(30)]
    committed: set[str] = set()
    rolled_back: set[str] = set()
    counts: dict[str, int] = {}
    await asyncio.gather(
        *(
            _writer(pool, aggregates, 250, 0.0, committed, rolled_back, counts, seed=s)
            for s in range(4)
        )
    )
    await collector.wait_for(committed, within=30)
    await asyncio.sleep(0.5)

    assert not rolled_back & set(collector.ids())
    _assert_in_order(collector.sequences_by_aggregate(committed), counts)
    print(
        f"\ntwo relays: {len(committed)} events, published {first.published} + {second.published},"
        f" {collector.duplicates(committed)} duplicate(s), order kept"
    )
