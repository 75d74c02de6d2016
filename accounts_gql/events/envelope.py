"""CloudEvents 1.0 structured JSON envelopes of outbox rows (PRODUCT §5).

`id` is the outbox event id (consumers de-duplicate on it; it is also the AMQP
`message_id`), `subject` the aggregate id and `time` the row's `created_at`
(the commit's transaction time). Extension attributes, named in lower-case
alphanumerics as the specification requires: `aggregatetype`, `sequence` (the
aggregate's sequence number: consumers order by it) and `actorid` (the acting
user; absent for the system, as CloudEvents treats a null attribute as absent).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import orjson

SPECVERSION = "1.0"
SOURCE = "/accounts-gql"
DATA_CONTENT_TYPE = "application/json"
CONTENT_TYPE = "application/cloudevents+json"


def _rfc3339(moment: datetime) -> str:
    text = moment.astimezone(UTC).isoformat(timespec="microseconds")
    return text.removesuffix("+00:00") + "Z"


def build_envelope(
    *,
    event_id: UUID,
    event_type: str,
    aggregate_type: str,
    aggregate_id: UUID,
    sequence: int,
    created_at: datetime,
    actor_id: UUID | None,
    data: Any,
) -> dict[str, Any]:
    """The envelope as a dict; `data` is the payload (or an `orjson.Fragment` of it)."""
    envelope: dict[str, Any] = {
        "specversion": SPECVERSION,
        "id": str(event_id),
        "source": SOURCE,
        "type": event_type,
        "subject": str(aggregate_id),
        "time": _rfc3339(created_at),
        "datacontenttype": DATA_CONTENT_TYPE,
        "aggregatetype": aggregate_type,
        "sequence": sequence,
    }
    if actor_id is not None:
        envelope["actorid"] = str(actor_id)
    envelope["data"] = data
    return envelope


def encode_row(row: Any) -> bytes:
    """The envelope of an outbox row as JSON bytes.

    `row` is a record of `accounts.outbox`. A payload that arrives as text (the
    relay's connection leaves jsonb undecoded) is embedded as it is, without a
    parse and re-serialisation.
    """
    payload = row["payload"]
    data = orjson.Fragment(payload) if isinstance(payload, str | bytes) else payload
    return orjson.dumps(
        build_envelope(
            event_id=row["event_id"],
            event_type=row["event_type"],
            aggregate_type=row["aggregate_type"],
            aggregate_id=row["aggregate_id"],
            sequence=row["sequence"],
            created_at=row["created_at"],
            actor_id=row["actor_id"],
            data=data,
        )
    )
