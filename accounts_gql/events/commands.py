"""Entry points of the `accounts-gql relay`, `events`, `events tail` commands."""

from __future__ import annotations

import asyncio
import signal
import sys
from datetime import UTC, datetime
from typing import Any

import aio_pika
import asyncpg
import orjson
from aio_pika.abc import AbstractIncomingMessage
from loguru import logger

from accounts_gql.core.settings import Settings
from accounts_gql.events import outbox
from accounts_gql.events.asyncapi import export_asyncapi
from accounts_gql.events.registry import EVENT_TYPES
from accounts_gql.events.relay import Relay

__all__ = ["export_asyncapi", "list_events", "run_relay", "tail_events"]


def without_codes(envelope: Any) -> Any:
    """The envelope with the one-time code of a sensitive event masked: it is for
    the notification service, not for a terminal or whatever keeps its output."""
    if not isinstance(envelope, dict) or not isinstance(envelope.get("data"), dict):
        return envelope
    event = EVENT_TYPES.get(str(envelope.get("type")))
    if event is None or not event.sensitive or "code" not in envelope["data"]:
        return envelope
    return {**envelope, "data": {**envelope["data"], "code": "******"}}


async def run_relay(settings: Settings, dsn: str) -> None:
    """Runs the relay until SIGINT or SIGTERM, then lets its batch finish."""
    if not settings.rabbitmq_url:
        logger.error(
            "RABBITMQ_URL is not set: events stay in the outbox (see `accounts-gql events`)"
        )
        return
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    relay = Relay(settings, dsn)
    await relay.start()
    try:
        await stop.wait()
        logger.info("outbox relay stopping")
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        await relay.stop()


def _age(moment: datetime | None) -> str:
    if moment is None:
        return "-"
    seconds = (datetime.now(UTC) - moment).total_seconds()
    if seconds < 120:
        return f"{seconds:.0f}s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m ago"
    if seconds < 172800:
        return f"{seconds / 3600:.0f}h ago"
    return f"{seconds / 86400:.0f}d ago"


async def list_events(settings: Settings, dsn: str, status: str, limit: int) -> None:
    """Prints outbox rows: `pending`, `failed` (with the last error), `published`, `all`."""
    if status not in outbox.STATUSES:
        raise ValueError(f"status must be one of {', '.join(outbox.STATUSES)}")
    connection = await asyncpg.connect(dsn)
    try:
        summary = await outbox.stats(connection)
        rows = await outbox.list_rows(connection, status, limit)
    finally:
        await connection.close()
    out = sys.stdout
    oldest = (
        f", oldest {summary.oldest_pending_age:.1f}s old"
        if summary.oldest_pending_age is not None
        else ""
    )
    out.write(f"{summary.pending} pending{oldest}; showing {len(rows)} {status}\n")
    for row in rows:
        state = "published " + _age(row.published_at) if row.published_at else "pending"
        out.write(
            f"{row.position:>8}  {row.event_type:<24} {row.aggregate_type}:{row.aggregate_id}"
            f" #{row.sequence}  {row.event_id}  created {_age(row.created_at)}  {state}"
        )
        if row.attempts and not row.published_at:
            out.write(
                f"  attempts={row.attempts}"
                f" next={row.next_attempt_at.astimezone(UTC):%H:%M:%S}Z"
                f"\n          last error: {row.last_error}"
            )
        out.write("\n")
    out.flush()


async def tail_events(settings: Settings) -> None:
    """Prints each event published to the exchange, as it arrives, until interrupted.

    Binds a temporary queue (exclusive, auto-deleted, server-named) with `#`;
    each line is the routing key and the CloudEvents envelope as compact JSON.
    """
    if not settings.rabbitmq_url:
        logger.error("RABBITMQ_URL is not set: nothing to follow")
        return
    connection = await aio_pika.connect(settings.rabbitmq_url)
    try:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(
            settings.events_exchange, aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue("", exclusive=True, auto_delete=True)
        await queue.bind(exchange, routing_key="#")
        logger.info("following exchange {} (Ctrl-C to stop)", settings.events_exchange)

        async def show(message: AbstractIncomingMessage) -> None:
            try:
                body = orjson.dumps(without_codes(orjson.loads(message.body))).decode()
            except orjson.JSONDecodeError:
                body = message.body.decode(errors="replace")
            sys.stdout.write(f"{message.routing_key} {body}\n")
            sys.stdout.flush()

        await queue.consume(show, no_ack=True)
        await asyncio.Future()  # until cancelled (Ctrl-C)
    finally:
        await connection.close()
