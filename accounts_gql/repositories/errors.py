"""Turns the typed errors raised by stored functions into DomainErrors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from accounts_gql.core.errors import domain_error_from_postgres


@asynccontextmanager
async def domain_errors() -> AsyncIterator[None]:
    """Re-raises a stored function's typed error as the DomainError it stands for."""
    try:
        yield
    except asyncpg.PostgresError as error:
        domain_error = domain_error_from_postgres(error)
        if domain_error is None:
            raise
        raise domain_error from error
