"""Passwords, throttled attempts and refresh tokens: calls of sql/0007 and 0012."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from accounts_gql.db.pool import Executor
from accounts_gql.repositories.errors import domain_errors
from accounts_gql.repositories.users import UserRow

_USER_COLUMNS = (
    "id, username, display_name, profile, status, roles, version, created_at, updated_at"
)
_TOKEN_COLUMNS = "id, family_id, user_id, expires_at"


@dataclass(frozen=True, slots=True)
class LoginCredentials:
    user: UserRow
    password_hash: str


@dataclass(frozen=True, slots=True)
class RefreshTokenRow:
    id: uuid.UUID
    family_id: uuid.UUID
    user_id: uuid.UUID
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Rotation:
    """The outcome of presenting a refresh token (see accounts.refresh_session)."""

    outcome: str  # rotated | grace | unknown | expired | ended | reused | inactive
    user_id: uuid.UUID | None
    roles: list[str]
    session_id: uuid.UUID | None
    # Why the session ended (ended, reused, inactive).
    end_reason: str | None
    # grace: the successor sealed for the presenter (see services/auth.py).
    successor_seal: bytes | None


@dataclass(frozen=True, slots=True)
class AttemptCounts:
    pair_failures: int
    key_failures: int
    client_failures: int


@dataclass(frozen=True, slots=True)
class Throttle:
    """The limits of one scope of accounts.throttle_attempt (sql/0012)."""

    scope: str  # login | reset
    max_per_pair: int
    max_per_client: int
    slowdown_after: int
    slowdown_max: int
    key_window: int
    client_window: int
    message: str


@dataclass(frozen=True, slots=True)
class Caller:
    """What a caller told about itself, kept with the sessions it opens."""

    client_address: str | None = None
    user_agent: str | None = None


def _token(record: asyncpg.Record) -> RefreshTokenRow:
    return RefreshTokenRow(
        record["id"], record["family_id"], record["user_id"], record["expires_at"]
    )


async def credentials_for_login(db: Executor, username: str) -> LoginCredentials | None:
    record = await db.fetchrow(
        f"SELECT {_USER_COLUMNS}, password_hash FROM accounts.credentials_for_login($1)",
        username,
    )
    if record is None:
        return None
    return LoginCredentials(UserRow(*record[:-1]), record["password_hash"])


async def credentials_for_user(db: Executor, user_id: uuid.UUID) -> LoginCredentials | None:
    record = await db.fetchrow(
        f"SELECT {_USER_COLUMNS}, password_hash FROM accounts.credentials_for_user($1)", user_id
    )
    if record is None:
        return None
    return LoginCredentials(UserRow(*record[:-1]), record["password_hash"])


async def set_password(
    db: Executor, user_id: uuid.UUID, password_hash: str, *, actor_id: uuid.UUID | None
) -> None:
    async with domain_errors():
        await db.execute(
            "SELECT FROM accounts.set_password($1, $2, $3)", user_id, password_hash, actor_id
        )


async def upgrade_password_hash(
    db: Executor, user_id: uuid.UUID, old_hash: str, new_hash: str
) -> bool:
    async with domain_errors():
        upgraded: bool = await db.fetchval(
            "SELECT accounts.upgrade_password_hash($1, $2, $3)", user_id, old_hash, new_hash
        )
    return upgraded


async def throttle_attempt(
    db: Executor, throttle: Throttle, key: str, client_address: str | None
) -> AttemptCounts:
    """Counts this attempt until cleared; THROTTLED (with retry_after) when refused."""
    async with domain_errors():
        record = await db.fetchrow(
            "SELECT * FROM accounts.throttle_attempt($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            throttle.scope,
            key,
            client_address,
            throttle.max_per_pair,
            throttle.max_per_client,
            throttle.slowdown_after,
            throttle.slowdown_max,
            throttle.key_window,
            throttle.client_window,
            throttle.message,
        )
    assert record is not None
    return AttemptCounts(record["pair_failures"], record["key_failures"], record["client_failures"])


async def clear_attempts(db: Executor, scope: str, key: str, client_address: str | None) -> int:
    cleared: int = await db.fetchval(
        "SELECT accounts.clear_attempts($1, $2, $3)", scope, key, client_address
    )
    return cleared


async def issue_refresh_token(
    db: Executor,
    user_id: uuid.UUID,
    token_hash: bytes,
    *,
    family_id: uuid.UUID | None,
    ttl: int,
) -> RefreshTokenRow:
    async with domain_errors():
        record = await db.fetchrow(
            f"SELECT {_TOKEN_COLUMNS} FROM accounts.issue_refresh_token($1, $2, $3, $4)",
            user_id,
            token_hash,
            family_id,
            ttl,
        )
    assert record is not None
    return _token(record)


async def refresh_session(
    db: Executor,
    token_hash: bytes,
    new_token_hash: bytes,
    successor_seal: bytes,
    *,
    ttl: int,
    grace: int,
    client_address: str | None,
) -> Rotation:
    async with domain_errors():
        record = await db.fetchrow(
            "SELECT * FROM accounts.refresh_session($1, $2, $3, $4, $5, $6)",
            token_hash,
            new_token_hash,
            successor_seal,
            ttl,
            grace,
            client_address,
        )
    assert record is not None
    return Rotation(
        record["outcome"],
        record["user_id"],
        list(record["roles"] or []),
        record["session_id"],
        record["end_reason"],
        record["successor_seal"],
    )


async def logout(db: Executor, token_hash: bytes) -> bool:
    """Ends the session of the token; whether a live one ended."""
    ended: uuid.UUID | None = await db.fetchval("SELECT (accounts.logout($1)).id", token_hash)
    return ended is not None


async def sign_up(
    db: Executor,
    username: str,
    display_name: str | None,
    password_hash: str,
    token_hash: bytes,
    *,
    ttl: int,
    caller: Caller,
) -> tuple[UserRow, RefreshTokenRow]:
    """A new user with a password and a first session, in one transaction."""
    async with domain_errors():
        record = await db.fetchrow(
            "SELECT * FROM accounts.sign_up_session($1, $2, $3, $4, $5, $6, $7)",
            username,
            display_name,
            password_hash,
            token_hash,
            ttl,
            caller.user_agent,
            caller.client_address,
        )
    assert record is not None
    user = UserRow(*record[:9])
    token = RefreshTokenRow(
        record["token_id"], record["family_id"], record["id"], record["expires_at"]
    )
    return user, token


async def login_succeeded(
    db: Executor,
    user_id: uuid.UUID,
    username: str,
    token_hash: bytes,
    *,
    ttl: int,
    caller: Caller,
) -> RefreshTokenRow:
    async with domain_errors():
        record = await db.fetchrow(
            f"SELECT {_TOKEN_COLUMNS} FROM accounts.login_session($1, $2, $3, $4, $5, $6)",
            user_id,
            username,
            token_hash,
            ttl,
            caller.user_agent,
            caller.client_address,
        )
    assert record is not None
    return _token(record)


async def change_password(
    db: Executor,
    user_id: uuid.UUID,
    password_hash: str,
    token_hash: bytes,
    *,
    ttl: int,
    caller: Caller,
    actor_id: uuid.UUID | None,
) -> RefreshTokenRow:
    """New hash, a new session, every other session ended; one transaction."""
    async with domain_errors():
        record = await db.fetchrow(
            f"SELECT {_TOKEN_COLUMNS} FROM accounts.change_password_session"
            "($1, $2, $3, $4, $5, $6, $7)",
            user_id,
            password_hash,
            token_hash,
            ttl,
            caller.user_agent,
            caller.client_address,
            actor_id,
        )
    assert record is not None
    return _token(record)
