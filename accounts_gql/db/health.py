"""Whether the database answers: which errors mean it is away, one log line when
it goes and one when it is back, and the readiness probe (docs/operations.md).

An outage is an operational state, not a bug per request: requests that meet it
answer `SERVICE_UNAVAILABLE` and log nothing each; this module logs the change
of state once, then probes the database in the background until it answers,
and logs that once. Requests keep trying the database meanwhile (no circuit
breaker), so the first one after the outage succeeds.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import asyncpg
from loguru import logger

from accounts_gql.core.settings import Settings

# Errors that say the database is away, hung or overloaded, not that a request
# is wrong: a lost or refused connection, a timeout (the server's statement
# timeout, the client's command timeout, a pool acquire), a server shutting down
# or refusing connections, or one that lost its primary role (failover).
UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,  # refused, reset, unreachable (ConnectionError is one)
    TimeoutError,
    asyncpg.PostgresConnectionError,  # class 08
    asyncpg.QueryCanceledError,  # statement_timeout
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.ReadOnlySQLTransactionError,
)
# asyncpg's InterfaceError also means a programming error; only these messages
# are a connection that went away under a statement.
_GONE_MESSAGES = ("connection is closed", "connection was closed", "pool is closing")

PROBE_INTERVAL = 0.25  # seconds between probes while the database is away


def unavailable_cause(error: BaseException | None) -> BaseException | None:
    """The error in `error`'s chain (itself, its cause, …) that means the
    database cannot serve now, if any."""
    seen = 0
    while error is not None and seen < 8:
        if isinstance(error, UNAVAILABLE_ERRORS):
            return error
        if isinstance(error, asyncpg.InterfaceError) and any(
            text in str(error) for text in _GONE_MESSAGES
        ):
            return error
        error = error.__cause__ or error.__context__
        seen += 1
    return None


def is_unavailable(error: BaseException | None) -> bool:
    return unavailable_cause(error) is not None


def describe(error: BaseException) -> str:
    """A short, secret-free description: the error's class, and PostgreSQL's
    SQLSTATE when there is one (messages may quote values)."""
    sqlstate = getattr(error, "sqlstate", None)
    return f"{type(error).__name__} (SQLSTATE {sqlstate})" if sqlstate else type(error).__name__


class DatabaseHealth:
    """The service's view of its database, shared by requests and /readyz.

    Probes use a connection of their own (not the pool's): a full pool under
    load is not an outage, and a stalled probe must not hold a pool connection.
    """

    def __init__(self, dsn: str, settings: Settings, timeout: float = 0.5) -> None:
        self.dsn = dsn
        self.settings = settings
        self.timeout = timeout  # seconds a probe may take
        self._connection: asyncpg.Connection | None = None
        self._probe: asyncio.Task[None] | None = None
        self._watch: asyncio.Task[None] | None = None
        self.down_since: float | None = None  # time.monotonic() of the first failure
        self.outages = 0

    @property
    def available(self) -> bool:
        return self.down_since is None

    def failed(self, error: BaseException) -> None:
        """A request met `error` (an unavailable database): log once, then watch."""
        if self.down_since is not None:
            return
        error = unavailable_cause(error) or error
        self.down_since = time.monotonic()
        self.outages += 1
        logger.warning(
            "database unavailable ({}): requests answer SERVICE_UNAVAILABLE until it is back",
            describe(error),
        )
        if self._watch is None or self._watch.done():
            self._watch = asyncio.create_task(self._watch_until_back(), name="database-watch")

    async def check(self) -> str | None:
        """None when the database answers within `timeout`, else why not.

        Never takes longer than `timeout` whatever the database does: a probe
        still running is shared by later checks and left to finish by itself.
        """
        probe = self._probe
        if probe is None or probe.done():
            probe = self._probe = asyncio.create_task(self._select_one(), name="database-probe")
            probe.add_done_callback(_retrieve)
        done, _ = await asyncio.wait({probe}, timeout=self.timeout)
        if not done:
            error: BaseException = TimeoutError()
        else:
            failure = None if probe.cancelled() else probe.exception()
            if failure is None:
                self._recovered()
                return None
            error = failure
        self.failed(error)
        return describe(error)

    async def close(self) -> None:
        for task in (self._watch, self._probe):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.terminate()

    async def _select_one(self) -> None:
        try:
            if self._connection is None or self._connection.is_closed():
                self._connection = await asyncpg.connect(
                    self.dsn,
                    timeout=self.settings.db_acquire_timeout,
                    command_timeout=self.settings.db_command_timeout,
                    server_settings=self.settings.db_server_settings("accounts-gql-health"),
                )
            await self._connection.fetchval("SELECT 1")
        except BaseException:
            connection, self._connection = self._connection, None
            if connection is not None:
                connection.terminate()
            raise

    async def _watch_until_back(self) -> None:
        while self.down_since is not None:
            if await self.check() is None:
                return
            await asyncio.sleep(PROBE_INTERVAL)

    def _recovered(self) -> None:
        if self.down_since is None:
            return
        seconds = time.monotonic() - self.down_since
        self.down_since = None
        logger.info("database available again after {:.1f} s", seconds)


def _retrieve(task: asyncio.Task[None]) -> None:
    """Marks a probe's failure as seen (it is reported by `check`)."""
    if not task.cancelled():
        task.exception()
