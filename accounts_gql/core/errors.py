"""The service's error kinds and the SQLSTATE codes the stored functions raise.

This table is the single place where a database error becomes a typed domain
error. Codes use the class ``UA`` (the SQL standard leaves classes starting with
I to Z to implementations), so they never collide with PostgreSQL's own.

A stored function raises them through ``accounts.raise_error(code, message,
field, detail)``: ``field`` arrives as the error's column name and ``detail``
as a JSON object (for example the current version on a conflict).
"""

from __future__ import annotations

import enum
from typing import Any

import orjson


class ErrorKind(enum.Enum):
    """A kind of failure a caller can act on; each maps to a GraphQL error type."""

    NOT_FOUND = "UA001"
    USERNAME_TAKEN = "UA002"
    CONTACT_VALUE_TAKEN = "UA003"
    VERSION_CONFLICT = "UA004"
    VALIDATION = "UA005"
    LIMIT_REACHED = "UA006"
    SLUG_TAKEN = "UA007"
    CONTACT_TYPE_CODE_TAKEN = "UA008"
    ALREADY_MEMBER = "UA009"
    INVALID_STATE = "UA010"
    FORBIDDEN = "UA011"
    UNAUTHENTICATED = "UA012"
    INVALID_CODE = "UA013"
    CODE_EXPIRED = "UA014"
    TOO_MANY_ATTEMPTS = "UA015"
    SESSION_REVOKED = "UA016"
    THROTTLED = "UA017"
    EVENT_CURSOR_UNKNOWN = "UA040"

    @property
    def sqlstate(self) -> str:
        return self.value


# What each code means, for docs/errors.md and for whoever reads a log line.
DESCRIPTIONS: dict[ErrorKind, str] = {
    ErrorKind.NOT_FOUND: "The object named by an id, username, slug or code does not exist.",
    ErrorKind.USERNAME_TAKEN: "Another user has this username (compared without regard to case).",
    ErrorKind.CONTACT_VALUE_TAKEN: (
        "The value is already an active contact of another user (types with is_unique), "
        "or of this user."
    ),
    ErrorKind.VERSION_CONFLICT: (
        "expectedVersion differs from the stored version; detail.current_version has it."
    ),
    ErrorKind.VALIDATION: "An input value breaks a rule; the error's field names it.",
    ErrorKind.LIMIT_REACHED: "A bounded quantity is full (e.g. 50 active contacts per user).",
    ErrorKind.SLUG_TAKEN: "Another group has this slug.",
    ErrorKind.CONTACT_TYPE_CODE_TAKEN: "Another contact type has this code.",
    ErrorKind.ALREADY_MEMBER: "The user is already a member of the group.",
    ErrorKind.INVALID_STATE: (
        "The object is not in a state that allows the change "
        "(e.g. reactivating an active user, writing to a deactivated user)."
    ),
    ErrorKind.FORBIDDEN: "The caller may not do this.",
    ErrorKind.UNAUTHENTICATED: "The caller's credentials are missing, invalid or expired.",
    ErrorKind.INVALID_CODE: (
        "A verification or recovery code is wrong, or was used already; "
        "the attempt counts against the code's tries."
    ),
    ErrorKind.CODE_EXPIRED: "The code's lifetime is over; request a new one.",
    ErrorKind.TOO_MANY_ATTEMPTS: "The code's tries are used up; request a new one.",
    ErrorKind.SESSION_REVOKED: (
        "The refresh token's session has ended (logged out, revoked, password changed "
        "or reset, reuse detected); detail.reason says which. Sign in again."
    ),
    ErrorKind.EVENT_CURSOR_UNKNOWN: (
        "A subscription's `after` names an event that is not kept (older than "
        "SUBSCRIPTION_RETENTION, or never streamed): subscribe without it."
    ),
    ErrorKind.THROTTLED: (
        "Too many attempts or requests for now (logins, codes, recovery requests); "
        "detail.retry_after gives the seconds to wait."
    ),
}

_BY_SQLSTATE = {kind.sqlstate: kind for kind in ErrorKind}


class DomainError(Exception):
    """A failure the caller can act on, raised by services and repositories."""

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        field: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.field = field or None
        self.detail = detail or {}

    def __repr__(self) -> str:
        return f"DomainError({self.kind.name}, {self.message!r}, field={self.field!r})"


def kind_of_sqlstate(sqlstate: str | None) -> ErrorKind | None:
    return _BY_SQLSTATE.get(sqlstate or "")


def domain_error_from_postgres(error: Exception) -> DomainError | None:
    """The DomainError a stored function meant by raising ``error``, if any."""
    kind = kind_of_sqlstate(getattr(error, "sqlstate", None))
    if kind is None:
        return None
    raw_detail = getattr(error, "detail", None)
    detail: dict[str, Any] = {}
    if raw_detail:
        try:
            parsed = orjson.loads(raw_detail)
        except orjson.JSONDecodeError:
            parsed = {"text": raw_detail}
        detail = parsed if isinstance(parsed, dict) else {"value": parsed}
    return DomainError(
        kind,
        getattr(error, "message", None) or str(error),
        field=getattr(error, "column_name", None),
        detail=detail,
    )


# Codes of errors about the request as a whole (`extensions.code`), refused
# before or instead of execution: code -> (status with
# application/graphql-response+json, status with application/json, meaning).
REQUEST_CODES: dict[str, tuple[int, int, str]] = {
    "BAD_REQUEST": (400, 400, "Not a GraphQL request: the body is not JSON, has no `query`, …"),
    "NOT_ACCEPTABLE": (406, 406, "The Accept header names neither response type."),
    "BODY_TOO_LARGE": (413, 413, "The body is over `MAX_BODY_BYTES` (`limit`); read no further."),
    "TOO_MANY_OPERATIONS": (400, 400, "A batch holds more than `MAX_BATCH_OPERATIONS` (`limit`)."),
    "TOO_MANY_TOKENS": (400, 200, "The document has more than `MAX_TOKENS` tokens (`limit`)."),
    "QUERY_TOO_DEEP": (400, 200, "Fields nest deeper than `MAX_QUERY_DEPTH` (`limit`)."),
    "TOO_MANY_ALIASES": (400, 200, "More aliased fields than `MAX_ALIASES` (`limit`)."),
    "QUERY_TOO_COSTLY": (400, 200, "The operation may cost more than `MAX_QUERY_COST` (`limit`)."),
    "SERVICE_UNAVAILABLE": (
        503,
        200,
        "The database is away or too slow; retry after `retryAfter` seconds (503 also "
        "sends `Retry-After`). Nothing was done, unless a mutation field returned data.",
    ),
    "INTERNAL_SERVER_ERROR": (
        500,
        500,
        "An unexpected fault, masked; `requestId` finds it in the log (at a field's path, "
        "with status 200, once execution began).",
    ),
}


def errors_markdown() -> str:
    """The SQLSTATE table as docs/errors.md shows it (a test keeps the file equal)."""
    lines = [
        "# Error codes",
        "",
        "Stored functions raise these SQLSTATEs (class `UA`); the service maps each to a",
        "typed GraphQL error. Generated from `accounts_gql/core/errors.py`.",
        "",
        "| SQLSTATE | kind | meaning |",
        "|---|---|---|",
    ]
    lines += [f"| {kind.sqlstate} | {kind.name} | {DESCRIPTIONS[kind]} |" for kind in ErrorKind]
    lines += [
        "",
        "## Request errors",
        "",
        "Errors about a request as a whole carry one of these `extensions.code`s (field",
        "errors carry the kinds above). The status depends on the response type: the",
        "GraphQL-over-HTTP specification answers a well-formed request in `application/json`",
        "with 200 (docs/operations.md).",
        "",
        "| code | `application/graphql-response+json` | `application/json` | meaning |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {code} | {typed} | {plain} | {meaning} |"
        for code, (typed, plain, meaning) in REQUEST_CODES.items()
    ]
    return "\n".join(lines) + "\n"
