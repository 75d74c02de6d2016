"""The read rules of account events (subscriptions; docs/subscriptions.md).

Who sees an event, beside the other read rules:
- a user sees the events of their own account: the user's own events, its
  contacts' and sessions' (aggregate: the user), and its memberships';
- a group's managers and owners see the group's events and its memberships';
- `admin` sees all;
- nobody sees the events that carry one-time codes (the stored functions leave
  them out: sql/0018).
Contact type events are admins' (inactive types are theirs only in queries).

The rules are keys: a viewer holds keys, an event names keys, and the viewer
sees the event when they share one. The replica's stream (events/stream.py)
indexes subscribers by key, so an event costs the subscribers that see it, not
every subscriber. A membership event that makes a user a manager or owner of a
group, or stops it, changes that user's keys from that event on; replayed
events are judged by the keys the viewer holds when the subscription starts.

A connection ends (close code 4403) on the events that end its token's right to
read: its session revoked, its user deactivated or deleted.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from accounts_gql.core.errors import DomainError, ErrorKind
from accounts_gql.core.viewer import Viewer
from accounts_gql.db.pool import Executor
from accounts_gql.events.registry import EVENT_TYPES
from accounts_gql.repositories import event_stream, memberships
from accounts_gql.repositories.event_stream import StreamEvent as StreamEvent
from accounts_gql.services.authorization import MANAGING_ROLES, require_signed_in

Key = tuple[str, uuid.UUID | None]
ALL: Key = ("all", None)

# The types a subscription can ask for (`types:`): every published type that
# carries no secret.
STREAMED_TYPES = frozenset(name for name, kind in EVENT_TYPES.items() if not kind.sensitive)
ENDING_USER_EVENTS = frozenset({"user.deactivated", "user.deleted"})
MANAGEMENT_EVENTS = frozenset({"membership.added", "membership.role_changed", "membership.removed"})


def user_key(user_id: uuid.UUID) -> Key:
    return ("user", user_id)


def group_key(group_id: uuid.UUID) -> Key:
    return ("group", group_id)


def session_key(session_id: uuid.UUID) -> Key:
    return ("session", session_id)


def viewer_keys(viewer: Viewer, managed_groups: Sequence[uuid.UUID]) -> frozenset[Key]:
    if viewer.is_admin:
        return frozenset({ALL})
    assert viewer.user_id is not None
    return frozenset({user_key(viewer.user_id), *(group_key(g) for g in managed_groups)})


def event_keys(event: StreamEvent) -> tuple[Key, ...]:
    """The keys of the viewers who see `event` (ALL's holders see every event)."""
    keys: list[Key] = [ALL]
    if event.user_id is not None:
        keys.append(user_key(event.user_id))
    if event.group_id is not None:
        keys.append(group_key(event.group_id))
    return tuple(keys)


def management_change(event: StreamEvent) -> tuple[Key, Key, bool] | None:
    """(whose keys change, the group's key, whether they hold it from now on)."""
    if event.event_type not in MANAGEMENT_EVENTS or event.user_id is None:
        return None
    assert event.group_id is not None
    manages = event.event_type != "membership.removed" and event.role in MANAGING_ROLES
    return (user_key(event.user_id), group_key(event.group_id), manages)


def ending_keys(event: StreamEvent) -> tuple[Key, ...]:
    """Keys of the connections `event` ends: a revoked session's, a gone user's."""
    if event.event_type == "session.revoked" and event.session_id is not None:
        return (session_key(event.session_id),)
    if event.event_type in ENDING_USER_EVENTS and event.user_id is not None:
        return (user_key(event.user_id),)
    return ()


def connection_keys(viewer: Viewer) -> tuple[Key, ...]:
    """Keys whose ending events end a connection of `viewer`."""
    keys: list[Key] = []
    if viewer.user_id is not None:
        keys.append(user_key(viewer.user_id))
    if viewer.session_id is not None:
        keys.append(session_key(viewer.session_id))
    return tuple(keys)


@dataclass(frozen=True, slots=True)
class EventRequest:
    """A subscription's arguments, checked: the viewer's keys, the types, the start."""

    owner: uuid.UUID
    keys: frozenset[Key]
    types: frozenset[str] | None
    after: tuple[int, int] | None


def _types(types: Sequence[str] | None) -> frozenset[str] | None:
    if types is None:
        return None
    unknown = sorted(set(types) - STREAMED_TYPES)
    if unknown:
        raise DomainError(
            ErrorKind.VALIDATION, f"Unknown event type(s): {', '.join(unknown)}.", field="types"
        )
    return frozenset(types)


async def event_request(
    db: Executor, viewer: Viewer, types: Sequence[str] | None, after: str | None
) -> EventRequest:
    """Checks a subscription's arguments and finds its start; UNAUTHENTICATED for
    anonymous callers, VALIDATION for bad types or ids, EVENT_CURSOR_UNKNOWN for
    an `after` that is not kept."""
    owner = require_signed_in(viewer)
    kinds = _types(types)
    cursor = None
    if after is not None:
        try:
            event_id = uuid.UUID(after)
        except ValueError as error:
            raise DomainError(
                ErrorKind.VALIDATION, "after must be the id of an event.", field="after"
            ) from error
        cursor = await event_stream.cursor_of(db, event_id)
    managed: list[uuid.UUID] = []
    if not viewer.is_admin:
        rows = await memberships.memberships_by_user_ids(db, [owner])
        managed = [row.group_id for row in rows if row.role in MANAGING_ROLES]
    return EventRequest(owner, viewer_keys(viewer, managed), kinds, cursor)


def sees(keys: frozenset[Key], types: frozenset[str] | None, event: StreamEvent) -> bool:
    if types is not None and event.event_type not in types:
        return False
    return any(key in keys for key in event_keys(event))


async def replay(
    db: Executor,
    request: EventRequest,
    upto: tuple[int, int],
    *,
    window: int = 64,
    page: int = 500,
) -> AsyncIterator[StreamEvent]:
    """The events the request's viewer sees after its `after` up to `upto`
    (inclusive), in stream order, read in windows of ticks and pages."""
    assert request.after is not None
    cursor = request.after
    while cursor < upto:
        until = min(upto[0], cursor[0] + window)
        rows = await event_stream.events_after(db, cursor, until, page)
        for row in rows:
            if row.cursor > upto:
                return
            if sees(request.keys, request.types, row):
                yield row
        if len(rows) == page:
            cursor = rows[-1].cursor
        elif until >= upto[0]:
            return
        else:
            cursor = (until + 1, 0)
