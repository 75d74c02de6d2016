"""One-time codes shared by contact verification and password recovery.

A code is 6 digits from the system's CSPRNG. The stored functions keep only its
hash; the code itself travels in the outbox event for the notification service
and is never logged (PRODUCT §6).
"""

from __future__ import annotations

import secrets

from accounts_gql.core.errors import DomainError, ErrorKind
from accounts_gql.core.settings import Settings
from accounts_gql.repositories.codes import CodeLimits

INVALID_CODE = "The code is wrong or was used already."
CODE_EXPIRED = "The code has expired; request a new one."
NO_TRIES_LEFT = "Too many wrong tries for this code; request a new one."


def new_code() -> str:
    return f"{secrets.randbelow(10**6):06d}"


def code_limits(settings: Settings) -> CodeLimits:
    return CodeLimits(
        ttl=settings.verification_code_ttl,
        max_attempts=settings.verification_code_max_attempts,
        resend_interval=settings.verification_resend_interval,
        max_sends=settings.verification_max_sends_per_hour,
    )


def looks_like_a_code(code: str) -> bool:
    return len(code) == 6 and code.isascii() and code.isdigit()


def raise_for_outcome(outcome: str) -> None:
    """The typed error of a failed try (accounts.try_code); returns on 'ok'."""
    if outcome == "ok":
        return
    if outcome == "expired":
        raise DomainError(ErrorKind.CODE_EXPIRED, CODE_EXPIRED, "code")
    if outcome == "exhausted":
        raise DomainError(ErrorKind.TOO_MANY_ATTEMPTS, NO_TRIES_LEFT, "code")
    raise DomainError(ErrorKind.INVALID_CODE, INVALID_CODE, "code")
