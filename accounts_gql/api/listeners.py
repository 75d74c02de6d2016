"""The ports the service listens on: the public one (HOST:PORT) and, when
METRICS_PORT is set, one for Prometheus (METRICS_HOST:METRICS_PORT, 127.0.0.1
unless told otherwise).

Metrics tell request rates, error counts and the outbox backlog: nothing a
caller of the API should read. One uvicorn server listens on both sockets, and
`PortSplit` lets each port serve only its own paths, so `/metrics` answers 404
on the public port and everything but `/metrics` answers 404 on the other.
"""

from __future__ import annotations

import socket

from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

METRICS_PATH = "/metrics"


class PortSplit:
    """Routes by the port a request came in on (the ASGI scope's `server`)."""

    def __init__(self, app: ASGIApp, metrics_port: int | None) -> None:
        self.app = app
        self.metrics_port = metrics_port

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            server = scope.get("server") or (None, None)
            on_metrics_port = self.metrics_port is not None and server[1] == self.metrics_port
            if (scope["path"] == METRICS_PATH) != on_metrics_port:
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 1008})
                    return
                await PlainTextResponse("Not Found", status_code=404)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def listening_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to host:port, as uvicorn binds its own."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock
