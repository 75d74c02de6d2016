"""Opaque global ids (`Node.id`) and connection cursors.

A global id is base64url("<TypeName>:<uuid>"); it decodes to its own type only,
so `user(id:)` given a group's id is an error, never another object.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import UTC, datetime

import orjson
from graphql import GraphQLError

_URL_SAFE = bytes.maketrans(b"+/", b"-_")


def _b64encode(data: bytes) -> str:
    # base64url without padding; binascii directly, as ids are encoded per object.
    encoded = binascii.b2a_base64(data, newline=False).translate(_URL_SAFE)
    return encoded.rstrip(b"=").decode()


def _b64decode(text: str) -> str:
    padded = text + "=" * (-len(text) % 4)
    return base64.urlsafe_b64decode(padded.encode("ascii")).decode()


def encode_id(type_name: str, value: uuid.UUID) -> str:
    return _b64encode(f"{type_name}:{value}".encode())


def decode_any_id(global_id: str) -> tuple[str, uuid.UUID]:
    """The type name and uuid of a global id; a GraphQL error when malformed."""
    try:
        type_name, _, raw = _b64decode(global_id).partition(":")
        return type_name, uuid.UUID(raw)
    except (ValueError, UnicodeError, binascii.Error) as error:
        raise GraphQLError(
            f"{global_id!r} is not a valid id.", extensions={"code": "INVALID_ID"}
        ) from error


def decode_id(global_id: str, expected_type: str) -> uuid.UUID:
    """The uuid of a global id that must name `expected_type`."""
    type_name, value = decode_any_id(global_id)
    if type_name != expected_type:
        raise GraphQLError(
            f"The id {global_id!r} is a {type_name}'s id, not a {expected_type}'s.",
            extensions={"code": "WRONG_ID_TYPE", "expected": expected_type, "actual": type_name},
        )
    return value


def encode_cursor(key: str, row_id: uuid.UUID) -> str:
    """A keyset cursor: the sort key and the id of the row it points after/before."""
    return _b64encode(f"{key}\x1f{row_id}".encode())


def encode_time_cursor(moment: datetime, row_id: uuid.UUID) -> str:
    """The cursor of a row in a time-ordered list: its time as isoformat() writes it.
    Made of bytes throughout (orjson's text of a UTC time, see `isoformat`): a
    page of members makes one per row."""
    if moment.tzinfo is UTC:
        text = orjson.dumps(moment)[1:-1] + b"\x1f" + str(row_id).encode()
    else:
        text = f"{moment.isoformat()}\x1f{row_id}".encode()
    return _b64encode(text)


def isoformat(moment: datetime) -> str:
    """`moment.isoformat()`; for UTC (every time PostgreSQL returns), orjson writes
    the same text in C for a third of the cost: cursors are made per row."""
    if moment.tzinfo is UTC:
        return orjson.dumps(moment)[1:-1].decode()
    return moment.isoformat()


def decode_cursor(cursor: str) -> tuple[str, uuid.UUID]:
    try:
        key, separator, raw = _b64decode(cursor).rpartition("\x1f")
        if not separator:
            raise ValueError(cursor)
        return key, uuid.UUID(raw)
    except (ValueError, UnicodeError, binascii.Error) as error:
        raise GraphQLError(
            f"{cursor!r} is not a valid cursor.", extensions={"code": "INVALID_CURSOR"}
        ) from error
