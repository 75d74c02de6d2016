"""Pages of a connection: bounds on page sizes, cursor decoding, where a page stands.

Cursors are checked here, after the read's visibility rule (services/reads/contract.py):
an anonymous caller's bad cursor is UNAUTHENTICATED, not an input error.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from graphql import GraphQLError

from accounts_gql.core.ids import decode_cursor

T = TypeVar("T")

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


@dataclass(frozen=True, slots=True)
class PageInfo:
    """Where a page stands in its connection (the GraphQL type PageInfo)."""

    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@dataclass(frozen=True, slots=True)
class PageRequest:
    """A page to fetch: `limit` rows forward (after `after`) or backward (before `before`)."""

    limit: int
    backward: bool
    after: tuple[str, uuid.UUID] | None
    before: tuple[str, uuid.UUID] | None

    @property
    def first(self) -> int | None:
        return None if self.backward else self.limit

    @property
    def last(self) -> int | None:
        return self.limit if self.backward else None


def page_request(
    first: int | None, after: str | None, last: int | None, before: str | None
) -> PageRequest:
    """Validates Relay arguments; at most 100 rows, 20 when no size is given."""
    if first is not None and last is not None:
        raise GraphQLError(
            "Pass 'first' or 'last', not both.", extensions={"code": "BAD_USER_INPUT"}
        )
    size = first if first is not None else last
    if size is not None and not 0 <= size <= MAX_PAGE_SIZE:
        raise GraphQLError(
            f"Page size must be between 0 and {MAX_PAGE_SIZE}.",
            extensions={"code": "BAD_USER_INPUT", "max": MAX_PAGE_SIZE},
        )
    return PageRequest(
        limit=DEFAULT_PAGE_SIZE if size is None else size,
        backward=last is not None,
        after=decode_cursor(after) if after else None,
        before=decode_cursor(before) if before else None,
    )


def timestamp_cursors(request: PageRequest) -> PageRequest:
    """The request, once its cursors are known to point into a time-ordered list.

    A cursor of another order (a username or slug where a time belongs) would
    otherwise fail in the database as an internal error; a time without its UTC
    offset (no cursor we issue has one) would mean whatever zone the database
    session is in, and fails a comparison with the rows' times in Python.
    """
    for name, cursor in (("after", request.after), ("before", request.before)):
        if cursor is None:
            continue
        try:
            aware = datetime.fromisoformat(cursor[0]).tzinfo is not None
        except ValueError:
            aware = False
        if not aware:
            raise GraphQLError(
                f"'{name}' is not a cursor of this connection's order.",
                extensions={"code": "INVALID_CURSOR"},
            )
    return request


def keyed_cursors(request: PageRequest, key: re.Pattern[str]) -> PageRequest:
    """The request, once its cursors' keys are known to be keys of `key`'s form (a
    lower-cased username, a slug): a time cursor of another order is INVALID_CURSOR
    too, as a time is where a name belongs (timestamp_cursors)."""
    for name, cursor in (("after", request.after), ("before", request.before)):
        if cursor is not None and not key.fullmatch(cursor[0]):
            raise GraphQLError(
                f"'{name}' is not a cursor of this connection's order.",
                extensions={"code": "INVALID_CURSOR"},
            )
    return request


def page_info(
    request: PageRequest, has_more: bool, rows: Sequence[T], cursor: Callable[[T], str]
) -> PageInfo:
    """PageInfo for a page fetched by `request`; has_more looks in its direction."""
    return PageInfo(
        has_next_page=has_more if not request.backward else request.before is not None,
        has_previous_page=has_more if request.backward else request.after is not None,
        start_cursor=cursor(rows[0]) if rows else None,
        end_cursor=cursor(rows[-1]) if rows else None,
    )
