"""Bounds on free-form input, checked before PostgreSQL sees it (issue 13).

A search term longer than any value it could match is refused instead of being
scanned for (usernames hold at most 32 characters, display names and group
names 100), and a profile or merge patch nested deeper than a profile needs is
refused on the way in: the answer could not be encoded (orjson stops at 255
levels), and PostgreSQL would spend its stack on it.
"""

from __future__ import annotations

from typing import Any

from accounts_gql.core.errors import DomainError, ErrorKind

MAX_SEARCH_LENGTH = 100
MAX_JSON_DEPTH = 32


def check_search(search: str | None, field: str = "filter.search") -> None:
    if search is not None and len(search) > MAX_SEARCH_LENGTH:
        raise DomainError(
            ErrorKind.VALIDATION,
            f"{field} must be at most {MAX_SEARCH_LENGTH} characters",
            field,
            {"limit": MAX_SEARCH_LENGTH},
        )


def json_depth_exceeds(value: Any, limit: int) -> bool:
    """Whether objects and arrays nest more than `limit` levels ({} is one).

    Iterative, and stops at the first level past the limit, so a value of any
    depth costs no more than the limit's worth of levels and no recursion."""
    level = [value]
    for _ in range(limit + 1):
        children: list[Any] = []
        for item in level:
            if isinstance(item, dict):
                children.extend(item.values())
            elif isinstance(item, list):
                children.extend(item)
        if not any(isinstance(item, dict | list) for item in level):
            return False
        level = children
    return True


def check_json_depth(value: Any, field: str) -> None:
    if json_depth_exceeds(value, MAX_JSON_DEPTH):
        raise DomainError(
            ErrorKind.VALIDATION,
            f"{field} must nest at most {MAX_JSON_DEPTH} levels of objects and arrays",
            field,
            {"limit": MAX_JSON_DEPTH},
        )
