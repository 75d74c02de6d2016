"""The outbox relay (PRODUCT §5): publishes committed outbox rows to RabbitMQ.

One loop per relay:

1. Wake on NOTIFY `accounts_outbox` (a dedicated LISTEN connection), or after
   `relay_poll_interval` seconds when none arrives (the fallback when the LISTEN
   connection is down, or a retry's backoff expires).
2. In a transaction, claim a batch (`accounts.outbox_claim`, FOR UPDATE SKIP
   LOCKED, the earliest unpublished rows of each aggregate) and publish it with
   publisher confirms and `mandatory`. A nack, an unroutable return, a channel
   error or a timeout is a failure.
3. Mark the confirmed rows published and record the failures (attempts, last
   error, next attempt after an exponential backoff with jitter); commit.

Order per aggregate: a batch is published in waves, the first unpublished row of
each aggregate, then each one's second, ...; a wave waits for its confirms, and an
aggregate whose row failed is dropped from the rest of the batch. So an event is
never sent before an earlier event of its aggregate was confirmed; what reaches
a consumer twice (a confirm lost with the connection) is a duplicate of an event
it saw already, with the same `id`.

Broker or database away: the relay closes what broke and reconnects with backoff,
claiming nothing while the broker is away. `stop()` lets the batch in hand finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import aio_pika
import asyncpg
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractExchange
from aio_pika.exceptions import DeliveryError, PublishError
from loguru import logger
from pamqp.commands import Basic

from accounts_gql.core.settings import Settings
from accounts_gql.db.health import is_unavailable
from accounts_gql.events import outbox
from accounts_gql.events.envelope import CONTENT_TYPE, encode_row
from accounts_gql.events.outbox import OutboxRow

CHANNEL = "accounts_outbox"
PUBLISH_TIMEOUT = 10.0  # seconds a publish may wait for its confirm
CONNECT_TIMEOUT = 10.0
STATS_INTERVAL = 1.0  # seconds between refreshes of the pending count
PRUNE_INTERVAL = 300.0  # seconds between prunes of old published rows
PRUNE_LIMIT = 10_000  # rows per prune call
RECONNECT_MAX = 10.0  # longest wait between reconnect attempts


@dataclass(frozen=True, slots=True)
class RelayState:
    """What /readyz needs to know about the relay."""

    running: bool
    broker_connected: bool
    database_connected: bool
    pending: int | None  # unpublished rows, as of `checked_at` (None: not yet known)
    oldest_pending_age: float | None  # seconds; None when nothing is pending
    checked_at: float | None  # time.time() of the last count

    @property
    def connected(self) -> bool:
        return self.broker_connected and self.database_connected


class _BrokerFailure(Exception):
    """A publish failed in a way that says the connection or channel is unusable."""


def _describe(error: BaseException) -> str:
    if isinstance(error, PublishError):
        return f"unroutable: returned by the broker ({error})"
    if isinstance(error, DeliveryError):
        return f"nacked by the broker ({error})"
    if isinstance(error, TimeoutError):
        return f"no confirm within {PUBLISH_TIMEOUT:g} s"
    return f"{type(error).__name__}: {error}"


class Relay:
    def __init__(self, settings: Settings, dsn: str) -> None:
        if not settings.rabbitmq_url:
            raise ValueError("the relay needs RABBITMQ_URL")
        self.settings = settings
        self.dsn = dsn
        self._amqp_url: str = settings.rabbitmq_url
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._db: asyncpg.Connection | None = None
        self._listener: asyncpg.Connection | None = None
        self._amqp: AbstractConnection | None = None
        self._channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None
        self._stats: outbox.OutboxStats | None = None
        self._stats_at: float | None = None
        self._next_stats = 0.0
        self._next_prune = 0.0
        self._reconnect_delay = settings.relay_backoff_base
        self._unreachable: set[str] = set()  # "the database", "the broker" while away
        # Counters for logs and tests.
        self.published = 0
        self.failed = 0

    # Lifecycle ---------------------------------------------------------------

    async def start(self) -> None:
        """Starts the relay in the background; it connects (and reconnects) by itself."""
        if self._task is not None:
            return
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name="outbox-relay")
        logger.info("outbox relay started (exchange {})", self.settings.events_exchange)

    async def stop(self) -> None:
        """Lets the batch in hand finish, then stops and closes the connections."""
        self._stopping.set()
        self._wake.set()
        if self._task is not None:
            try:
                await self._task
            finally:
                self._task = None
        await self._close_broker()
        await self._close_listener()
        await self._close_database()
        logger.info("outbox relay stopped ({} published, {} failed)", self.published, self.failed)

    def state(self) -> RelayState:
        return RelayState(
            running=self._task is not None and not self._task.done(),
            broker_connected=self._broker_ready(),
            database_connected=self._db is not None and not self._db.is_closed(),
            pending=self._stats.pending if self._stats else None,
            oldest_pending_age=self._stats.oldest_pending_age if self._stats else None,
            checked_at=self._stats_at,
        )

    # The loop ----------------------------------------------------------------

    async def _run(self) -> None:
        while not self._stopping.is_set():
            # The database and the broker fail independently: a failure of one
            # closes that one only, so /readyz shows the other as it is.
            try:
                await self._ensure_database()
            except Exception as error:
                await self._close_database()
                await self._reconnect_later("the database", error)
                continue
            self._unreachable.discard("the database")
            try:
                await self._ensure_broker()
            except Exception as error:
                # Start over with a new connection: one that failed half-way (its
                # reader gone, is_closed still False) cannot open a channel again.
                await self._close_broker()
                await self._reconnect_later("the broker", error)
                continue
            self._unreachable.discard("the broker")
            self._reconnect_delay = self.settings.relay_backoff_base
            await self._ensure_listener()
            self._wake.clear()
            try:
                claimed = await self._relay_batch()
                await self._housekeeping()
            except _BrokerFailure as error:
                logger.warning("outbox relay lost the broker: {}", error)
                await self._close_broker()
                continue
            except Exception as error:
                if is_unavailable(error):
                    logger.warning("outbox relay lost the database: {}", _describe(error))
                else:
                    logger.opt(exception=error).warning("outbox relay batch failed")
                await self._close_database()
                await self._sleep(self.settings.relay_backoff_base)
                continue
            if claimed < self.settings.relay_batch_size:
                await self._idle()

    async def _reconnect_later(self, what: str, error: BaseException) -> None:
        # One warning per outage; the retries that follow are debug lines.
        level = "DEBUG" if what in self._unreachable else "WARNING"
        self._unreachable.add(what)
        logger.log(
            level,
            "outbox relay cannot connect to {} ({}); retrying in {:.1f} s",
            what,
            _describe(error),
            self._reconnect_delay,
        )
        await self._sleep(self._reconnect_delay * (0.5 + random.random() / 2))
        self._reconnect_delay = min(
            self._reconnect_delay * 2, RECONNECT_MAX, self.settings.relay_backoff_max
        )

    async def _idle(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), self.settings.relay_poll_interval)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _relay_batch(self) -> int:
        """Claims, publishes and marks one batch; returns how many rows it claimed."""
        db = self._db
        assert db is not None
        broken: BaseException | None = None
        async with db.transaction():
            rows = await outbox.claim(db, self.settings.relay_batch_size)
            if not rows:
                return 0
            started = time.perf_counter()
            published, failures = await self._publish(rows)
            if published:
                await outbox.mark_published(db, published)
            by_error: dict[str, list[int]] = {}
            for position, error in failures:
                by_error.setdefault(_describe(error), []).append(position)
                if not isinstance(error, PublishError | DeliveryError):
                    broken = error
            for message, positions in by_error.items():
                await outbox.record_failure(
                    db,
                    positions,
                    message,
                    self.settings.relay_backoff_base,
                    self.settings.relay_backoff_max,
                )
        self.published += len(published)
        self.failed += len(failures)
        logger.debug(
            "outbox relay: {} published, {} failed in {:.1f} ms",
            len(published),
            len(failures),
            (time.perf_counter() - started) * 1000,
        )
        if failures:
            logger.warning(
                "outbox relay: {} event(s) not published: {}", len(failures), "; ".join(by_error)
            )
        if broken is not None:
            raise _BrokerFailure(_describe(broken))
        return len(rows)

    async def _publish(
        self, rows: list[OutboxRow]
    ) -> tuple[list[int], list[tuple[int, BaseException]]]:
        """Publishes in waves (see the module's doc); returns published positions and failures."""
        lanes: dict[tuple[str, Any], list[OutboxRow]] = {}
        for row in rows:  # claimed in aggregate, sequence order
            lanes.setdefault((row.aggregate_type, row.aggregate_id), []).append(row)
        pending = [lane[::-1] for lane in lanes.values()]  # pop() takes the next row
        published: list[int] = []
        failures: list[tuple[int, BaseException]] = []
        while pending:
            wave = [lane.pop() for lane in pending]
            results = await asyncio.gather(
                *(self._publish_one(row) for row in wave), return_exceptions=True
            )
            survivors = []
            for lane, row, result in zip(pending, wave, results, strict=True):
                if isinstance(result, BaseException):
                    failures.append((row.position, result))
                    continue  # the rest of this aggregate waits for the retry
                published.append(row.position)
                if lane:
                    survivors.append(lane)
            pending = survivors
        return published, failures

    async def _publish_one(self, row: OutboxRow) -> None:
        exchange = self._exchange
        if exchange is None:
            raise _BrokerFailure("no channel")
        message = aio_pika.Message(
            encode_row(row),
            content_type=CONTENT_TYPE,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=str(row.event_id),
            timestamp=row.created_at,
            type=row.event_type,
            app_id="accounts-gql",
        )
        result = await exchange.publish(
            message, routing_key=row.event_type, mandatory=True, timeout=PUBLISH_TIMEOUT
        )
        if not isinstance(result, Basic.Ack):
            raise DeliveryError(None, result)  # type: ignore[arg-type]

    async def _housekeeping(self) -> None:
        db = self._db
        assert db is not None
        now = time.monotonic()
        if now >= self._next_prune:
            self._next_prune = now + PRUNE_INTERVAL
            pruned = await outbox.prune(
                db, timedelta(seconds=self.settings.relay_retention), PRUNE_LIMIT
            )
            if pruned:
                logger.info("outbox relay pruned {} published event(s)", pruned)
        if now >= self._next_stats:
            self._next_stats = now + STATS_INTERVAL
            self._stats = await outbox.stats(db)
            self._stats_at = time.time()

    # Connections -------------------------------------------------------------

    async def _ensure_database(self) -> None:
        if self._db is not None and not self._db.is_closed():
            return
        self._db = await asyncpg.connect(
            self.dsn,
            timeout=CONNECT_TIMEOUT,
            command_timeout=self.settings.db_command_timeout,
            server_settings=self.settings.db_server_settings("accounts-gql-relay"),
        )
        logger.info("outbox relay connected to the database")

    async def _ensure_listener(self) -> None:
        """LISTEN on a connection of its own; without it the relay polls."""
        if self._listener is not None and not self._listener.is_closed():
            return
        try:
            listener = await asyncpg.connect(
                self.dsn,
                timeout=CONNECT_TIMEOUT,
                command_timeout=self.settings.db_command_timeout,
                server_settings=self.settings.db_server_settings("accounts-gql-relay-listen"),
            )
            await listener.add_listener(CHANNEL, self._on_notify)
        except Exception as error:
            logger.warning("outbox relay cannot LISTEN ({}); polling", _describe(error))
            return
        self._listener = listener
        self._wake.set()  # whatever was notified while we did not listen

    def _on_notify(self, *args: object) -> None:
        self._wake.set()

    def _broker_ready(self) -> bool:
        # `connected` is cleared as soon as the connection's reader stops, which
        # `is_closed` does not always show.
        return (
            self._amqp is not None
            and not self._amqp.is_closed
            and self._amqp.connected.is_set()
            and self._channel is not None
            and not self._channel.is_closed
            and self._exchange is not None
        )

    async def _ensure_broker(self) -> None:
        if self._broker_ready():
            return
        if self._amqp is None or self._amqp.is_closed or not self._amqp.connected.is_set():
            await self._close_broker()
            self._amqp = await aio_pika.connect(
                self._amqp_url,
                timeout=CONNECT_TIMEOUT,
                client_properties={"connection_name": "accounts-gql-relay"},
            )
            logger.info("outbox relay connected to the broker")
        # A channel closed by the broker (e.g. a publish to a deleted exchange)
        # is replaced on the same connection.
        self._exchange = None
        self._channel = await self._amqp.channel(publisher_confirms=True, on_return_raises=True)
        self._exchange = await self._channel.declare_exchange(
            self.settings.events_exchange, aio_pika.ExchangeType.TOPIC, durable=True
        )

    async def _close_broker(self) -> None:
        connection, self._amqp, self._channel, self._exchange = self._amqp, None, None, None
        if connection is not None and not connection.is_closed:
            try:
                await asyncio.wait_for(connection.close(), 5)
            except Exception as error:
                logger.debug("closing the broker connection: {}", _describe(error))

    async def _close_listener(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None and not listener.is_closed():
            try:
                await asyncio.wait_for(listener.close(), 5)
            except Exception:
                listener.terminate()

    async def _close_database(self) -> None:
        db, self._db = self._db, None
        if db is not None and not db.is_closed():
            try:
                await asyncio.wait_for(db.close(), 5)
            except Exception:
                db.terminate()
