"""Times in cursors and responses: orjson's text must be isoformat()'s, byte for byte."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import orjson
from hypothesis import given
from hypothesis import strategies as st

from accounts_gql.api.ids import decode_cursor, encode_time_cursor, isoformat

utc_times = st.datetimes(
    min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59, 999999)
).map(lambda moment: moment.replace(tzinfo=UTC))


@given(utc_times)
def test_orjson_writes_a_utc_time_as_isoformat_does(moment: datetime) -> None:
    # The planned execution leaves UTC datetimes in the response for orjson to write.
    assert orjson.dumps(moment) == f'"{moment.isoformat()}"'.encode()
    assert isoformat(moment) == moment.isoformat()


def test_other_zones_and_naive_times_keep_isoformat() -> None:
    for moment in (
        datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=5, minutes=30))),
        datetime(2026, 1, 2, 3, 4, 5, 6),
    ):
        assert isoformat(moment) == moment.isoformat()


@given(utc_times, st.uuids())
def test_a_time_cursor_decodes_to_the_isoformat_and_the_row(
    moment: datetime, row_id: uuid.UUID
) -> None:
    assert decode_cursor(encode_time_cursor(moment, row_id)) == (moment.isoformat(), row_id)
