"""The `accounts-gql events` and `events tail` commands (PRODUCT §5, §7)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
import uuid
from pathlib import Path

import asyncpg
import pytest

from accounts_gql.events import outbox
from accounts_gql.events.commands import list_events, tail_events
from tests.events.conftest import AMQP_URL, BindQueue, MakeRelay, emit, outbox_row, relay_settings


async def test_events_lists_pending_and_failed_rows_with_the_error(
    pool: asyncpg.Pool,
    database_url: str,
    exchange_name: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = relay_settings(exchange_name)
    aggregate = uuid.uuid4()
    first, second = await emit(pool, aggregate, 2, event_type="user.updated")
    failed = await outbox_row(pool, first)
    await outbox.record_failure(pool, [failed.position], "broker said no", 3600, 3600)
    try:
        await list_events(settings, database_url, "pending", 100_000)
        pending = capsys.readouterr().out
        await list_events(settings, database_url, "failed", 100_000)
        failures = capsys.readouterr().out
    finally:
        # Leave nothing waiting an hour for the relays of later tests.
        await outbox.mark_published(
            pool, [failed.position, (await outbox_row(pool, second)).position]
        )

    # The summary line first: how many wait, and how old the oldest is.
    count, word, *_ = pending.splitlines()[0].split()
    assert int(count) >= 2
    assert word.startswith("pending")
    assert first in pending
    assert second in pending
    assert f"user:{aggregate} #1" in pending
    lines = failures.splitlines()
    [at] = [i for i, line in enumerate(lines) if first in line]
    assert "attempts=1" in lines[at]
    assert lines[at + 1].strip() == "last error: broker said no"
    assert second not in failures

    await list_events(settings, database_url, "published", 100_000)
    assert first in capsys.readouterr().out
    with pytest.raises(ValueError, match="status must be one of"):
        await list_events(settings, database_url, "lost", 10)


async def test_events_tail_prints_each_event_as_it_arrives(
    pool: asyncpg.Pool,
    bind_queue: BindQueue,  # only for deleting the exchange at the end
    make_relay: MakeRelay,
    exchange_name: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    tail = asyncio.create_task(tail_events(relay_settings(exchange_name)))
    await make_relay()
    # Published `mandatory`, the event is retried until tail's queue is bound.
    [event_id] = await emit(pool, uuid.uuid4(), event_type="user.created")
    printed = ""
    deadline = time.monotonic() + 10
    while event_id not in printed and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        printed += capsys.readouterr().out
    tail.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await tail

    [line] = [line for line in printed.splitlines() if event_id in line]
    assert line.startswith("user.created {")
    assert f'"id":"{event_id}"' in line


async def test_relay_command_publishes_until_sigterm_then_stops_cleanly(
    pool: asyncpg.Pool,
    database_url: str,
    bind_queue: BindQueue,
    exchange_name: str,
    tmp_path: Path,
) -> None:
    collector = await bind_queue()
    environment = {
        **os.environ,
        "DATABASE_URL": database_url,
        "RABBITMQ_URL": AMQP_URL,
        "EVENTS_EXCHANGE": exchange_name,
        "RELAY_POLL_INTERVAL": "0.2",
        "LOG_DIR": str(tmp_path),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "accounts_gql.cli",
        "relay",
        env=environment,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        ids = await emit(pool, uuid.uuid4(), 3)
        await collector.wait_for(set(ids), within=20)
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 15)

    assert process.returncode == 0, stderr.decode()
    assert "outbox relay stopped" in stderr.decode()
