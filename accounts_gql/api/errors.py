"""Typed errors of mutation payloads ("errors as data") and the one table mapping
each domain error kind to its GraphQL type."""

from __future__ import annotations

import enum
from collections.abc import Callable

import strawberry

from accounts_gql.core.errors import DomainError, ErrorKind


@strawberry.interface(name="Error", description="A failure the caller can act on.")
class Error:
    message: str


@strawberry.type(description="The object named by an id, username, slug or code does not exist.")
class NotFound(Error):
    pass


@strawberry.type(description="An input value breaks a rule.")
class ValidationError(Error):
    field: list[str] = strawberry.field(
        description='Path of the offending input field, e.g. ["input", "username"].'
    )


@strawberry.type(description="Another user has this username (compared without regard to case).")
class UsernameTaken(Error):
    pass


@strawberry.type(description="The contact value is already in use.")
class ContactValueTaken(Error):
    pass


@strawberry.type(description="The object changed since the version the caller expected.")
class VersionConflict(Error):
    current_version: int | None


@strawberry.type(description="The caller may not do this.")
class Forbidden(Error):
    pass


@strawberry.type(description="A bounded quantity is full.")
class LimitReached(Error):
    pass


@strawberry.type(description="Another group has this slug.")
class SlugTaken(Error):
    pass


@strawberry.type(description="Another contact type has this code.")
class ContactTypeCodeTaken(Error):
    pass


@strawberry.type(description="The user is already a member of the group.")
class AlreadyMember(Error):
    pass


@strawberry.type(description="The object's state does not allow this change.")
class InvalidState(Error):
    pass


@strawberry.type(
    description=(
        "Too many attempts for now: failed logins (per username and address, per address), "
        "recovery or verification requests, or the tries of a code (then request a new "
        "code; retryAfterSeconds is null)."
    )
)
class TooManyAttempts(Error):
    retry_after_seconds: int | None = strawberry.field(
        description="Seconds until the next attempt may be made; null: request a new code."
    )


@strawberry.type(description="The code is wrong or was used already.")
class InvalidCode(Error):
    pass


@strawberry.type(description="The code's lifetime is over; request a new one.")
class CodeExpired(Error):
    pass


@strawberry.enum(description="Why a session ended.")
class SessionEndReason(enum.Enum):
    LOGGED_OUT = "logged_out"
    REVOKED = "revoked"
    REUSE_DETECTED = "reuse_detected"
    PASSWORD_CHANGED = "password_changed"
    PASSWORD_RESET = "password_reset"
    DEACTIVATED = "deactivated"


@strawberry.type(
    description=(
        "The refresh token's session has ended (logged out, revoked, password changed or "
        "reset, a token used twice, account deactivated): sign in again."
    )
)
class SessionRevoked(Error):
    reason: SessionEndReason


def _too_many_attempts(error: DomainError) -> TooManyAttempts:
    retry_after = error.detail.get("retry_after")
    return TooManyAttempts(
        message=error.message,
        retry_after_seconds=retry_after if isinstance(retry_after, int) else None,
    )


def _session_revoked(error: DomainError) -> SessionRevoked:
    try:
        reason = SessionEndReason(error.detail.get("reason"))
    except ValueError:
        reason = SessionEndReason.REVOKED
    return SessionRevoked(message=error.message, reason=reason)


def _validation(error: DomainError) -> ValidationError:
    field = ["input", error.field] if error.field else ["input"]
    return ValidationError(message=error.message, field=field)


def _version_conflict(error: DomainError) -> VersionConflict:
    current = error.detail.get("current_version")
    return VersionConflict(
        message=error.message, current_version=current if isinstance(current, int) else None
    )


# ErrorKind -> the GraphQL error it becomes. A bad token never reaches a payload
# (the HTTP layer answers 401 before execution); an anonymous caller's write is
# refused as Forbidden, the payloads' type for "may not do this".
_ERROR_TYPES: dict[ErrorKind, Callable[[DomainError], Error]] = {
    ErrorKind.NOT_FOUND: lambda e: NotFound(message=e.message),
    ErrorKind.USERNAME_TAKEN: lambda e: UsernameTaken(message=e.message),
    ErrorKind.CONTACT_VALUE_TAKEN: lambda e: ContactValueTaken(message=e.message),
    ErrorKind.VERSION_CONFLICT: _version_conflict,
    ErrorKind.VALIDATION: _validation,
    ErrorKind.LIMIT_REACHED: lambda e: LimitReached(message=e.message),
    ErrorKind.SLUG_TAKEN: lambda e: SlugTaken(message=e.message),
    ErrorKind.CONTACT_TYPE_CODE_TAKEN: lambda e: ContactTypeCodeTaken(message=e.message),
    ErrorKind.ALREADY_MEMBER: lambda e: AlreadyMember(message=e.message),
    ErrorKind.INVALID_STATE: lambda e: InvalidState(message=e.message),
    ErrorKind.FORBIDDEN: lambda e: Forbidden(message=e.message),
    ErrorKind.UNAUTHENTICATED: lambda e: Forbidden(message=e.message),
    ErrorKind.INVALID_CODE: lambda e: InvalidCode(message=e.message),
    ErrorKind.CODE_EXPIRED: lambda e: CodeExpired(message=e.message),
    ErrorKind.TOO_MANY_ATTEMPTS: _too_many_attempts,
    ErrorKind.SESSION_REVOKED: _session_revoked,
    ErrorKind.THROTTLED: _too_many_attempts,
}


def error_payload(error: DomainError) -> Error:
    return _ERROR_TYPES[error.kind](error)
