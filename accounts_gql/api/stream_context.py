"""What a subscription's resolver gets: one context per WebSocket connection."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

from loguru import logger
from starlette.websockets import WebSocket, WebSocketState

from accounts_gql.core.settings import Settings
from accounts_gql.core.viewer import ANONYMOUS, Viewer
from accounts_gql.db.pool import Database
from accounts_gql.events.stream import EventHub, Watch

# Close codes. graphql-transport-ws: 4403 Forbidden is the server refusing the
# connection's credentials (at connection_init, or later: token expired, session
# revoked, user deactivated or deleted); 4401 is a subscribe before the
# acknowledgement, 4408 a connection_init too late (Strawberry sends both).
# WebSocket: 1013 Try Again Later for a client too slow to take its events (it
# resumes with `after:`).
FORBIDDEN = 4403
TOO_SLOW = 1013


@dataclass(slots=True)
class StreamContext:
    websocket: WebSocket
    settings: Settings
    db: Database
    hub: EventHub
    viewer: Viewer = ANONYMOUS
    connection_params: dict[str, Any] | None = None  # the connection_init payload
    expires_at: float | None = None  # the access token's exp
    watch: Watch | None = None
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    closing: bool = False

    def close(self, code: int, reason: str) -> None:
        """Closes the connection (once) from whatever task notices it must end."""
        if self.closing:
            return
        self.closing = True
        logger.info("closing a subscription connection: {} ({})", code, reason)
        self.spawn(self._close(code, reason))

    async def _close(self, code: int, reason: str) -> None:
        if self.websocket.application_state != WebSocketState.DISCONNECTED:
            with contextlib.suppress(RuntimeError, OSError):  # gone already
                await self.websocket.close(code=code, reason=reason)

    def spawn(self, work: Any) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def too_slow(self) -> None:
        self.close(TOO_SLOW, "Too slow: events were waiting; resume with after")

    def ended(self, event_type: str) -> None:
        self.close(FORBIDDEN, f"Forbidden: {event_type}")

    def finish(self) -> None:
        """The connection is over: no watch, no timers."""
        if self.watch is not None:
            self.hub.unwatch(self.watch)
            self.watch = None
        for task in list(self.tasks):
            task.cancel()
