"""An embedded PostgreSQL for the default run, when no DATABASE_URL is set.

pgserver ships the server binaries in its wheel and keeps the cluster in a data
folder of our choosing, so a new machine needs nothing installed beforehand.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from loguru import logger


class EmbeddedUnavailable(Exception):
    """No DATABASE_URL and no embedded PostgreSQL installed (e.g. in the image)."""


class EmbeddedPostgres:
    """A PostgreSQL server in `data_dir`, started on enter and stopped on exit."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.resolve() / "postgres"
        self._server: Any = None

    def start(self) -> str:
        try:
            from pgserver import get_server  # type: ignore[attr-defined]
        except ImportError as missing:
            raise EmbeddedUnavailable(
                "DATABASE_URL is not set and the embedded PostgreSQL is not installed:"
                " set DATABASE_URL, or install the extra (pip install 'accounts-gql[embedded]')"
            ) from missing

        self.data_dir.mkdir(parents=True, exist_ok=True)
        # 'stop' leaves the data in place for the next run.
        self._server = get_server(self.data_dir, cleanup_mode="stop")
        logger.info("embedded PostgreSQL running in {}", self.data_dir)
        return str(self._server.get_uri())

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None
            logger.info("embedded PostgreSQL stopped")

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
