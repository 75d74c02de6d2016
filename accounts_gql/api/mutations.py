"""What every mutation resolver shares: id decoding as typed errors, and turning a
service's DomainError into the payload's error member ("errors as data")."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

from graphql import GraphQLError

from accounts_gql.api.errors import Error, error_payload
from accounts_gql.api.ids import decode_id
from accounts_gql.core.errors import DomainError, ErrorKind

T = TypeVar("T")
S = TypeVar("S")


def input_id(global_id: str, expected_type: str, field: str) -> uuid.UUID:
    """An input's global id; a wrong or malformed one is a ValidationError payload."""
    try:
        return decode_id(global_id, expected_type)
    except GraphQLError as error:
        raise DomainError(ErrorKind.VALIDATION, error.message, field=field) from error


async def payload(call: Callable[[], Awaitable[T]], success: Callable[[T], S]) -> S | Error:
    """Runs a service call; its result wrapped by `success`, or its typed error."""
    try:
        result = await call()
    except DomainError as error:
        return error_payload(error)
    return success(result)
