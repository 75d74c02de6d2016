"""Typed errors of mutation payloads ("errors as data") and the one table mapping
each domain error kind to its GraphQL type."""

from __future__ import annotations

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
}


def error_payload(error: DomainError) -> Error:
    return _ERROR_TYPES[error.kind](error)
