"""Password recovery by code (PRODUCT §6; issue 17, 2).

`requestPasswordReset` answers the same, in the same time, whether or not the
login (a username or a verified email) names an account: the one stored
function call does the lookup, and sends a code (`user.password_reset_requested`,
to the account's verified email) only when there is one. Requests are throttled
per login and per address with the login throttle's rule (scope 'reset'), which
refuses alike for logins that exist and logins that do not; sends per account
are rate-limited too, silently. `resetPassword` with the code sets the new
password (argon2id, the rules of changePassword), ends every session, and
records `user.password_reset`.

Sending a code costs a little more than finding nothing (a code row, an outbox
row and a NOTIFY: ~1-2 ms here), so the answer waits until
PASSWORD_RESET_MIN_RESPONSE after the request began.
"""

from __future__ import annotations

import asyncio
import time

from accounts_gql.core.errors import DomainError, ErrorKind
from accounts_gql.core.passwords import hash_password, passwords_for
from accounts_gql.core.settings import Settings
from accounts_gql.db.pool import Executor
from accounts_gql.repositories import codes as repository
from accounts_gql.repositories import credentials as credentials_repository
from accounts_gql.repositories.credentials import Caller
from accounts_gql.services.auth import check_new_password, throttle
from accounts_gql.services.codes import (
    INVALID_CODE,
    code_limits,
    looks_like_a_code,
    new_code,
    raise_for_outcome,
)

REQUESTED = "If the login names an account with a verified email, a code is on its way there."
RESET = "The password is reset and every session has ended; sign in with the new password."
TOO_MANY_REQUESTS = "Too many recovery requests; try again later."
# Usernames are at most 32 characters, email addresses 320.
_MAX_LOGIN_LENGTH = 320


def _checked_login(login: str) -> str:
    login = login.strip()
    if not login or len(login) > _MAX_LOGIN_LENGTH:
        raise DomainError(
            ErrorKind.VALIDATION, "Give a username or a verified email address.", "login"
        )
    return login


async def request_password_reset(
    db: Executor, settings: Settings, *, login: str, caller: Caller
) -> str:
    """The same answer whether or not the login names an account, and no sooner
    than PASSWORD_RESET_MIN_RESPONSE: storing a code and its event costs about a
    millisecond more than finding nothing (bench/reset_timing.py)."""
    started = time.monotonic()
    try:
        login = _checked_login(login)
        await credentials_repository.throttle_attempt(
            db, throttle(settings, "reset", TOO_MANY_REQUESTS), login, caller.client_address
        )
        await repository.request_password_reset(db, login, new_code(), code_limits(settings))
        return REQUESTED
    finally:
        left = settings.password_reset_min_response - (time.monotonic() - started)
        if left > 0:
            await asyncio.sleep(left)


async def reset_password(
    db: Executor, settings: Settings, *, login: str, code: str, new_password: str
) -> str:
    login = _checked_login(login)
    check_new_password(settings, new_password, "newPassword", login)
    if not looks_like_a_code(code):
        raise DomainError(ErrorKind.INVALID_CODE, INVALID_CODE, "code")
    password_hash = await hash_password(passwords_for(settings), new_password)
    tried = await repository.reset_password(db, login, code, password_hash)
    raise_for_outcome(tried.outcome)
    return RESET
