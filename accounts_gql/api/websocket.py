"""Subscriptions over WebSocket at /graphql (graphql-transport-ws; docs/subscriptions.md).

Strawberry's ASGI view serves the protocol; /graphql's HTTP requests stay with
our own endpoint (api/http.py), and `app.GraphQLShortcut` sends the WebSocket
scope here. What is ours:
- authentication from the connection_init payload: `Authorization` ("Bearer
  …", what GraphiQL sends from its headers editor) or `token`; a bad token is
  refused with 4403, and a good one ends the connection (4403) when it expires,
  or when its session is revoked or its user deactivated or deleted;
- only subscriptions: queries and mutations go over HTTP, where their limits,
  loaders and replica routing are;
- the documents checked as over HTTP (the same cache: depth, aliases, tokens);
- limits: connection_init within SUBSCRIPTION_INIT_TIMEOUT (4408),
  SUBSCRIPTION_MAX_PER_CONNECTION operations per connection,
  SUBSCRIPTION_MAX_PER_USER per user (the stream), WebSocket pings (uvicorn's,
  SUBSCRIPTION_PING_INTERVAL) and a bounded queue per subscription (1013);
- messages written with orjson.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

import orjson
import strawberry
from graphql import OperationType
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)

from accounts_gql.api.engine.documents import DocumentCache
from accounts_gql.api.schema import schema
from accounts_gql.api.stream_context import FORBIDDEN, StreamContext
from accounts_gql.core.errors import DomainError
from accounts_gql.core.security import verify_authorization
from accounts_gql.core.settings import Settings
from accounts_gql.services.reads.events import connection_keys

CONTEXT_KEY = "accounts.stream_context"


def authorization(params: dict[str, Any]) -> str | None:
    """The bearer credential of a connection_init payload, as a header value."""
    for name in ("Authorization", "authorization"):
        value = params.get(name)
        if isinstance(value, str) and value:
            return value
    token = params.get("token")
    if isinstance(token, str) and token:
        return f"Bearer {token}"
    return None


class SubscriptionsOnly(BaseGraphQLTransportWSHandler[StreamContext, None]):
    """graphql-transport-ws, for subscriptions that pass the service's limits."""

    async def handle_subscribe(self, message: Any) -> None:
        view = self.view
        assert isinstance(view, SubscriptionEndpoint)
        payload = message.get("payload") or {}
        query = payload.get("query")
        if self.connection_acknowledged and isinstance(query, str):
            prepared = view.documents.get(query)
            refused = [error.formatted for error in prepared.errors]
            if not refused:
                kind = prepared.operation_type(payload.get("operationName"))
                if kind is not OperationType.SUBSCRIPTION:
                    refused = [
                        {
                            "message": "Only subscriptions are served over WebSocket; "
                            "send queries and mutations to /graphql over HTTP.",
                            "extensions": {"code": "BAD_REQUEST"},
                        }
                    ]
            if refused and message["id"] not in self.operations:
                await self.send_message({"id": message["id"], "type": "error", "payload": refused})
                return
        await super().handle_subscribe(message)


class SubscriptionEndpoint(GraphQL[StreamContext, None]):
    graphql_transport_ws_handler_class = SubscriptionsOnly

    def __init__(self, settings: Settings, state: dict[str, Any], documents: DocumentCache) -> None:
        super().__init__(
            schema,
            graphql_ide=None,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            connection_init_wait_timeout=timedelta(seconds=settings.subscription_init_timeout),
            max_subscriptions_per_connection=settings.subscription_max_per_connection,
        )
        self.settings = settings
        self.state = state
        self.documents = documents

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await Response(status_code=404)(scope, receive, send)
            return
        if not self.settings.subscriptions_enabled or "hub" not in self.state:
            await WebSocket(scope, receive, send).close(code=1008)
            return
        try:
            await super().__call__(scope, receive, send)
        finally:
            context = scope.get("state", {}).get(CONTEXT_KEY)
            if isinstance(context, StreamContext):
                context.finish()

    async def get_context(self, request: Request | WebSocket, response: Any) -> StreamContext:
        assert isinstance(request, WebSocket)
        context = StreamContext(
            websocket=request, settings=self.settings, db=self.state["db"], hub=self.state["hub"]
        )
        request.scope.setdefault("state", {})[CONTEXT_KEY] = context
        return context

    async def on_ws_connect(self, context: StreamContext) -> Any:
        header = authorization(context.connection_params or {})
        if header is None:
            return strawberry.UNSET  # anonymous: accountEvents answers UNAUTHENTICATED
        try:
            viewer, expires = verify_authorization(self.settings, header)
        except DomainError as error:
            raise ConnectionRejectionError({"message": error.message}) from error
        context.viewer = viewer
        context.expires_at = expires
        context.watch = context.hub.watch(connection_keys(viewer), context.ended)
        context.spawn(self._expire(context, expires))
        return strawberry.UNSET

    async def _expire(self, context: StreamContext, expires: float) -> None:
        await asyncio.sleep(max(0.0, expires - time.time()))
        context.close(FORBIDDEN, "Forbidden: the access token has expired")

    def encode_json(self, data: object) -> str:
        return orjson.dumps(data).decode()
