"""An embedded PostgreSQL for the default run, when no DATABASE_URL is set.

pgserver ships the server binaries in its wheel and keeps the cluster in a data
folder of our choosing, so a new machine needs nothing installed beforehand.
The cluster gets the same two roles as a real deployment (db/roles.py): the
database `accounts` belongs to `accounts_owner`, which migrates, and the service
connects as `accounts_service`, which may only execute the functions.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from pathlib import Path
from typing import Any

import asyncpg
from loguru import logger

from accounts_gql.db.roles import DatabaseRoles

DATABASE = "accounts"
OWNER_ROLE = "accounts_owner"
SERVICE_ROLE = "accounts_service"


class _Quiet(logging.Filter):
    """pgserver tells of every command it runs (initdb's whole output on a first
    start) at INFO: that is detail for DEBUG. Its warnings and errors stay."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.INFO:
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return True


logging.getLogger("pgserver").addFilter(_Quiet())


class EmbeddedUnavailable(Exception):
    """No DATABASE_URL and no embedded PostgreSQL installed (e.g. in the image)."""


class EmbeddedPostgres:
    """A PostgreSQL server in `data_dir`, started on enter and stopped on exit."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.resolve() / "postgres"
        self._server: Any = None

    def start(self) -> DatabaseRoles:
        try:
            with warnings.catch_warnings():
                # Where XDG_RUNTIME_DIR is unset (containers, CI), platformdirs
                # warns as pgserver picks its lock folder; it falls back to /tmp.
                warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")
                from pgserver import get_server  # type: ignore[attr-defined]
        except ImportError as missing:
            raise EmbeddedUnavailable(
                "DATABASE_URL is not set and the embedded PostgreSQL is not installed:"
                " set DATABASE_URL, or install the extra (pip install 'accounts-gql[embedded]')"
            ) from missing

        first = not (self.data_dir / "PG_VERSION").exists()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if first:
            logger.info("creating the embedded PostgreSQL in {} (once)", self.data_dir)
        # 'stop' leaves the data in place for the next run.
        self._server = get_server(self.data_dir, cleanup_mode="stop")
        info = self._server.get_postmaster_info()
        asyncio.run(_create_roles(info.get_uri(user="postgres", database="postgres")))
        logger.info("embedded PostgreSQL running in {}", self.data_dir)
        return DatabaseRoles(
            service_url=info.get_uri(user=SERVICE_ROLE, database=DATABASE),
            owner_url=info.get_uri(user=OWNER_ROLE, database=DATABASE),
        )

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None
            logger.info("embedded PostgreSQL stopped")

    def __enter__(self) -> DatabaseRoles:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


async def _create_roles(superuser_url: str) -> None:
    """The owner, the service role and the owner's database, where missing.
    The cluster trusts local connections, so the roles need no password."""
    connection = await asyncpg.connect(superuser_url)
    try:
        for role in (OWNER_ROLE, SERVICE_ROLE):
            if not await connection.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role):
                await connection.execute(f"CREATE ROLE {role} LOGIN")
        if not await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DATABASE):
            await connection.execute(f"CREATE DATABASE {DATABASE} OWNER {OWNER_ROLE}")
    finally:
        await connection.close()
