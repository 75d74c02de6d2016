"""What loguru emitted while a test ran (`log_lines`), to assert on log lines."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from loguru import logger


@dataclass
class LogLines:
    """Every record loguru emitted while the test ran."""

    records: list[dict[str, Any]] = field(default_factory=list)

    def sink(self, message: Any) -> None:
        self.records.append(message.record)

    def matching(self, text: str, level: str | None = None) -> list[str]:
        """Messages containing `text` (of `level` and above when given)."""
        least = logger.level(level).no if level else 0
        return [
            r["message"] for r in self.records if text in r["message"] and r["level"].no >= least
        ]

    def tracebacks(self) -> list[str]:
        return [r["message"] for r in self.records if r["exception"] is not None]


@pytest.fixture
def log_lines() -> Iterator[LogLines]:
    lines = LogLines()
    sink_id = logger.add(lines.sink, level="DEBUG", format="{message}")
    yield lines
    logger.remove(sink_id)
