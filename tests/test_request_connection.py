"""A query request's one connection (db/pool.py RequestConnection), on the real server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from accounts_gql.db.pool import RequestConnection


@pytest.fixture
async def small_pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    created = await asyncpg.create_pool(database_url, min_size=2, max_size=2)
    assert created is not None
    yield created
    await created.close()


def all_idle(pool: asyncpg.Pool) -> bool:
    return pool.get_idle_size() == pool.get_size()


async def test_statements_of_a_request_share_one_connection(small_pool: asyncpg.Pool) -> None:
    connection = RequestConnection(small_pool)
    pids = [await connection.fetchval("SELECT pg_backend_pid()") for _ in range(3)]
    rows = await connection.fetch("SELECT pg_backend_pid() AS pid")
    row = await connection.fetchrow("SELECT pg_backend_pid() AS pid")
    assert row is not None
    assert {*pids, rows[0]["pid"], row["pid"]} == {pids[0]}
    assert small_pool.get_idle_size() == small_pool.get_size() - 1
    await connection.release()
    assert all_idle(small_pool)


async def test_concurrent_loads_take_turns_on_the_connection(small_pool: asyncpg.Pool) -> None:
    connection = RequestConnection(small_pool)
    pids = await asyncio.gather(
        *(connection.fetchval("SELECT pg_backend_pid() FROM pg_sleep(0.01)") for _ in range(5))
    )
    assert len(set(pids)) == 1
    await connection.release()
    assert all_idle(small_pool)


async def test_a_statement_after_release_takes_no_connection_for_good(
    small_pool: asyncpg.Pool,
) -> None:
    """A load nobody waits for any more may run after the request ended."""
    connection = RequestConnection(small_pool)
    await connection.release()
    for _ in range(5):  # more than the pool holds: each is given back
        assert await connection.fetchval("SELECT 1") == 1
    assert all_idle(small_pool)


async def test_release_waits_for_a_statement_in_flight(small_pool: asyncpg.Pool) -> None:
    connection = RequestConnection(small_pool)
    running = asyncio.ensure_future(connection.fetchval("SELECT 7 FROM pg_sleep(0.2)"))
    await asyncio.sleep(0.05)
    await connection.release()
    assert running.done()
    assert running.result() == 7
    assert all_idle(small_pool)


async def test_a_cancelled_statement_leaves_the_connection_usable(
    small_pool: asyncpg.Pool,
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


async def test_release_finishes_when_the_request_is_cancelled(small_pool: asyncpg.Pool) -> None:
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
