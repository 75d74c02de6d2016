"""The plans of the statements a call runs, as auto_explain reports them.

Our reads are PL/pgSQL, whose statements PostgreSQL never inlines into the
caller's, so EXPLAIN of the call shows a Function Scan only. auto_explain with
nested statements sends the plan of each statement the function runs, as a
notice in JSON, to the connection that called it; loading it takes a superuser.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import asyncpg


async def explain_nested(connection: asyncpg.Connection, *settings: str) -> None:
    """Has `connection` receive the plan of every statement it runs, nested ones
    included; `settings`: more of auto_explain's (`"log_analyze = on"`)."""
    more = "".join(f" SET auto_explain.{setting};" for setting in settings)
    await connection.execute(
        "LOAD 'auto_explain'; SET auto_explain.log_min_duration = 0;"
        " SET auto_explain.log_format = json; SET auto_explain.log_nested_statements = on;"
        " SET auto_explain.log_level = notice;" + more
    )


async def run_explained(
    connection: asyncpg.Connection, statement: str, *args: object
) -> tuple[list[asyncpg.Record], list[dict[str, Any]]]:
    """The rows of `statement` and the plans of the statements it ran, in the
    order they ended (the function's before the caller's Function Scan)."""
    notices: list[str] = []

    def listen(_: object, message: asyncpg.PostgresLogMessage) -> None:
        notices.append(message.message)

    connection.add_log_listener(listen)
    try:
        rows = await connection.fetch(statement, *args)
    finally:
        connection.remove_log_listener(listen)
    plans = [json.loads(n[n.index("{") :])["Plan"] for n in notices if "{" in n]
    return rows, plans


def inner_plans(plans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The plans of the statements inside the functions called."""
    return [plan for plan in plans if plan.get("Node Type") != "Function Scan"]


def nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """A plan's nodes, each before those below it."""
    yield plan
    for child in plan.get("Plans", []):
        yield from nodes(child)
