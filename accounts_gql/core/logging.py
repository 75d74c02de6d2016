"""Logging through loguru: stderr and a rotated file, JSON lines in production.

Every line is rendered by `line_formatter`: tracebacks without local variables,
and every part of the line through the Redactor (core/redaction.py)."""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING

import orjson
from loguru import logger

from accounts_gql.core.redaction import Redactor
from accounts_gql.core.settings import Settings

if TYPE_CHECKING:
    from loguru import Record

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


_TEXT = (
    "<green>{time:YYYY-MM-DD HH:mm:ss.SSS}</green> | <level>{level: <7}</level> | "
    "{extra[safe_request_id]} | <cyan>{name}</cyan> - <level>{extra[safe_message]}</level>\n"
    "{extra[safe_exception]}"
)


def _exception_text(record: Record) -> str:
    """The traceback without local variables (loguru's `diagnose` would print
    them, connection parameters and settings included)."""
    exception = record["exception"]
    if exception is None:
        return ""
    return "".join(traceback.format_exception(exception.type, exception.value, exception.traceback))


def line_formatter(redact: Redactor, as_json: bool) -> Callable[[Record], str]:
    """A loguru `format` function: the line is rendered here, secrets redacted,
    and the template only places it (so no value is read as markup or braces)."""

    def render(record: Record) -> str:
        extra = record["extra"]
        message = redact(record["message"])
        exception = redact(_exception_text(record))
        rid = redact(str(extra.get("request_id", "-")))
        if as_json:
            line = {
                "time": record["time"].isoformat(),
                "level": record["level"].name,
                "request_id": rid,
                "name": record["name"],
                "function": record["function"],
                "line": record["line"],
                "message": message,
                "exception": exception or None,
            }
            extra["safe_json"] = orjson.dumps(line).decode()
            return "{extra[safe_json]}\n"
        extra["safe_request_id"] = rid
        extra["safe_message"] = message
        extra["safe_exception"] = exception
        return _TEXT

    return render


def configure_logging(settings: Settings) -> None:
    redact = Redactor.from_settings(settings)
    render = line_formatter(redact, as_json=settings.is_production)
    logger.remove()
    logger.configure(patcher=_add_request_id)  # type: ignore[arg-type]
    # backtrace/diagnose off: loguru would add frames and their local variables.
    logger.add(
        sys.stderr,
        level=settings.log_level,
        format=render,
        backtrace=False,
        diagnose=False,
    )
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    logger.add(
        settings.log_dir / "accounts.log",
        level=settings.log_level,
        format=render,
        backtrace=False,
        diagnose=False,
        colorize=False,
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
