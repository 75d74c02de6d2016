"""Password accounts and sessions (PRODUCT §6).

A session is a pair: a short-lived JWT access token and an opaque refresh token.
The refresh token is 256 random bits; the database keeps only its SHA-256 hash.
Every refresh rotates it (the old one is marked used, its successor joins the
same session). A second use of a just-rotated token within
REFRESH_GRACE_SECONDS answers the same successor (two tabs refreshing at once);
later, it means a copy was stolen, so the session ends.

The successor is kept for the grace window only sealed: XOR-ed with a pad that
is a hash of the presented token (`successor_seal`). The database holds the
presented token's SHA-256, not the token, so neither it nor a copy of it can
unseal the successor; whoever presents the token can.

Login answers one error, `UNAUTHENTICATED` "Wrong username or password.", for an
unknown username and for a wrong password, and does the same work for both: an
unknown username is checked against a dummy argon2id hash made with the
configured parameters. Failed attempts are throttled (sql/0012, README "Login
throttling") per username and client address, per address, and per username
across addresses only for addresses that have failed on it, so that the owner
signs in from a clean address whoever hammers the account. The attempt is
recorded before the password is checked and forgotten on success, so parallel
guesses cannot outrun the count.
"""

from __future__ import annotations

import base64
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
from accounts_gql.repositories.credentials import Caller as Caller  # re-exported for the API
from accounts_gql.repositories.credentials import Throttle
from accounts_gql.repositories.users import UserRow
from accounts_gql.services.authorization import forbidden, require_signed_in

INVALID_CREDENTIALS = "Wrong username or password."
INVALID_REFRESH_TOKEN = "The refresh token is not valid or has expired; sign in again."
REUSED_REFRESH_TOKEN = (
    "The refresh token was already used: the session is revoked for safety; sign in again."
)
DEACTIVATED = "This account is deactivated."
TOO_MANY_LOGINS = "Too many failed logins; try again later."
# Why a session ended (sessions.end_reason) -> what its refresh token is told.
SESSION_ENDED = {
    "logged_out": "This session was logged out; sign in again.",
    "revoked": "This session was revoked; sign in again.",
    "reuse_detected": (
        "This session was revoked because one of its refresh tokens was used twice; sign in again."
    ),
    "password_changed": "This session ended when the password was changed; sign in again.",
    "password_reset": "This session ended when the password was reset; sign in again.",
    "deactivated": DEACTIVATED,
}
# A caller that told nothing about itself (the command line, tests).
NO_CALLER = Caller()
_SEAL_CONTEXT = b"accounts-gql refresh successor seal\x00"
# Anything longer is not a token we issued (ours are 43 characters).
_MAX_REFRESH_TOKEN_LENGTH = 256


@dataclass(frozen=True, slots=True)
class Session:
    """What a successful sign-up, login, refresh or password change hands out."""

    user_id: uuid.UUID
    access_token: str
    refresh_token: str
    expires_in: int
    session_id: uuid.UUID
    # The user's row when the operation read it anyway (sign-up, login).
    user: UserRow | None = None


def _token_text(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def new_refresh_token() -> tuple[str, bytes]:
    """An opaque refresh token (256 random bits) and the hash the database keeps."""
    token = _token_text(secrets.token_bytes(32))
    return token, refresh_token_hash(token)


def refresh_token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _seal_pad(presented: str) -> bytes:
    # Another hash of the token than the one stored: the stored one cannot unseal.
    return hashlib.sha256(_SEAL_CONTEXT + presented.encode()).digest()


def seal_successor(presented: str, successor: str) -> bytes:
    raw = base64.urlsafe_b64decode(successor + "=")
    return bytes(a ^ b for a, b in zip(raw, _seal_pad(presented), strict=True))


def unseal_successor(presented: str, seal: bytes) -> str:
    return _token_text(bytes(a ^ b for a, b in zip(seal, _seal_pad(presented), strict=True)))


def throttle(settings: Settings, scope: str, message: str) -> Throttle:
    """The failed-attempt policy of the login settings, in a scope of its own
    (recovery requests count apart from logins, under the same numbers)."""
    return Throttle(
        scope=scope,
        max_per_pair=settings.login_max_failures_per_pair,
        max_per_client=settings.login_max_failures_per_client,
        slowdown_after=settings.login_slowdown_after,
        slowdown_max=settings.login_slowdown_max,
        key_window=settings.login_username_window,
        client_window=settings.login_client_window,
        message=message,
    )


def _session(
    settings: Settings,
    user_id: uuid.UUID,
    roles: Iterable[str],
    refresh_token: str,
    session_id: uuid.UUID,
    user: UserRow | None = None,
) -> Session:
    return Session(
        user_id=user_id,
        access_token=issue_access_token(settings, user_id, roles, session_id=session_id),
        refresh_token=refresh_token,
        expires_in=settings.access_token_ttl,
        session_id=session_id,
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
    db: Executor, settings: Settings, username: str, client_address: str | None
) -> None:
    await repository.throttle_attempt(
        db, throttle(settings, "login", TOO_MANY_LOGINS), username, client_address
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
    caller: Caller = NO_CALLER,
) -> Session:
    """A new account with a password, signed in (refused when ALLOW_SIGNUP is off)."""
    if not settings.allow_signup:
        raise forbidden("Sign-up is switched off; ask an admin for an account.")
    check_new_password(settings, password, "password", username)
    password_hash = await hash_password(passwords_for(settings), password)
    token, token_hash = new_refresh_token()
    user, issued = await repository.sign_up(
        db,
        username,
        display_name,
        password_hash,
        token_hash,
        ttl=settings.refresh_token_ttl,
        caller=caller,
    )
    return _session(settings, user.id, user.roles, token, issued.family_id, user)


async def login(
    db: Executor, settings: Settings, *, username: str, password: str, caller: Caller
) -> Session:
    # THROTTLED before any password is checked, whether or not it is right.
    await _record_attempt(db, settings, username, caller.client_address)
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
    issued = await repository.login_succeeded(
        db,
        credentials.user.id,
        username,
        token_hash,
        ttl=settings.refresh_token_ttl,
        caller=caller,
    )
    await _upgrade_hash(db, passwords, credentials, password)
    user = credentials.user
    return _session(settings, user.id, user.roles, token, issued.family_id, user)


async def refresh(
    db: Executor, settings: Settings, *, refresh_token: str, caller: Caller = NO_CALLER
) -> Session:
    """Rotates the refresh token; a new access token carries the user's current roles."""
    if not refresh_token or len(refresh_token) > _MAX_REFRESH_TOKEN_LENGTH:
        raise DomainError(ErrorKind.UNAUTHENTICATED, INVALID_REFRESH_TOKEN)
    token, token_hash = new_refresh_token()
    rotation = await repository.refresh_session(
        db,
        refresh_token_hash(refresh_token),
        token_hash,
        seal_successor(refresh_token, token),
        ttl=settings.refresh_token_ttl,
        grace=settings.refresh_grace_seconds,
        client_address=caller.client_address,
    )
    if rotation.outcome == "reused":
        raise DomainError(
            ErrorKind.SESSION_REVOKED, REUSED_REFRESH_TOKEN, detail={"reason": "reuse_detected"}
        )
    if rotation.outcome in ("ended", "inactive"):
        reason = rotation.end_reason or "revoked"
        message = SESSION_ENDED.get(reason, SESSION_ENDED["revoked"])
        raise DomainError(ErrorKind.SESSION_REVOKED, message, detail={"reason": reason})
    if rotation.outcome == "grace" and rotation.successor_seal is not None:
        token = unseal_successor(refresh_token, rotation.successor_seal)
    elif rotation.outcome != "rotated":
        raise DomainError(ErrorKind.UNAUTHENTICATED, INVALID_REFRESH_TOKEN)
    assert rotation.user_id is not None
    assert rotation.session_id is not None
    return _session(settings, rotation.user_id, rotation.roles, token, rotation.session_id)


async def logout(db: Executor, *, refresh_token: str) -> bool:
    """Ends the session the refresh token belongs to; whether a live one was ended."""
    if not refresh_token or len(refresh_token) > _MAX_REFRESH_TOKEN_LENGTH:
        return False
    return await repository.logout(db, refresh_token_hash(refresh_token))


async def change_password(
    db: Executor,
    settings: Settings,
    viewer: Viewer,
    *,
    current_password: str,
    new_password: str,
    caller: Caller,
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
    await _record_attempt(db, settings, username, caller.client_address)
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
    new_hash = await hash_password(passwords, new_password)
    token, token_hash = new_refresh_token()
    issued = await repository.change_password(
        db,
        user_id,
        new_hash,
        token_hash,
        ttl=settings.refresh_token_ttl,
        caller=caller,
        actor_id=user_id,
    )
    user = credentials.user
    return _session(settings, user.id, user.roles, token, issued.family_id)


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
