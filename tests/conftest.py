"""Fixtures shared by every test: a database of this run's own, migrated once.

TEST_DATABASE_URL names the server (default: the local PostgreSQL); each run
creates `accounts_test_<random>` there and drops it at the end, so that runs
never see each other's data. The run's owner role migrates it, and the app
connects as the run's service role (tests/roles.py), as in production.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from functools import partial

import asyncpg
import pytest

from accounts_gql.db.migrations import migrate
from accounts_gql.db.pool import init_connection
from tests.replica import streaming_replica

__all__ = ["streaming_replica"]  # a fixture of tests/replica.py
from tests.log_capture import log_lines  # noqa: F401  (fixtures for fault tests)
from tests.proxy import amqp_proxy, pg_proxy  # noqa: F401
from tests.roles import RunRoles, create_roles, drop_roles

SERVER_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def database_url_for(url: str, name: str) -> str:
    base, _, query = url.partition("?")
    base = base.rsplit("/", 1)[0]
    return f"{base}/{name}" + (f"?{query}" if query else "")


async def admin_execute(statement: str) -> None:
    connection = await asyncpg.connect(SERVER_URL)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def run_id() -> str:
    """A suffix unique to this test run, for databases, exchanges and queues."""
    return uuid.uuid4().hex[:12]


@pytest.fixture(scope="session")
async def empty_database(run_id: str) -> AsyncIterator[str]:
    """Creates a fresh, unmigrated database; yields its URL; drops it afterwards."""
    name = f"accounts_test_{run_id}_empty"
    await admin_execute(f'CREATE DATABASE "{name}"')
    yield database_url_for(SERVER_URL, name)
    await admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
async def roles(run_id: str) -> AsyncIterator[RunRoles]:
    """The run's owner and service roles, dropped after the databases."""
    created = await create_roles(SERVER_URL, run_id)
    yield created
    await drop_roles(SERVER_URL, created)


@pytest.fixture(scope="session")
async def owner_database_url(run_id: str, roles: RunRoles) -> AsyncIterator[str]:
    """This run's database, migrated by and connected as its owner role."""
    name = f"accounts_test_{run_id}"
    await admin_execute(f'CREATE DATABASE "{name}" OWNER "{roles.owner.name}"')
    url = roles.owner.url(SERVER_URL, name)
    await migrate(url, service_role=roles.service.name)
    yield url
    await admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def database_url(owner_database_url: str, run_id: str, roles: RunRoles) -> str:
    """This run's migrated database as the service role: what the app connects as."""
    return roles.service.url(SERVER_URL, f"accounts_test_{run_id}")


@pytest.fixture(scope="session")
async def pool(owner_database_url: str) -> AsyncIterator[asyncpg.Pool]:
    """The owner's pool: tests set up and inspect rows directly through it."""
    created = await asyncpg.create_pool(
        owner_database_url, min_size=1, max_size=10, init=partial(init_connection, counter=None)
    )
    assert created is not None
    yield created
    await created.close()


@pytest.fixture
async def db(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    """A connection of the run's database (autocommit: each call is its own transaction)."""
    async with pool.acquire() as connection:
        yield connection


@pytest.fixture
def unique() -> str:
    """A short random token to keep names of one test apart from another's."""
    return uuid.uuid4().hex[:8]
