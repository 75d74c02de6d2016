"""A TCP proxy the tests control, to put faults between the service and a real server.

`TcpProxy` listens on 127.0.0.1 (a free port) and forwards each connection to
its target. It can

- `cut()`: close every connection and refuse new ones (the listening socket is
  closed: a connect is refused), as when a server or its host goes away;
- `stall()`: keep every connection open and accept new ones, but forward
  nothing (what arrives is held), as when a server hangs or a network drops
  packets without resetting anything;
- `resume()`: forward again (after a stall, what was held goes on first).

The fixtures `pg_proxy` and `amqp_proxy` put one in front of the local
PostgreSQL and RabbitMQ for one test; `proxied_url` rewrites a URL to go
through a proxy.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import pytest

PG_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
AMQP_URL = os.environ.get("TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
_CHUNK = 65536


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.host = "127.0.0.1"
        self.port = 0
        self._server: asyncio.Server | None = None
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._pipes: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self.accepted = 0  # connections accepted since start

    @property
    def state(self) -> str:
        if self._server is None:
            return "cut"
        return "passing" if self._flowing.is_set() else "stalled"

    async def start(self) -> TcpProxy:
        await self._listen()
        return self

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(
            self._accept, self.host, self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def _accept(
        self, client_reader: asyncio.StreamReader, client: asyncio.StreamWriter
    ) -> None:
        self.accepted += 1
        self._writers.add(client)
        try:
            server_reader, server = await asyncio.open_connection(
                self.target_host, self.target_port
            )
        except OSError:
            self._writers.discard(client)
            client.close()
            return
        self._writers.add(server)
        pipes = {
            asyncio.create_task(self._pipe(client_reader, server)),
            asyncio.create_task(self._pipe(server_reader, client)),
        }
        self._pipes |= pipes
        try:
            # Either side closing ends the connection on both.
            await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in pipes:
                task.cancel()
            await asyncio.gather(*pipes, return_exceptions=True)
            self._pipes -= pipes
            for writer in (client, server):
                self._writers.discard(writer)
                writer.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while True:
                data = await reader.read(_CHUNK)
                if not data:
                    return
                await self._flowing.wait()  # a stall holds what arrived
                writer.write(data)
                await writer.drain()

    async def cut(self) -> None:
        """Closes every connection and refuses new ones until `resume`."""
        self._flowing.set()
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            transport = writer.transport
            transport.abort()  # a reset, as when the peer's host is gone
        self._writers.clear()
        for task in list(self._pipes):
            task.cancel()
        await asyncio.sleep(0)

    async def stall(self) -> None:
        """Holds every connection (and new ones) open, forwarding nothing."""
        if self._server is None:
            await self._listen()
        self._flowing.clear()

    async def resume(self) -> None:
        """Passes traffic again."""
        if self._server is None:
            await self._listen()
        self._flowing.set()

    async def close(self) -> None:
        await self.cut()


def proxied_url(url: str, proxy: TcpProxy) -> str:
    """`url` with its host and port replaced by the proxy's (user, password, path kept)."""
    parts = urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = f"{userinfo}@" if userinfo else ""
    return urlunsplit(parts._replace(netloc=f"{netloc}{proxy.host}:{proxy.port}"))


def _target(url: str, default_port: int) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or default_port


@pytest.fixture
async def pg_proxy() -> AsyncIterator[TcpProxy]:
    """A proxy in front of the test PostgreSQL, for one test."""
    proxy = await TcpProxy(*_target(PG_URL, 5432)).start()
    yield proxy
    await proxy.close()


@pytest.fixture
async def amqp_proxy() -> AsyncIterator[TcpProxy]:
    """A proxy in front of the test RabbitMQ, for one test."""
    proxy = await TcpProxy(*_target(AMQP_URL, 5672)).start()
    yield proxy
    await proxy.close()
