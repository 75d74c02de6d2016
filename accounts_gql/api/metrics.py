"""Prometheus metrics at /metrics (PRODUCT §7): requests, latency, the outbox backlog."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from accounts_gql.db.pool import Database
from accounts_gql.db.replica import ReadRouter, Route

# A registry of our own, holding only what this module defines.
registry = CollectorRegistry(auto_describe=True)

REQUESTS = Counter(
    "accounts_http_requests",
    "HTTP requests by path and status",
    ["path", "status"],
    registry=registry,
)
LATENCY = Histogram(
    "accounts_http_request_seconds",
    "Time to answer an HTTP request",
    ["path"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
    registry=registry,
)
PLANNED_QUERIES = Counter(
    "accounts_graphql_planned_queries",
    "Queries by how they ran: planned, unplanned (a shape plans do not cover), "
    "deoptimized (an error sent the query to the standard execution), "
    "failed (a fault of the plan itself, logged; the standard execution answered)",
    ["outcome"],
    registry=registry,
)
OUTBOX_PENDING = Gauge(
    "accounts_outbox_pending",
    "Unpublished outbox rows (as the relay last counted)",
    registry=registry,
)
OUTBOX_OLDEST = Gauge(
    "accounts_outbox_oldest_pending_seconds", "Age of the oldest unpublished row", registry=registry
)
BROKER_CONNECTED = Gauge(
    "accounts_broker_connected", "1 when the relay is connected to RabbitMQ", registry=registry
)

READ_ROUTING = Counter(
    "accounts_read_queries",
    "Queries by the server they read from (replica or primary) and why (db/replica.py)",
    ["target", "reason"],
    registry=registry,
)
# Looked up once per route, not per query.
READ_ROUTES = {route: READ_ROUTING.labels(route.target, route.value) for route in Route}
REPLICA_LAG = Gauge(
    "accounts_replica_lag_seconds",
    "How far the read replica's replay is behind the primary (-1 while it is away)",
    registry=registry,
)
REPLICA_AVAILABLE = Gauge(
    "accounts_replica_available",
    "1 when the read replica answers and queries may read from it",
    registry=registry,
)

QUERY_CONNECTIONS = Gauge(
    "accounts_query_connections",
    "Connections of a pool lent to queries (db/lending.py): in use by a request, "
    "kept for the next one, and the most queries may take (limit)",
    ["pool", "state"],
    registry=registry,
)
QUERIES_WAITING = Gauge(
    "accounts_queries_waiting_for_connection",
    "Query requests waiting for a connection of a pool (served in arrival order)",
    ["pool"],
    registry=registry,
)

# Only known paths become label values, so a scan of random URLs cannot grow the series.
_PATHS = frozenset({"/graphql", "/healthz", "/readyz", "/metrics"})
# Labelled children looked up once, not per request.
_LATENCY_BY_PATH = {path: LATENCY.labels(path) for path in (*_PATHS, "other")}
_REQUESTS_BY_STATUS: dict[tuple[str, int], Any] = {}


class MetricsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"] if scope["path"] in _PATHS else "other"
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            _LATENCY_BY_PATH[path].observe(time.perf_counter() - started)
            counter = _REQUESTS_BY_STATUS.get((path, status))
            if counter is None:
                counter = _REQUESTS_BY_STATUS[(path, status)] = REQUESTS.labels(path, str(status))
            counter.inc()


async def metrics(request: Request) -> Response:
    relay = getattr(request.app.state, "relay", None)
    if relay is not None:
        state = relay.state()
        BROKER_CONNECTED.set(1 if state.broker_connected else 0)
        if state.pending is not None:
            OUTBOX_PENDING.set(state.pending)
        OUTBOX_OLDEST.set(state.oldest_pending_age or 0)
    router: ReadRouter | None = getattr(request.app.state, "router", None)
    if router is not None and router.configured:
        replica = router.state()
        REPLICA_AVAILABLE.set(1 if router.usable else 0)
        REPLICA_LAG.set(-1 if replica.lag is None else replica.lag)
    db: Database | None = getattr(request.app.state, "db", None)
    if db is not None:
        pools = {"primary": db.write} | ({"replica": db.read} if db.read is not db.write else {})
        for name, pool in pools.items():
            lending = pool.lending
            kept = lending.kept_size()
            QUERY_CONNECTIONS.labels(name, "in_use").set(lending.lent_size() - kept)
            QUERY_CONNECTIONS.labels(name, "kept").set(kept)
            QUERY_CONNECTIONS.labels(name, "limit").set(lending.limit)
            QUERIES_WAITING.labels(name).set(lending.waiting_size())
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
