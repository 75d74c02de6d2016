"""Connections of a pool lent to query requests (RequestConnection, db/pool.py).

asyncpg's acquire and release arm a timeout each, wait on a queue and give
back in a task of their own: 4–8% of a small query's CPU in process. A query
request borrows instead from `ConnectionLending`, which takes at most `limit`
connections from the pool and lends each to one request at a time. One given
back healthy goes straight to the request that has waited longest, or is kept
for the next (the last given back first: its backend is the warmest). Waiting
requests are served in arrival order, which asyncpg's queue does not promise
under load (a woken waiter can lose its connection to a newcomer and queue
again at the back), and that is what kept the tail latency down.
Only `limit` connections serve queries: the rest of the pool stays for writes
and `pool.fetch…`, and fewer busy backends cost PostgreSQL less CPU per
statement (docs/performance.md).
"""

from __future__ import annotations

import asyncio
from collections import deque

import asyncpg
from asyncpg.pool import PoolConnectionProxy

Lent = tuple[PoolConnectionProxy, int]  # a connection and the requests it served


class ConnectionLending:
    """Up to `limit` connections of `pool`, lent to one query request at a time."""

    # A kept connection goes back to the pool after this many requests, or when
    # unused this long, so that asyncpg still recycles it (`max_queries`) and an
    # idle service's pool shrinks (`max_inactive_connection_lifetime`).
    KEPT_USES = 1000
    KEPT_SECONDS = 10.0

    def __init__(self, pool: asyncpg.Pool, limit: int, timeout: float) -> None:
        self.pool = pool
        self.limit = limit
        self.timeout = timeout  # how long a request waits, as for `acquire`
        self._kept: list[tuple[PoolConnectionProxy, int, float]] = []  # oldest first
        self._waiting: deque[asyncio.Future[Lent | None]] = deque()
        self._lent = 0  # taken from the pool and not given back: in use or kept
        self._open = True
        # The loop the pool runs on, found once: in Python 3.11 each lookup of the
        # running loop costs a getpid system call.
        self._loop: asyncio.AbstractEventLoop | None = None

    def kept_size(self) -> int:
        return len(self._kept)

    def lent_size(self) -> int:
        return self._lent

    def waiting_size(self) -> int:
        return sum(1 for waiter in self._waiting if not waiter.done())

    async def lend(self) -> Lent:
        """A connection for one request, for `take_back` (or `discard`) when it ends."""
        deadline: float | None = None
        while True:
            while self._kept:
                connection, uses, _ = self._kept.pop()
                if _usable(connection):
                    return connection, uses
                self._lent -= 1  # closed by the server: asyncpg took it back
            if not self._open:
                raise asyncpg.InterfaceError("pool is closing")
            loop = self._loop or self._running_loop()
            if deadline is None:
                deadline = loop.time() + self.timeout
            if self._lent < self.limit:
                return await self._take_from_pool(deadline - loop.time()), 0
            handed = await self._wait(loop, deadline)
            if handed is not None:
                return handed
            # None: a place came free; take it from the pool.

    async def take_back(self, connection: PoolConnectionProxy, uses: int) -> None:
        """A request's connection, to the longest waiting request or kept; to the
        pool for good when it is closed, left in a transaction or used enough."""
        uses += 1
        if (
            not self._open
            or uses >= self.KEPT_USES
            or not _usable(connection)
            or connection.is_in_transaction()
        ):
            await self.discard(connection)
        else:
            await self._pass_on(connection, uses)

    async def _pass_on(self, connection: PoolConnectionProxy, uses: int) -> None:
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result((connection, uses))
                return
        now = (self._loop or self._running_loop()).time()
        if self._kept and now - self._kept[0][2] > self.KEPT_SECONDS:
            stale, _, _ = self._kept.pop(0)  # the longest unused, one per call
            await self.discard(stale)
        self._kept.append((connection, uses, now))

    async def discard(self, connection: PoolConnectionProxy) -> None:
        """Gives a lent connection back to the pool for good (asyncpg waits for a
        cancelled statement to end, rolls back, recycles; a closed one it already
        took back), and its place to the longest waiting request."""
        self._lent -= 1
        try:
            await self.pool.release(connection)
        finally:
            self._wake_one()

    async def close(self) -> None:
        """Gives every kept connection back (asyncpg's close waits for them) and
        fails the waiting requests."""
        self._open = False
        kept, self._kept = self._kept, []
        for connection, _, _ in kept:
            await self.discard(connection)
        while self._waiting:
            self._wake_one()

    def terminate(self) -> None:
        self._open = False
        self._kept.clear()
        for waiter in self._waiting:
            waiter.cancel()
        self._waiting.clear()

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        self._loop = asyncio.get_running_loop()
        return self._loop

    async def _take_from_pool(self, seconds_left: float) -> PoolConnectionProxy:
        self._lent += 1
        try:
            connection: PoolConnectionProxy = await self.pool.acquire(
                timeout=max(seconds_left, 0.0)
            )
        except BaseException:
            self._lent -= 1
            self._wake_one()
            raise
        return connection

    async def _wait(self, loop: asyncio.AbstractEventLoop, deadline: float) -> Lent | None:
        """A connection handed over, or None for a place come free; TimeoutError
        past the deadline (on the loop's clock)."""
        waiter: asyncio.Future[Lent | None] = loop.create_future()
        self._waiting.append(waiter)
        timer = loop.call_at(deadline, _time_out, waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                handed = waiter.result()  # handed over as we were cancelled: pass it on
                if handed is not None:
                    await self._pass_on(*handed)
                else:
                    self._wake_one()
            raise
        finally:
            timer.cancel()

    def _wake_one(self) -> None:
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return


def _usable(connection: PoolConnectionProxy) -> bool:
    """Whether a lent connection is still open. One the server closed went back
    to asyncpg's pool by itself, and its proxy answers InterfaceError since."""
    try:
        return not connection.is_closed()
    except asyncpg.InterfaceError:
        return False


def _time_out(waiter: asyncio.Future[Lent | None]) -> None:
    if not waiter.done():  # as asyncpg's acquire fails past its timeout
        waiter.set_exception(TimeoutError())
