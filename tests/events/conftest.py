"""Fixtures of the event tests: a RabbitMQ of the run, collecting queues, relays.

Each test publishes to an exchange of its own (`accounts.events.test.<run_id>.<unique>`)
and reads through queues of its own; both are deleted at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aio_pika
import asyncpg
import orjson
import pytest
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection

from accounts_gql.core.settings import Settings
from accounts_gql.db.pool import Executor
from accounts_gql.events import outbox
from accounts_gql.events.relay import Relay

AMQP_URL = os.environ.get("TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")


@dataclass
class Received:
    at: float  # time.monotonic() on arrival
    routing_key: str
    message: AbstractIncomingMessage
    envelope: dict[str, Any]


@dataclass
class Collector:
    """Everything that arrived on one queue, in arrival order."""

    received: list[Received] = field(default_factory=list)
    first_at: dict[str, float] = field(default_factory=dict)
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def on_message(self, message: AbstractIncomingMessage) -> None:
        envelope = orjson.loads(message.body)
        now = time.monotonic()
        self.received.append(Received(now, message.routing_key or "", message, envelope))
        self.first_at.setdefault(envelope["id"], now)
        self._arrived.set()

    async def wait_for(self, ids: set[str], within: float) -> None:
        deadline = time.monotonic() + within
        while not ids <= self.first_at.keys():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                missing = len(ids - self.first_at.keys())
                raise AssertionError(f"{missing} of {len(ids)} events did not arrive")
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), min(remaining, 0.5))

    def ids(self) -> list[str]:
        return [r.envelope["id"] for r in self.received]

    def duplicates(self, ids: set[str]) -> int:
        mine = [i for i in self.ids() if i in ids]
        return len(mine) - len(set(mine))

    def sequences_by_aggregate(self, ids: set[str]) -> dict[str, list[int]]:
        """Per subject, the sequences of the events' first arrivals, in arrival order."""
        seen: set[str] = set()
        result: dict[str, list[int]] = {}
        for r in self.received:
            event_id = r.envelope["id"]
            if event_id in ids and event_id not in seen:
                seen.add(event_id)
                result.setdefault(r.envelope["subject"], []).append(r.envelope["sequence"])
        return result


@pytest.fixture
def exchange_name(run_id: str, unique: str) -> str:
    return f"accounts.events.test.{run_id}.{unique}"


@pytest.fixture
async def broker() -> AsyncIterator[AbstractRobustConnection]:
    connection = await aio_pika.connect_robust(AMQP_URL)
    yield connection
    await connection.close()


BindQueue = Callable[[], Awaitable[Collector]]


@pytest.fixture
async def bind_queue(
    broker: AbstractRobustConnection, exchange_name: str
) -> AsyncIterator[BindQueue]:
    """Declares the test's exchange and a queue bound with `#`; returns its collector."""
    channel = await broker.channel()
    queues: list[aio_pika.abc.AbstractQueue] = []

    async def bind() -> Collector:
        exchange = await channel.declare_exchange(
            exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue(
            f"{exchange_name}.q{len(queues)}", durable=False, auto_delete=False
        )
        await queue.bind(exchange, routing_key="#")
        collector = Collector()
        await queue.consume(collector.on_message, no_ack=True)
        queues.append(queue)
        return collector

    yield bind
    for queue in queues:
        await queue.delete(if_unused=False, if_empty=False)
    await channel.exchange_delete(exchange_name)
    await channel.close()


def relay_settings(exchange: str, amqp_url: str = AMQP_URL, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "rabbitmq_url": amqp_url,
        "events_exchange": exchange,
        "relay_poll_interval": 0.5,
        "relay_batch_size": 500,
        "relay_backoff_base": 0.2,
        "relay_backoff_max": 2.0,
        **overrides,
    }
    return Settings(**values)


MakeRelay = Callable[..., Awaitable[Relay]]


@pytest.fixture
async def make_relay(database_url: str, exchange_name: str) -> AsyncIterator[MakeRelay]:
    """Starts relays on the run's database (stopped at the end of the test)."""
    relays: list[Relay] = []

    async def make(amqp_url: str = AMQP_URL, **overrides: Any) -> Relay:
        relay = Relay(relay_settings(exchange_name, amqp_url, **overrides), database_url)
        await relay.start()
        relays.append(relay)
        return relay

    yield make
    for relay in relays:
        await relay.stop()


async def wait_until(predicate: Callable[[], bool], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def emit(
    connection: Executor,
    aggregate_id: uuid.UUID,
    count: int = 1,
    event_type: str = "user.updated",
) -> list[str]:
    """Commits `count` events of one aggregate in one transaction; returns their ids."""
    rows = await connection.fetch(
        "SELECT (accounts.emit_event($1, 'user', $2, jsonb_build_object('n', n), NULL)).event_id"
        " FROM generate_series(1, $3) AS n",
        event_type,
        aggregate_id,
        count,
    )
    return [str(row["event_id"]) for row in rows]


async def outbox_row(
    pool: asyncpg.Pool,
    event_id: str,
    until: Callable[[outbox.OutboxRow], bool] = lambda row: True,
    within: float = 10,
) -> outbox.OutboxRow:
    """The event's outbox row, once `until` holds for it (or as it is after `within` s)."""
    deadline = time.monotonic() + within
    while True:
        rows = await outbox.list_rows(pool, "all", 100_000)
        row = next(r for r in rows if str(r.event_id) == event_id)
        if until(row) or time.monotonic() > deadline:
            return row
        await asyncio.sleep(0.05)
