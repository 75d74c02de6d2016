"""The ASGI application: /graphql, /healthz, /readyz, and the process's resources."""

from __future__ import annotations

import itertools
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from loguru import logger
from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from accounts_gql.api.cors import cors_options
from accounts_gql.api.http import GraphQLEndpoint
from accounts_gql.api.ide import graphiql_asset
from accounts_gql.api.jwks import jwks_endpoint
from accounts_gql.api.listeners import PortSplit
from accounts_gql.api.metrics import MetricsMiddleware, metrics
from accounts_gql.core.gc_tuning import tune_for_serving
from accounts_gql.core.logging import request_id
from accounts_gql.core.security import signing_keys
from accounts_gql.core.settings import Settings
from accounts_gql.db.health import DatabaseHealth
from accounts_gql.db.pool import Database, StatementCounter
from accounts_gql.db.replica import ReadRouter
from accounts_gql.events.relay import Relay


class GraphQLShortcut:
    """Sends GET and POST /graphql straight to its endpoint, past Starlette's
    exception middleware and router: the endpoint answers every error itself, and
    the detour cost a small query about a tenth of its CPU (docs/performance.md).
    Everything else, other methods on /graphql included, goes the usual way."""

    def __init__(self, app: ASGIApp, endpoint: ASGIApp) -> None:
        self.app = app
        self.endpoint = endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["path"] == "/graphql"
            and scope["method"] in ("GET", "POST")
        ):
            await self.endpoint(scope, receive, send)
        else:
            await self.app(scope, receive, send)


# Request ids: a random prefix per process (a forked worker draws its own) and
# a counter: unique without a getrandom call per request, which took ~3% of a
# small query's CPU.
_id_prefix = os.urandom(8).hex()
_ids = itertools.count(1)


def _new_id_prefix() -> None:
    global _id_prefix
    _id_prefix = os.urandom(8).hex()


os.register_at_fork(after_in_child=_new_id_prefix)


class RequestIdMiddleware:
    """Gives each request an id (or keeps the caller's X-Request-ID) for logs and errors."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        rid = given[:64] if given else f"{_id_prefix}{next(_ids):08x}"
        token = request_id.set(rid)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).append((b"x-request-id", rid.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id.reset(token)


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """503 without the database, within a second whatever the database does
    (DatabaseHealth.check). Without the broker the service still takes
    requests (their events wait in the outbox), so it stays ready but says
    "degraded" and shows the relay's backlog. The two are checked apart: each
    fails without the other."""
    health: DatabaseHealth = request.app.state.health
    checks: dict[str, Any] = {}
    failure = await health.check()
    checks["database"] = "ok" if failure is None else f"unavailable: {failure}"
    relay: Relay | None = request.app.state.relay
    if relay is not None:
        relay_state = relay.state()
        checks["broker"] = "ok" if relay_state.broker_connected else "unavailable"
        checks["outbox"] = {
            "pending": relay_state.pending,
            "oldest_pending_seconds": relay_state.oldest_pending_age,
        }
    router: ReadRouter = request.app.state.router
    if router.configured:
        checks["replica"] = replica_check(router)
    if checks["database"] != "ok":
        status, code = "not ready", 503
    elif checks.get("broker", "ok") != "ok" or checks.get("replica", "ok") != "ok":
        status, code = "degraded", 200
    else:
        status, code = "ready", 200
    return JSONResponse({"status": status, "checks": checks}, status_code=code)


def replica_check(router: ReadRouter) -> str:
    """ "ok", or why queries read the primary instead (the service stays ready)."""
    replica = router.state()
    if not replica.available:
        return f"unavailable: {replica.problem}"
    if not router.usable:
        return f"lagging: {replica.lag:.1f} s"
    return "ok"


def require_production_secrets(settings: Settings) -> None:
    """Refuses to start without usable signing keys (in production: 32 bytes each)."""
    signing_keys(settings)


def create_app(settings: Settings, dsn: str, counter: StatementCounter | None = None) -> Starlette:
    """The service, connected to the database at `dsn` while it runs.

    `counter`, when given, counts every SQL statement (tests and the bench).
    """
    require_production_secrets(settings)
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        db = await Database.connect(dsn, settings, counter)
        state["db"] = app.state.db = db
        state["health"] = app.state.health = DatabaseHealth(dsn, settings)
        state["router"] = app.state.router = ReadRouter(db, settings, dsn)
        await app.state.router.start()
        # The relay runs inside serve unless switched off or no broker is configured.
        relay = Relay(settings, dsn) if settings.rabbitmq_url and settings.relay_enabled else None
        app.state.relay = relay
        if relay is not None:
            await relay.start()
        if settings.gc_tuning:
            tune_for_serving()
        logger.info("accounts-gql ready")
        try:
            yield
        finally:
            if relay is not None:
                await relay.stop()
            await app.state.health.close()
            await app.state.router.close()
            await db.close()
            logger.info("accounts-gql stopped")

    graphql = GraphQLEndpoint(settings, state)
    app = Starlette(
        routes=[
            Route("/.well-known/jwks.json", jwks_endpoint(settings), methods=["GET"]),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics),
            Route("/graphql", graphql, methods=["GET", "POST"]),
            # GraphiQL's files only where GraphiQL is on (404 otherwise).
            *(
                [Route("/graphql/assets/{name}", graphiql_asset, methods=["GET"])]
                if settings.graphiql_enabled
                else []
            ),
        ],
        lifespan=lifespan,
    )
    app.add_middleware(GraphQLShortcut, endpoint=graphql)
    app.add_middleware(MetricsMiddleware)
    app.add_middleware(RequestIdMiddleware)
    cors = cors_options(settings)
    if cors is not None:
        app.add_middleware(CORSMiddleware, **cors)
    app.add_middleware(PortSplit, metrics_port=settings.metrics_port)
    return app
