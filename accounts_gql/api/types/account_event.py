"""AccountEvent and the `accountEvents` subscription (docs/subscriptions.md)."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import orjson
import strawberry
from graphql import GraphQLError
from strawberry.scalars import JSON

from accounts_gql.api.stream_context import StreamContext
from accounts_gql.core.errors import DomainError
from accounts_gql.events.envelope import build_envelope
from accounts_gql.services.reads import events as reads
from accounts_gql.services.reads.events import StreamEvent


@strawberry.type(
    name="AccountEvent",
    description=(
        "An event of the outbox as a CloudEvents 1.0 envelope: the same attributes, "
        "with the same names, as the messages on the exchange."
    ),
)
class AccountEvent:
    specversion: str
    id: strawberry.ID = strawberry.field(
        description="The event id: pass the last one seen as `after` to resume."
    )
    source: str
    type: str = strawberry.field(description="The event type, e.g. user.updated.")
    subject: strawberry.ID = strawberry.field(description="The aggregate's id (a UUID).")
    time: str = strawberry.field(description="When it was recorded (RFC 3339, UTC).")
    datacontenttype: str
    aggregatetype: str = strawberry.field(description="user, contact_type or group.")
    sequence: int = strawberry.field(description="The aggregate's sequence number.")
    data: JSON = strawberry.field(description="The payload (see asyncapi.yaml).")
    actorid: strawberry.ID | None = strawberry.field(
        default=None, description="The acting user; null for the system."
    )


def account_event(event: StreamEvent) -> AccountEvent:
    payload = event.payload
    # Text from the stream's connection is embedded as it is, without a parse.
    data = orjson.Fragment(payload) if isinstance(payload, str) else payload
    envelope = build_envelope(
        event_id=event.event_id,
        event_type=event.event_type,
        aggregate_type=event.aggregate_type,
        aggregate_id=event.aggregate_id,
        sequence=event.sequence,
        created_at=event.created_at,
        actor_id=event.actor_id,
        data=data,
    )
    return AccountEvent(**envelope)


def _typed(error: DomainError) -> GraphQLError:
    extensions: dict[str, Any] = {"code": error.kind.name}
    if error.field:
        extensions["field"] = error.field
    return GraphQLError(error.message, extensions=extensions)


@strawberry.type
class AccountEventSubscriptions:
    @strawberry.subscription(
        description=(
            "The account events the viewer may see, as they commit (over "
            "graphql-transport-ws at /graphql). `types` keeps only those types; "
            "`after` (an event id) first replays every such event since that one, "
            "then goes live, with no gap and no repeat."
        )
    )
    async def account_events(
        self,
        info: strawberry.Info,
        types: list[str] | None = None,
        after: strawberry.ID | None = None,
    ) -> AsyncGenerator[AccountEvent, None]:
        context: StreamContext = info.context
        try:
            request = await reads.event_request(
                context.db.write, context.viewer, types, None if after is None else str(after)
            )
            async for event in context.hub.events(context.db.write, request, context.too_slow):
                yield account_event(event)
        except DomainError as error:
            raise _typed(error) from error
