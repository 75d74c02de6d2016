"""A query request's one connection (db/pool.py RequestConnection) and how the
pool lends connections to query requests (db/lending.py), on the real server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from accounts_gql.core.settings import Settings
from accounts_gql.db.lending import ConnectionLending
from accounts_gql.db.pool import BoundedPool, RequestConnection, create_pool
from tests.conftest import admin_execute

PID = "SELECT pg_backend_pid()"


async def bounded_pool(url: str, size: int, acquire_timeout: float = 2.0) -> BoundedPool:
    """A pool of `size` connections, made as the service makes its pools."""
    settings = Settings(
        database_url=url, db_pool_min=size, db_pool_max=size, db_acquire_timeout=acquire_timeout
    )
    return await create_pool(url, settings)


@pytest.fixture
async def small_pool(database_url: str) -> AsyncIterator[BoundedPool]:
    created = await bounded_pool(database_url, 2)
    yield created
    await asyncio.wait_for(created.close(), 5)


@pytest.fixture
async def pool_of_four(database_url: str) -> AsyncIterator[BoundedPool]:
    created = await bounded_pool(database_url, 4)
    yield created
    await asyncio.wait_for(created.close(), 5)


def all_idle(pool: BoundedPool) -> bool:
    """No connection in use: every one idle in asyncpg's pool or kept for queries."""
    return pool.get_idle_size() + pool.lending.kept_size() == pool.get_size()


async def request_pid(pool: BoundedPool) -> int:
    """The backend a query request of its own reads on."""
    connection = RequestConnection(pool)
    try:
        pid: int = await connection.fetchval(PID)
        return pid
    finally:
        await connection.release()


async def test_statements_of_a_request_share_one_connection(small_pool: BoundedPool) -> None:
    connection = RequestConnection(small_pool)
    pids = [await connection.fetchval("SELECT pg_backend_pid()") for _ in range(3)]
    rows = await connection.fetch("SELECT pg_backend_pid() AS pid")
    row = await connection.fetchrow("SELECT pg_backend_pid() AS pid")
    assert row is not None
    assert {*pids, rows[0]["pid"], row["pid"]} == {pids[0]}
    assert not all_idle(small_pool)
    await connection.release()
    assert all_idle(small_pool)


async def test_concurrent_loads_take_turns_on_the_connection(small_pool: BoundedPool) -> None:
    connection = RequestConnection(small_pool)
    pids = await asyncio.gather(
        *(connection.fetchval("SELECT pg_backend_pid() FROM pg_sleep(0.01)") for _ in range(5))
    )
    assert len(set(pids)) == 1
    await connection.release()
    assert all_idle(small_pool)


async def test_a_statement_after_release_takes_no_connection_for_good(
    small_pool: BoundedPool,
) -> None:
    """A load nobody waits for any more may run after the request ended."""
    connection = RequestConnection(small_pool)
    await connection.release()
    for _ in range(5):  # more than the pool holds: each is given back
        assert await connection.fetchval("SELECT 1") == 1
    assert all_idle(small_pool)


async def test_release_waits_for_a_statement_in_flight(small_pool: BoundedPool) -> None:
    connection = RequestConnection(small_pool)
    running = asyncio.ensure_future(connection.fetchval("SELECT 7 FROM pg_sleep(0.2)"))
    await asyncio.sleep(0.05)
    await connection.release()
    assert running.done()
    assert running.result() == 7
    assert all_idle(small_pool)


async def test_a_cancelled_statement_leaves_the_connection_usable(
    small_pool: BoundedPool,
) -> None:
    connection = RequestConnection(small_pool)
    sleeping = asyncio.ensure_future(connection.fetchval("SELECT pg_sleep(30)"))
    await asyncio.sleep(0.1)
    sleeping.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sleeping
    assert await asyncio.wait_for(connection.fetchval("SELECT 2"), 5) == 2
    await connection.release()
    assert all_idle(small_pool)


async def test_release_finishes_when_the_request_is_cancelled(small_pool: BoundedPool) -> None:
    connection = RequestConnection(small_pool)
    assert await connection.fetchval("SELECT 1") == 1
    slow = asyncio.ensure_future(connection.fetchval("SELECT 3 FROM pg_sleep(0.2)"))
    await asyncio.sleep(0.05)
    releasing = asyncio.ensure_future(connection.release())
    await asyncio.sleep(0.01)
    releasing.cancel()
    assert await slow == 3
    await asyncio.sleep(0.05)
    assert all_idle(small_pool)


async def test_the_next_request_reads_on_the_connection_the_last_gave_back(
    pool_of_four: BoundedPool,
) -> None:
    first = await request_pid(pool_of_four)
    assert [await request_pid(pool_of_four) for _ in range(5)] == [first] * 5
    assert pool_of_four.lending.kept_size() == 1


async def test_queries_take_at_most_half_of_the_pool(pool_of_four: BoundedPool) -> None:
    """The other half stays asyncpg's: writes and pool.fetch never wait behind queries."""
    requests = [RequestConnection(pool_of_four) for _ in range(2)]
    assert len({await request.fetchval(PID) for request in requests}) == 2
    third = RequestConnection(pool_of_four)
    waiting = asyncio.ensure_future(third.fetchval("SELECT 3"))
    async with pool_of_four.acquire(timeout=1) as one, pool_of_four.acquire(timeout=1) as two:
        assert await one.fetchval("SELECT 1") == await two.fetchval("SELECT 2") - 1
    assert not waiting.done()
    await requests[0].release()
    assert await asyncio.wait_for(waiting, 1) == 3
    for request in (requests[1], third):
        await request.release()
    assert pool_of_four.lending.kept_size() == 2
    assert all_idle(pool_of_four)


async def test_waiting_requests_are_served_in_arrival_order(small_pool: BoundedPool) -> None:
    """Each takes the connection given back next, before any newcomer."""
    holder = RequestConnection(small_pool)  # the one connection queries may take
    held = await holder.fetchval(PID)
    waiting = [RequestConnection(small_pool) for _ in range(3)]
    order: list[int] = []

    async def run(index: int) -> None:
        assert await waiting[index].fetchval(PID) == held
        order.append(index)
        await waiting[index].release()

    runs = []
    for index in range(3):
        runs.append(asyncio.ensure_future(run(index)))
        await asyncio.sleep(0.01)  # in this order
    await holder.release()
    await asyncio.wait_for(asyncio.gather(*runs), 2)
    assert order == [0, 1, 2]
    assert small_pool.lending.lent_size() == 1
    assert all_idle(small_pool)


async def test_a_request_waits_for_a_connection_no_longer_than_the_pool_would(
    database_url: str,
) -> None:
    created = await bounded_pool(database_url, 2, acquire_timeout=0.2)
    try:
        holder = RequestConnection(created)
        await holder.fetchval("SELECT 1")
        started = asyncio.get_running_loop().time()
        with pytest.raises(TimeoutError):
            await RequestConnection(created).fetchval("SELECT 2")
        assert 0.15 < asyncio.get_running_loop().time() - started < 1
        await holder.release()
        assert created.lending.lent_size() == 1  # the holder's, kept
        assert await request_pid(created) > 0
    finally:
        await asyncio.wait_for(created.close(), 5)


async def test_a_request_cancelled_while_waiting_leaves_nothing_taken(
    small_pool: BoundedPool,
) -> None:
    holder = RequestConnection(small_pool)
    await holder.fetchval("SELECT 1")
    cancelled = asyncio.ensure_future(RequestConnection(small_pool).fetchval("SELECT 2"))
    await asyncio.sleep(0.05)
    cancelled.cancel()
    await holder.release()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert small_pool.lending.lent_size() == 1
    assert await request_pid(small_pool) > 0
    assert all_idle(small_pool)


async def test_a_connection_handed_to_a_request_cancelled_meanwhile_is_kept(
    small_pool: BoundedPool,
) -> None:
    """Handed over, then cancelled before it ran: the connection is passed on, not lost."""
    holder = RequestConnection(small_pool)
    await holder.fetchval("SELECT 1")
    cancelled = asyncio.ensure_future(RequestConnection(small_pool).fetchval("SELECT 2"))
    await asyncio.sleep(0.05)
    await holder.release()  # hands the connection to the waiting request
    cancelled.cancel()  # before that request runs again
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert small_pool.lending.kept_size() == small_pool.lending.lent_size() == 1
    assert all_idle(small_pool)


async def test_a_connection_the_server_closed_is_not_lent_again(
    pool_of_four: BoundedPool,
) -> None:
    gone = await request_pid(pool_of_four)
    await admin_execute(f"SELECT pg_terminate_backend({gone})")
    await asyncio.sleep(0.2)  # the client sees its socket close
    assert await request_pid(pool_of_four) != gone
    assert pool_of_four.lending.lent_size() == 1


async def test_a_connection_left_in_a_transaction_goes_back_to_asyncpg(
    pool_of_four: BoundedPool,
) -> None:
    """asyncpg rolls it back on release; a kept one would carry it to the next request."""
    holder = RequestConnection(pool_of_four)  # the other connection queries may take
    await holder.fetchval("SELECT 1")
    left_open = RequestConnection(pool_of_four)
    await left_open.execute("BEGIN")
    await left_open.execute("SET LOCAL statement_timeout = 12345")
    await left_open.release()
    assert pool_of_four.lending.kept_size() == 0
    request = RequestConnection(pool_of_four)
    assert await request.fetchval("SHOW statement_timeout") != "12345ms"
    await request.release()
    await holder.release()


async def test_a_kept_connection_returns_to_asyncpg_after_its_uses(
    pool_of_four: BoundedPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """So that asyncpg's recycling (max_queries, expiry) still reaches it."""
    monkeypatch.setattr(ConnectionLending, "KEPT_USES", 3)
    for _ in range(2):
        await request_pid(pool_of_four)
    assert pool_of_four.lending.kept_size() == 1
    await request_pid(pool_of_four)
    assert pool_of_four.lending.kept_size() == 0
    assert pool_of_four.lending.lent_size() == 0
    assert all_idle(pool_of_four)


async def test_a_kept_connection_unused_for_long_returns_to_asyncpg(
    pool_of_four: BoundedPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """So that an idle service's pool shrinks as asyncpg's inactivity rule says."""
    requests = [RequestConnection(pool_of_four) for _ in range(2)]
    for request in requests:
        await request.fetchval("SELECT 1")
    await requests[0].release()
    monkeypatch.setattr(ConnectionLending, "KEPT_SECONDS", 0.05)
    await asyncio.sleep(0.1)
    await requests[1].release()
    assert pool_of_four.lending.kept_size() == 1
    assert pool_of_four.get_idle_size() == 3


async def test_closing_the_pool_gives_kept_connections_back(database_url: str) -> None:
    """asyncpg's close waits for every connection lent out: kept ones must not hold it."""
    created = await bounded_pool(database_url, 2)
    await request_pid(created)
    assert created.lending.kept_size() == 1
    await asyncio.wait_for(created.close(), 5)
    assert created.lending.kept_size() == 0
    with pytest.raises(asyncpg.InterfaceError):
        await created.lending.lend()
