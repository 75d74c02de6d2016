"""The replica's event stream: one listener per process fanning out to its subscribers.

How a replica learns of new events: LISTEN `accounts_outbox` on one connection
of its own (emit_event notifies at commit), with a look every
`subscription_poll_interval` seconds in case a notification was lost. We chose
this over a queue per replica on the exchange because the stream's order and
the resumption live in PostgreSQL anyway (sql/0018): the broker would add the
relay's delay and a dependency (subscriptions keep working with the broker
away or not configured), and its order is not the commit order across
aggregates. One connection and one read per wake-up serve every subscriber of
the replica; no client is polled.

On a wake-up the listener takes a tick (`accounts.event_tick`, at most one per
`subscription_tick_interval`), reads the events after its mark in windows of
ticks, and hands each to the subscribers whose keys it names
(services/reads/events.py), in stream order. Its mark is (tick, position): all
events up to it were handed out. A subscriber registered at mark M gets every
event after M live; what it asked to replay (`after:`) up to M it reads itself.

Database away: the listener reconnects with backoff and carries on from its
mark, so its subscribers, still connected, miss nothing and see nothing twice.

A subscriber's queue is bounded (`subscription_send_queue`): one that is full
is closed through its `on_overflow` (the WebSocket's code 1013), so a slow
client holds at most that many events, which are shared with the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import asyncpg
from loguru import logger

from accounts_gql.core.errors import DomainError, ErrorKind
from accounts_gql.core.settings import Settings
from accounts_gql.db.health import is_unavailable
from accounts_gql.db.pool import Executor
from accounts_gql.repositories import event_stream
from accounts_gql.repositories.event_stream import StreamEvent
from accounts_gql.services.reads import events as rules
from accounts_gql.services.reads.events import EventRequest, Key

CHANNEL = "accounts_outbox"
END_OF_TICK = 2**63 - 1  # the position of a mark that has seen all of its tick
WINDOW = 64  # ticks per read
PAGE = 500  # events per read
PRUNE_INTERVAL = 300.0
PRUNE_LIMIT = 10_000
RECONNECT_MAX = 10.0


class Subscriber:
    """One subscription's place in the stream: the events for it, bounded."""

    __slots__ = ("keys", "on_overflow", "overflowed", "owner", "queue", "types")

    def __init__(
        self, request: EventRequest, capacity: int, on_overflow: Callable[[], None]
    ) -> None:
        self.owner = request.owner
        self.keys = set(request.keys)
        self.types = request.types
        self.queue: asyncio.Queue[StreamEvent] = asyncio.Queue(capacity)
        self.on_overflow = on_overflow
        self.overflowed = False

    def offer(self, event: StreamEvent) -> None:
        if self.overflowed or (self.types is not None and event.event_type not in self.types):
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed = True
            self.on_overflow()

    async def next(self) -> StreamEvent:
        return await self.queue.get()


class Watch:
    """A connection that ends when its session or user does."""

    __slots__ = ("end", "keys")

    def __init__(self, keys: tuple[Key, ...], end: Callable[[str], None]) -> None:
        self.keys = keys
        self.end = end


class EventHub:
    def __init__(self, settings: Settings, dsn: str) -> None:
        self.settings = settings
        self.dsn = dsn
        self.mark: tuple[int, int] | None = None
        self._by_key: defaultdict[Key, set[Subscriber]] = defaultdict(set)
        self._by_owner: defaultdict[uuid.UUID, set[Subscriber]] = defaultdict(set)
        self._watches: defaultdict[Key, set[Watch]] = defaultdict(set)
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._connection: asyncpg.Connection | None = None
        self._next_prune = 0.0
        self.delivered = 0  # events handed to subscribers (for the bench)

    # Lifecycle ---------------------------------------------------------------

    async def start(self) -> None:
        """Connects and takes the starting mark (carrying on in the background if
        the database is away), then listens."""
        with contextlib.suppress(Exception):
            await self._connect()
        self._task = asyncio.create_task(self._run(), name="event-stream")

    async def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None
        await self._close()

    @property
    def connected(self) -> bool:
        return self._connection is not None and not self._connection.is_closed()

    @property
    def subscribers(self) -> int:
        return sum(len(group) for group in self._by_owner.values())

    # Subscribers --------------------------------------------------------------

    def subscribe(
        self, request: EventRequest, on_overflow: Callable[[], None]
    ) -> tuple[Subscriber, tuple[int, int]]:
        """Registers a subscriber; it gets every event after the returned mark.
        LIMIT_REACHED past `subscription_max_per_user` for its user here."""
        if self.mark is None:
            raise DomainError(
                ErrorKind.INVALID_STATE, "The event stream is starting; retry shortly."
            )
        if len(self._by_owner[request.owner]) >= self.settings.subscription_max_per_user:
            raise DomainError(
                ErrorKind.LIMIT_REACHED,
                f"At most {self.settings.subscription_max_per_user} subscriptions per user.",
            )
        subscriber = Subscriber(request, self.settings.subscription_send_queue, on_overflow)
        self._by_owner[request.owner].add(subscriber)
        for key in subscriber.keys:
            self._by_key[key].add(subscriber)
        return subscriber, self.mark

    def unsubscribe(self, subscriber: Subscriber) -> None:
        owned = self._by_owner.get(subscriber.owner)
        if owned is not None:
            owned.discard(subscriber)
            if not owned:
                del self._by_owner[subscriber.owner]
        for key in subscriber.keys:
            group = self._by_key.get(key)
            if group is not None:
                group.discard(subscriber)
                if not group:
                    del self._by_key[key]

    async def events(
        self, db: Executor, request: EventRequest, on_overflow: Callable[[], None]
    ) -> AsyncIterator[StreamEvent]:
        """A subscription's events: the replay its `after` asks for (read from the
        primary `db`), then the live ones, without a gap or a repeat at the seam:
        the replay ends at the mark the subscriber was registered at, and the live
        events are those after it."""
        subscriber, mark = self.subscribe(request, on_overflow)
        try:
            if request.after is not None:
                floor = request.after
                async for event in rules.replay(db, request, mark):
                    yield event
            else:
                # Live from now: what committed before the subscription began is
                # in a tick up to this one, even where this replica's stream has
                # not reached it yet.
                floor = (await event_stream.tick(db), END_OF_TICK)
            while True:
                event = await subscriber.next()
                # Before the start (or after an event this replica had not reached).
                if event.cursor <= floor:
                    continue
                yield event
        finally:
            self.unsubscribe(subscriber)

    def watch(self, keys: tuple[Key, ...], end: Callable[[str], None]) -> Watch:
        watch = Watch(keys, end)
        for key in keys:
            self._watches[key].add(watch)
        return watch

    def unwatch(self, watch: Watch) -> None:
        for key in watch.keys:
            group = self._watches.get(key)
            if group is not None:
                group.discard(watch)
                if not group:
                    del self._watches[key]

    # Fan-out ------------------------------------------------------------------

    def deliver(self, event: StreamEvent) -> None:
        """Hands `event` to the subscribers that see it, then applies what it changes."""
        seen: set[Subscriber] = set()
        for key in rules.event_keys(event):
            group = self._by_key.get(key)
            if group:
                for subscriber in group:
                    if subscriber not in seen:
                        seen.add(subscriber)
                        subscriber.offer(event)
        self.delivered += len(seen)
        change = rules.management_change(event)
        if change is not None:
            owner_key, group_key, holds = change
            assert owner_key[1] is not None
            for subscriber in self._by_owner.get(owner_key[1], ()):
                if rules.ALL in subscriber.keys:
                    continue
                if holds:
                    subscriber.keys.add(group_key)
                    self._by_key[group_key].add(subscriber)
                elif group_key in subscriber.keys:
                    subscriber.keys.discard(group_key)
                    self._by_key[group_key].discard(subscriber)
        for key in rules.ending_keys(event):
            for watch in list(self._watches.get(key, ())):
                watch.end(event.event_type)

    # The listener -------------------------------------------------------------

    def _notified(self, *_: object) -> None:
        self._wake.set()

    async def _connect(self) -> asyncpg.Connection:
        if self._connection is not None and not self._connection.is_closed():
            return self._connection
        # No jsonb codec: payloads stay JSON text, embedded as they are.
        connection = await asyncpg.connect(
            self.dsn,
            timeout=self.settings.db_acquire_timeout + self.settings.db_statement_timeout,
            command_timeout=self.settings.db_command_timeout,
            server_settings=self.settings.db_server_settings("accounts-gql-stream"),
        )
        try:
            await connection.add_listener(CHANNEL, self._notified)
            if self.mark is None:
                self.mark = (await event_stream.tick(connection), END_OF_TICK)
        except BaseException:
            await connection.close(timeout=1)
            raise
        self._connection = connection
        return connection

    async def _close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and not connection.is_closed():
            with contextlib.suppress(Exception):
                await connection.close(timeout=2)

    async def _run(self) -> None:
        delay = 0.1
        while not self._stopping.is_set():
            try:
                connection = await self._connect()
                await self._catch_up(connection)
                delay = 0.1
                await self._maybe_prune(connection)
                await self._sleep_until_woken()
            except Exception as error:
                if not (is_unavailable(error) or isinstance(error, asyncpg.PostgresError)):
                    logger.exception("event stream failed")
                else:
                    # Once per outage; the retries at debug level.
                    logger.log(
                        "WARNING" if delay == 0.1 else "DEBUG",
                        "event stream lost the database ({}); reconnecting in {:.1f} s",
                        type(error).__name__,
                        delay,
                    )
                await self._close()
                await self._sleep(delay * (0.5 + random.random() / 2))
                delay = min(delay * 2, RECONNECT_MAX)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _sleep_until_woken(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), self.settings.subscription_poll_interval)
        # Several commits in a row make one tick.
        if self.settings.subscription_tick_interval:
            await self._sleep(self.settings.subscription_tick_interval)
        self._wake.clear()

    async def _catch_up(self, connection: asyncpg.Connection) -> None:
        """Hands out every event after the mark up to a new tick, in order."""
        newest = await event_stream.tick(connection)
        assert self.mark is not None
        while self.mark[0] < newest or self.mark[1] != END_OF_TICK:
            tick, position = self.mark
            cursor = (tick + 1, 0) if position == END_OF_TICK else (tick, position)
            until = min(newest, cursor[0] + WINDOW)
            rows = await event_stream.events_after(connection, cursor, until, PAGE)
            for row in rows:
                self.deliver(row)
            if len(rows) == PAGE:
                self.mark = rows[-1].cursor
            else:
                self.mark = (until, END_OF_TICK)
            # Let the subscribers send before the next page.
            await asyncio.sleep(0)

    async def _maybe_prune(self, connection: asyncpg.Connection) -> None:
        now = time.monotonic()
        if now < self._next_prune:
            return
        self._next_prune = now + PRUNE_INTERVAL
        age = timedelta(seconds=self.settings.subscription_retention)
        pruned = await event_stream.prune_ticks(connection, age, PRUNE_LIMIT)
        if pruned:
            logger.info("event stream pruned {} tick(s)", pruned)
