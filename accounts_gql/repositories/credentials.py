"""Passwords, login attempts and refresh tokens: calls of sql/0007_auth.sql."""

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
    """The outcome of presenting a refresh token (see accounts.rotate_refresh_token)."""

    outcome: str  # rotated | unknown | expired | reused | inactive
    user_id: uuid.UUID | None
    roles: list[str]
    token: RefreshTokenRow | None


@dataclass(frozen=True, slots=True)
class AttemptCounts:
    username_failures: int
    client_failures: int


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


async def record_login_attempt(
    db: Executor,
    username: str,
    client_ip: str | None,
    *,
    max_per_username: int,
    username_window: int,
    max_per_client: int,
    client_window: int,
) -> AttemptCounts:
    """Counts this attempt as a failure until cleared; LIMIT_REACHED when throttled."""
    async with domain_errors():
        record = await db.fetchrow(
            "SELECT * FROM accounts.record_login_attempt($1, $2, $3, $4, $5, $6)",
            username,
            client_ip,
            max_per_username,
            username_window,
            max_per_client,
            client_window,
        )
    assert record is not None
    return AttemptCounts(record["username_failures"], record["client_failures"])


async def clear_login_attempts(db: Executor, username: str) -> int:
    cleared: int = await db.fetchval("SELECT accounts.clear_login_attempts($1)", username)
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


async def rotate_refresh_token(
    db: Executor, token_hash: bytes, new_token_hash: bytes, *, ttl: int
) -> Rotation:
    async with domain_errors():
        record = await db.fetchrow(
            "SELECT * FROM accounts.rotate_refresh_token($1, $2, $3)",
            token_hash,
            new_token_hash,
            ttl,
        )
    assert record is not None
    token = None
    if record["outcome"] == "rotated":
        token = RefreshTokenRow(
            record["token_id"], record["family_id"], record["user_id"], record["expires_at"]
        )
    return Rotation(record["outcome"], record["user_id"], list(record["roles"] or []), token)


async def revoke_refresh_token_family(db: Executor, token_hash: bytes) -> int:
    revoked: int = await db.fetchval("SELECT accounts.revoke_refresh_token_family($1)", token_hash)
    return revoked


async def revoke_user_refresh_tokens(
    db: Executor, user_id: uuid.UUID, *, except_family: uuid.UUID | None
) -> int:
    revoked: int = await db.fetchval(
        "SELECT accounts.revoke_user_refresh_tokens($1, $2)", user_id, except_family
    )
    return revoked


async def sign_up(
    db: Executor,
    username: str,
    display_name: str | None,
    password_hash: str,
    token_hash: bytes,
    *,
    ttl: int,
) -> tuple[UserRow, RefreshTokenRow]:
    """A new user with a password and a first session, in one transaction."""
    async with domain_errors():
        record = await db.fetchrow(
            "SELECT * FROM accounts.sign_up($1, $2, $3, $4, $5)",
            username,
            display_name,
            password_hash,
            token_hash,
            ttl,
        )
    assert record is not None
    user = UserRow(*record[:9])
    token = RefreshTokenRow(
        record["token_id"], record["family_id"], record["id"], record["expires_at"]
    )
    return user, token


async def login_succeeded(
    db: Executor, user_id: uuid.UUID, username: str, token_hash: bytes, *, ttl: int
) -> RefreshTokenRow:
    async with domain_errors():
        record = await db.fetchrow(
            f"SELECT {_TOKEN_COLUMNS} FROM accounts.login_succeeded($1, $2, $3, $4)",
            user_id,
            username,
            token_hash,
            ttl,
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
    actor_id: uuid.UUID | None,
) -> RefreshTokenRow:
    """New hash, a new session, every other session revoked; one transaction."""
    async with domain_errors():
        record = await db.fetchrow(
            f"SELECT {_TOKEN_COLUMNS} FROM accounts.change_password($1, $2, $3, $4, $5)",
            user_id,
            password_hash,
            token_hash,
            ttl,
            actor_id,
        )
    assert record is not None
    return _token(record)
