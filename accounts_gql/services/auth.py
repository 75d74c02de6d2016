"""Password accounts and sessions (PRODUCT §6).

A session is a pair: a short-lived JWT access token and an opaque refresh token.
The refresh token is 256 random bits; the database keeps only its SHA-256 hash.
Every refresh rotates it (the old one is marked used, its successor joins the
same family); presenting a used or revoked token again means a copy was stolen,
so the whole family is revoked.

Login answers one error, `UNAUTHENTICATED` "Wrong username or password.", for an
unknown username and for a wrong password, and does the same work for both: an
unknown username is checked against a dummy argon2id hash made with the
configured parameters. Failed attempts are throttled per username (known or not)
and per client address; the attempt is recorded before the password is checked
and forgotten on success, so parallel guesses cannot outrun the count.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

import asyncpg

from accounts_gql.core.errors import DomainError, ErrorKind
from accounts_gql.core.passwords import (
    Passwords,
    hash_password,
    normalize,
    passwords_for,
    verify_password,
)
from accounts_gql.core.security import issue_access_token
from accounts_gql.core.settings import Settings
from accounts_gql.core.viewer import Viewer
from accounts_gql.db.pool import Executor, init_connection
from accounts_gql.repositories import credentials as repository
from accounts_gql.repositories import users as users_repository
from accounts_gql.repositories.users import UserRow
from accounts_gql.services.authorization import forbidden, require_signed_in

INVALID_CREDENTIALS = "Wrong username or password."
INVALID_REFRESH_TOKEN = "The refresh token is not valid or has expired; sign in again."
REUSED_REFRESH_TOKEN = (
    "The refresh token was already used: the session is revoked for safety; sign in again."
)
DEACTIVATED = "This account is deactivated."
# Anything longer is not a token we issued (ours are 43 characters).
_MAX_REFRESH_TOKEN_LENGTH = 256


@dataclass(frozen=True, slots=True)
class Session:
    """What a successful sign-up, login, refresh or password change hands out."""

    user_id: uuid.UUID
    access_token: str
    refresh_token: str
    expires_in: int
    # The user's row when the operation read it anyway (sign-up, login).
    user: UserRow | None = None


def new_refresh_token() -> tuple[str, bytes]:
    """An opaque refresh token and the hash the database keeps of it."""
    token = secrets.token_urlsafe(32)
    return token, refresh_token_hash(token)


def refresh_token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _session(
    settings: Settings,
    user_id: uuid.UUID,
    roles: Iterable[str],
    refresh_token: str,
    user: UserRow | None = None,
) -> Session:
    return Session(
        user_id=user_id,
        access_token=issue_access_token(settings, user_id, roles),
        refresh_token=refresh_token,
        expires_in=settings.access_token_ttl,
        user=user,
    )


def check_new_password(
    settings: Settings, password: str, field: str, username: str | None = None
) -> None:
    """The rules a new password follows (NIST SP 800-63B: length, no composition rules)."""
    length = len(normalize(password))
    if length < settings.password_min_length:
        raise DomainError(
            ErrorKind.VALIDATION,
            f"The password must be at least {settings.password_min_length} characters.",
            field,
        )
    if length > settings.password_max_length:
        raise DomainError(
            ErrorKind.VALIDATION,
            f"The password must be at most {settings.password_max_length} characters.",
            field,
        )
    if username and normalize(password).casefold() == username.casefold():
        raise DomainError(ErrorKind.VALIDATION, "The password must not be the username.", field)


async def _record_attempt(
    db: Executor, settings: Settings, username: str, client_ip: str | None
) -> None:
    await repository.record_login_attempt(
        db,
        username,
        client_ip,
        max_per_username=settings.login_max_failures_per_username,
        username_window=settings.login_username_window,
        max_per_client=settings.login_max_failures_per_client,
        client_window=settings.login_client_window,
    )


async def _upgrade_hash(
    db: Executor, passwords: Passwords, credentials: repository.LoginCredentials, password: str
) -> None:
    """Rehashes with the configured parameters when the stored hash used others."""
    if passwords.needs_rehash(credentials.password_hash):
        new_hash = await hash_password(passwords, password)
        await repository.upgrade_password_hash(
            db, credentials.user.id, credentials.password_hash, new_hash
        )


async def sign_up(
    db: Executor,
    settings: Settings,
    *,
    username: str,
    password: str,
    display_name: str | None = None,
) -> Session:
    """A new account with a password, signed in (refused when ALLOW_SIGNUP is off)."""
    if not settings.allow_signup:
        raise forbidden("Sign-up is switched off; ask an admin for an account.")
    check_new_password(settings, password, "password", username)
    password_hash = await hash_password(passwords_for(settings), password)
    token, token_hash = new_refresh_token()
    user, _ = await repository.sign_up(
        db, username, display_name, password_hash, token_hash, ttl=settings.refresh_token_ttl
    )
    return _session(settings, user.id, user.roles, token, user)


async def login(
    db: Executor, settings: Settings, *, username: str, password: str, client_ip: str | None
) -> Session:
    # LIMIT_REACHED before any password is checked, whether or not it is right.
    await _record_attempt(db, settings, username, client_ip)
    credentials = await repository.credentials_for_login(db, username)
    passwords = passwords_for(settings)
    stored = credentials.password_hash if credentials else passwords.dummy_hash
    matches = await verify_password(passwords, stored, password)
    if credentials is None or not matches:
        raise DomainError(ErrorKind.UNAUTHENTICATED, INVALID_CREDENTIALS)
    if credentials.user.status != "active":
        # Said only to whoever knows the password.
        raise forbidden(DEACTIVATED)
    token, token_hash = new_refresh_token()
    await repository.login_succeeded(
        db, credentials.user.id, username, token_hash, ttl=settings.refresh_token_ttl
    )
    await _upgrade_hash(db, passwords, credentials, password)
    user = credentials.user
    return _session(settings, user.id, user.roles, token, user)


async def refresh(db: Executor, settings: Settings, *, refresh_token: str) -> Session:
    """Rotates the refresh token; a new access token carries the user's current roles."""
    if not refresh_token or len(refresh_token) > _MAX_REFRESH_TOKEN_LENGTH:
        raise DomainError(ErrorKind.UNAUTHENTICATED, INVALID_REFRESH_TOKEN)
    token, token_hash = new_refresh_token()
    rotation = await repository.rotate_refresh_token(
        db, refresh_token_hash(refresh_token), token_hash, ttl=settings.refresh_token_ttl
    )
    if rotation.outcome == "reused":
        raise DomainError(ErrorKind.UNAUTHENTICATED, REUSED_REFRESH_TOKEN)
    if rotation.outcome == "inactive":
        raise DomainError(ErrorKind.UNAUTHENTICATED, DEACTIVATED)
    if rotation.outcome != "rotated" or rotation.user_id is None:
        raise DomainError(ErrorKind.UNAUTHENTICATED, INVALID_REFRESH_TOKEN)
    return _session(settings, rotation.user_id, rotation.roles, token)


async def logout(db: Executor, *, refresh_token: str) -> bool:
    """Ends the session the refresh token belongs to; whether a live one was ended."""
    if not refresh_token or len(refresh_token) > _MAX_REFRESH_TOKEN_LENGTH:
        return False
    revoked = await repository.revoke_refresh_token_family(db, refresh_token_hash(refresh_token))
    return revoked > 0


async def change_password(
    db: Executor,
    settings: Settings,
    viewer: Viewer,
    *,
    current_password: str,
    new_password: str,
    client_ip: str | None,
) -> Session:
    """A new password for the signed-in user: every other session is revoked, and the
    caller gets a new one. Guesses of the current password are throttled like logins."""
    user_id = require_signed_in(viewer)
    credentials = await repository.credentials_for_user(db, user_id)
    if credentials is None:
        raise DomainError(
            ErrorKind.UNAUTHENTICATED, "This account has no password to change.", "currentPassword"
        )
    username = credentials.user.username
    check_new_password(settings, new_password, "newPassword", username)
    await _record_attempt(db, settings, username, client_ip)
    passwords = passwords_for(settings)
    if not await verify_password(passwords, credentials.password_hash, current_password):
        raise DomainError(
            ErrorKind.UNAUTHENTICATED, "The current password is wrong.", "currentPassword"
        )
    if normalize(new_password) == normalize(current_password):
        raise DomainError(
            ErrorKind.VALIDATION,
            "The new password must differ from the current one.",
            "newPassword",
        )
    await repository.clear_login_attempts(db, username)
    new_hash = await hash_password(passwords, new_password)
    token, token_hash = new_refresh_token()
    await repository.change_password(
        db, user_id, new_hash, token_hash, ttl=settings.refresh_token_ttl, actor_id=user_id
    )
    user = credentials.user
    return _session(settings, user.id, user.roles, token)


async def create_admin(settings: Settings, dsn: str, username: str, password: str) -> UserRow:
    """`accounts-gql create-admin`: a new user with the admin role and a password.

    Refuses (USERNAME_TAKEN) when the username exists; records `user.created`
    with no actor (the system), like any other new user.
    """
    check_new_password(settings, password, "password", username)
    password_hash = await hash_password(passwords_for(settings), password)
    connection = await asyncpg.connect(dsn)
    try:
        await init_connection(connection, None)
        async with connection.transaction():
            user = await users_repository.create_user(
                connection, username, username, {}, ["admin"], actor_id=None
            )
            await repository.set_password(connection, user.id, password_hash, actor_id=None)
    finally:
        await connection.close()
    return user
