"""Global ids and cursors as the API shows them; the codec is `core/ids.py`, shared
with the services' reads, which decode the ids and cursors they are given."""

from __future__ import annotations

from accounts_gql.core.ids import (
    decode_any_id,
    decode_cursor,
    decode_id,
    encode_cursor,
    encode_id,
    encode_time_cursor,
    isoformat,
)

__all__ = [
    "decode_any_id",
    "decode_cursor",
    "decode_id",
    "encode_cursor",
    "encode_id",
    "encode_time_cursor",
    "isoformat",
]
