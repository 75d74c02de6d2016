"""Logging through loguru: stderr and a rotated file, JSON lines in production."""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar

from loguru import logger

from accounts_gql.core.settings import Settings

# The id of the request being served, added to every line logged while serving it.
request_id: ContextVar[str] = ContextVar("request_id", default="-")


def _add_request_id(record: dict) -> None:  # type: ignore[type-arg]
    record["extra"].setdefault("request_id", request_id.get())


class _InterceptHandler(logging.Handler):
    """Sends the standard library's records (uvicorn, asyncpg) to loguru."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        logger.opt(depth=6, exception=record.exc_info).log(level, record.getMessage())


def configure_logging(settings: Settings) -> None:
    fmt = (
        "<green>{time:YYYY-MM-DD HH:mm:ss.SSS}</green> | <level>{level: <7}</level> | "
        "{extra[request_id]} | <cyan>{name}</cyan> - <level>{message}</level>"
    )
    serialize = settings.is_production
    logger.remove()
    logger.configure(patcher=_add_request_id)  # type: ignore[arg-type]
    logger.add(sys.stderr, level=settings.log_level, format=fmt, serialize=serialize)
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    logger.add(
        settings.log_dir / "accounts.log",
        level=settings.log_level,
        format=fmt,
        serialize=serialize,
        rotation="20 MB",
        retention=10,
        enqueue=True,
    )
    # Records below the configured level are dropped before they cost anything.
    logging.basicConfig(handlers=[_InterceptHandler()], level=settings.log_level, force=True)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers = [_InterceptHandler()]
        logging.getLogger(name).setLevel(settings.log_level)
        logging.getLogger(name).propagate = False
