"""A real uvicorn server on a free port of 127.0.0.1 and a real WebSocket client
(the `websockets` package) speaking graphql-transport-ws, for the subscription tests."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson
import uvicorn
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from accounts_gql.app import create_app
from accounts_gql.core.security import issue_access_token
from accounts_gql.core.settings import Settings
from tests.ports import free_port

PROTOCOL = "graphql-transport-ws"
EVENTS = """subscription Events($types: [String!], $after: ID) {
  accountEvents(types: $types, after: $after) {
    specversion id source type subject time datacontenttype aggregatetype sequence actorid data
  }
}"""


@dataclass
class Server:
    settings: Settings
    url: str  # ws://127.0.0.1:port/graphql
    http: str  # http://127.0.0.1:port

    def token(self, user_id: uuid.UUID, roles: tuple[str, ...] = (), **options: Any) -> str:
        return issue_access_token(self.settings, user_id, roles, **options)


@contextlib.asynccontextmanager
async def serve(settings: Settings, dsn: str) -> AsyncIterator[Server]:
    """The service under uvicorn on a free port, for the length of the block."""
    port = free_port()
    config = uvicorn.Config(
        create_app(settings, dsn),
        host="127.0.0.1",
        port=port,
        log_config=None,
        access_log=False,
        ws_ping_interval=settings.subscription_ping_interval,
        ws_ping_timeout=settings.subscription_ping_interval,
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield Server(settings, f"ws://127.0.0.1:{port}/graphql", f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        await task


class Client:
    """One graphql-transport-ws connection."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.ids = iter(range(1, 1_000_000))

    async def send(self, message: dict[str, Any]) -> None:
        await self.socket.send(orjson.dumps(message).decode())

    async def receive(self, within: float = 5.0) -> dict[str, Any]:
        message: dict[str, Any] = orjson.loads(await asyncio.wait_for(self.socket.recv(), within))
        return message

    async def init(self, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        await self.send({"type": "connection_init", "payload": payload or {}})
        return await self.receive()

    async def subscribe(self, variables: dict[str, Any] | None = None, query: str = EVENTS) -> str:
        operation = str(next(self.ids))
        await self.send(
            {
                "id": operation,
                "type": "subscribe",
                "payload": {"query": query, "variables": variables or {}},
            }
        )
        return operation

    async def event(self, within: float = 5.0) -> dict[str, Any]:
        """The next event of any subscription (fails on anything else)."""
        message = await self.receive(within)
        assert message["type"] == "next", message
        assert "errors" not in message["payload"], message
        event: dict[str, Any] = message["payload"]["data"]["accountEvents"]
        return event

    async def events(self, count: int, within: float = 5.0) -> list[dict[str, Any]]:
        return [await self.event(within) for _ in range(count)]

    async def nothing(self, within: float = 0.5) -> None:
        """Fails if a message arrives within `within` seconds."""
        with contextlib.suppress(TimeoutError):
            message = await self.receive(within)
            raise AssertionError(f"unexpected message: {message}")

    async def closed(self, within: float = 10.0) -> tuple[int | None, str | None]:
        """The close code and reason, once the server closes the connection."""
        try:
            async with asyncio.timeout(within):
                while True:
                    await self.socket.recv()
        except ConnectionClosed as closed:
            if closed.rcvd is None:
                return None, None
            return closed.rcvd.code, closed.rcvd.reason
        raise AssertionError("not closed")


@contextlib.asynccontextmanager
async def client(server: Server, **options: Any) -> AsyncIterator[Client]:
    async with connect(server.url, subprotocols=[PROTOCOL], **options) as socket:  # type: ignore[list-item]
        yield Client(socket)


@contextlib.asynccontextmanager
async def signed_in(
    server: Server, user_id: uuid.UUID, roles: tuple[str, ...] = (), **options: Any
) -> AsyncIterator[Client]:
    """A connection acknowledged for `user_id` (the token as GraphiQL sends it)."""
    async with client(server) as connection:
        ack = await connection.init(
            {"Authorization": f"Bearer {server.token(user_id, roles, **options)}"}
        )
        assert ack["type"] == "connection_ack", ack
        yield connection
