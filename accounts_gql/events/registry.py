"""The event types the service publishes (PRODUCT §5): one registry for the code,
the tests and the AsyncAPI document (`asyncapi.yaml`, see `asyncapi.py`).

Each type names its aggregate (whose id is the CloudEvents `subject` and whose
sequence orders the events), says what happened, and gives the JSON Schema of its
`data`, i.e. the payload that the stored functions of `sql/0002`–`0004` write:
`{"<entity>": <state>}`, plus `"before"`/`"after"` with only the changed fields
for updates. The states are built in SQL by `accounts.<entity>_state(row)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

JsonSchema = dict[str, Any]

_UUID: JsonSchema = {"type": "string", "format": "uuid"}
_TIME: JsonSchema = {"type": "string", "format": "date-time"}
_NULLABLE_UUID: JsonSchema = {"type": ["string", "null"], "format": "uuid"}
_NULLABLE_TIME: JsonSchema = {"type": ["string", "null"], "format": "date-time"}
_CODE: JsonSchema = {
    "type": "string",
    "pattern": "^[0-9]{6}$",
    "description": "SENSITIVE: the one-time code (6 digits) to deliver.",
    "x-sensitive": True,
}


def _object(properties: dict[str, JsonSchema], required: list[str] | None = None) -> JsonSchema:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
        "additionalProperties": False,
    }


# States, keyed by the names used in the AsyncAPI document's components.
USER_PROPERTIES: dict[str, JsonSchema] = {
    "id": _UUID,
    "username": {"type": "string", "pattern": "^[A-Za-z0-9._-]{3,32}$"},
    "display_name": {"type": "string", "maxLength": 100},
    "profile": {"type": "object", "description": "Free-form JSON object (at most 16 KiB)."},
    "status": {"type": "string", "enum": ["active", "deactivated"]},
    "roles": {"type": "array", "items": {"type": "string", "enum": ["admin"]}},
    "version": {"type": "integer", "minimum": 1},
    "created_at": _TIME,
    "updated_at": _TIME,
}
CONTACT_PROPERTIES: dict[str, JsonSchema] = {
    "id": _UUID,
    "user_id": _UUID,
    "contact_type_id": _UUID,
    "type": {"type": "string", "description": "The contact type's code, e.g. email."},
    "value": {"type": "string", "description": "Normalised: email lower-cased, phone E.164."},
    "is_primary": {"type": "boolean"},
    "is_verified": {"type": "boolean"},
    "is_active": {"type": "boolean"},
    "created_at": _TIME,
    "updated_at": _TIME,
    "deactivated_at": _NULLABLE_TIME,
}
CONTACT_TYPE_PROPERTIES: dict[str, JsonSchema] = {
    "id": _UUID,
    "code": {"type": "string", "pattern": "^[a-z][a-z0-9_]{1,31}$"},
    "name": {"type": "string", "minLength": 1, "maxLength": 100},
    "validation_pattern": {"type": ["string", "null"], "maxLength": 500},
    "is_unique": {"type": "boolean"},
    "is_active": {"type": "boolean"},
    "version": {"type": "integer", "minimum": 1},
    "created_at": _TIME,
    "updated_at": _TIME,
}
GROUP_PROPERTIES: dict[str, JsonSchema] = {
    "id": _UUID,
    "slug": {"type": "string", "pattern": "^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$"},
    "name": {"type": "string", "minLength": 1, "maxLength": 100},
    "description": {"type": "string", "maxLength": 1000},
    "version": {"type": "integer", "minimum": 1},
    "created_at": _TIME,
    "updated_at": _TIME,
}
MEMBERSHIP_PROPERTIES: dict[str, JsonSchema] = {
    "user_id": _UUID,
    "group_id": _UUID,
    "role": {"type": "string", "enum": ["member", "manager", "owner"]},
    "joined_at": _TIME,
    "added_by": {**_NULLABLE_UUID, "description": "The user who added the member, if any."},
}

SESSION_PROPERTIES: dict[str, JsonSchema] = {
    "id": {**_UUID, "description": "The session's id (its refresh-token family)."},
    "user_id": _UUID,
    "created_at": _TIME,
    "last_used_at": _TIME,
    "user_agent": {"type": ["string", "null"], "maxLength": 512},
    "client_address": {"type": ["string", "null"], "maxLength": 64},
    "ended_at": _NULLABLE_TIME,
    "end_reason": {
        "type": ["string", "null"],
        "enum": [
            "logged_out",
            "revoked",
            "reuse_detected",
            "password_changed",
            "password_reset",
            "deactivated",
            None,
        ],
    },
}

STATES: dict[str, JsonSchema] = {
    "UserState": _object(USER_PROPERTIES),
    "ContactState": _object(CONTACT_PROPERTIES),
    "ContactTypeState": _object(CONTACT_TYPE_PROPERTIES),
    "GroupState": _object(GROUP_PROPERTIES),
    "MembershipState": _object(MEMBERSHIP_PROPERTIES),
    "SessionState": _object(SESSION_PROPERTIES),
}


def _ref(state: str) -> JsonSchema:
    return {"$ref": f"#/components/schemas/{state}"}


def _changes(properties: dict[str, JsonSchema]) -> JsonSchema:
    """`before`/`after` objects holding only the fields that changed."""
    part = {
        "type": "object",
        "properties": dict(properties),
        "additionalProperties": False,
        "description": "Only the fields that changed (never version or updated_at).",
    }
    return {"before": part, "after": part}


def _without(properties: dict[str, JsonSchema], *names: str) -> dict[str, JsonSchema]:
    return {key: value for key, value in properties.items() if key not in names}


@dataclass(frozen=True, slots=True)
class EventType:
    name: str  # the CloudEvents `type` and the AMQP routing key
    aggregate_type: str  # `user`, `contact_type` or `group`
    description: str
    data_schema: JsonSchema  # JSON Schema of the CloudEvents `data`
    # Carries a secret (a one-time code): for the notification service only; the
    # outbox forgets the code once the broker has it (sql/0013).
    sensitive: bool = False


def _event(
    name: str, aggregate: str, description: str, data: JsonSchema, sensitive: bool = False
) -> EventType:
    return EventType(name, aggregate, description, data, sensitive)


_USER_CHANGE = _without(USER_PROPERTIES, "version", "updated_at")
_CONTACT_CHANGE = _without(CONTACT_PROPERTIES, "version", "updated_at")
_CONTACT_TYPE_CHANGE = _without(CONTACT_TYPE_PROPERTIES, "version", "updated_at")
_GROUP_CHANGE = _without(GROUP_PROPERTIES, "version", "updated_at")
# Set on the events a deletion records for the rows it removes by cascade
# (sql/0014): absent when the change was made on its own.
_REASON = {
    "type": "string",
    "enum": ["user_deleted", "group_deleted"],
    "description": "Why the row went: its user or group was deleted in the same transaction.",
}
_PREVIOUS_PRIMARY = {
    **_NULLABLE_UUID,
    "description": "The contact that was primary for this type before, if any.",
}

_EVENTS = [
    _event(
        "user.created",
        "user",
        "A user was created.",
        _object({"user": _ref("UserState")}),
    ),
    _event(
        "user.updated",
        "user",
        "A user's username, display name or roles changed.",
        _object({"user": _ref("UserState"), **_changes(_USER_CHANGE)}),
    ),
    _event(
        "user.profile_updated",
        "user",
        "A user's profile was changed by a JSON Merge Patch (RFC 7396).",
        _object(
            {
                "user": _ref("UserState"),
                "patch": {"type": "object", "description": "The merge patch as applied."},
                **_changes({"profile": USER_PROPERTIES["profile"]}),
            }
        ),
    ),
    _event(
        "user.deactivated",
        "user",
        "A user was deactivated (status active → deactivated).",
        _object({"user": _ref("UserState"), **_changes(_USER_CHANGE)}),
    ),
    _event(
        "user.reactivated",
        "user",
        "A deactivated user was reactivated (status deactivated → active).",
        _object({"user": _ref("UserState"), **_changes(_USER_CHANGE)}),
    ),
    _event(
        "user.deleted",
        "user",
        "A user was erased, with their contacts and memberships; the user's last state. "
        "The same transaction first records contact.deactivated for each active contact "
        "and membership.removed for each membership (with reason user_deleted).",
        _object({"user": _ref("UserState")}),
    ),
    _event(
        "contact.added",
        "user",
        "A contact was added to a user (aggregate: the user).",
        _object({"contact": _ref("ContactState"), "previous_primary_id": _PREVIOUS_PRIMARY}),
    ),
    _event(
        "contact.updated",
        "user",
        "A contact's value or verification changed (aggregate: the user).",
        _object({"contact": _ref("ContactState"), **_changes(_CONTACT_CHANGE)}),
    ),
    _event(
        "contact.primary_changed",
        "user",
        "A contact became its user's primary contact of its type (aggregate: the user).",
        _object({"contact": _ref("ContactState"), "previous_primary_id": _PREVIOUS_PRIMARY}),
    ),
    _event(
        "contact.deactivated",
        "user",
        "A contact was deactivated (aggregate: the user); also for each active contact "
        "of a user being deleted, just before user.deleted (reason user_deleted).",
        _object({"contact": _ref("ContactState"), "reason": _REASON}, required=["contact"]),
    ),
    _event(
        "contact_type.created",
        "contact_type",
        "A contact type was created.",
        _object({"contact_type": _ref("ContactTypeState")}),
    ),
    _event(
        "contact_type.updated",
        "contact_type",
        "A contact type changed (name, pattern, uniqueness or activity).",
        _object({"contact_type": _ref("ContactTypeState"), **_changes(_CONTACT_TYPE_CHANGE)}),
    ),
    _event(
        "group.created",
        "group",
        "A group was created.",
        _object({"group": _ref("GroupState")}),
    ),
    _event(
        "group.updated",
        "group",
        "A group's slug, name or description changed.",
        _object({"group": _ref("GroupState"), **_changes(_GROUP_CHANGE)}),
    ),
    _event(
        "group.deleted",
        "group",
        "A group was deleted; its last state and member count. The same transaction "
        "first records membership.removed for each member (reason group_deleted).",
        _object(
            {
                "group": _ref("GroupState"),
                "member_count": {"type": "integer", "minimum": 0},
            }
        ),
    ),
    _event(
        "membership.added",
        "group",
        "A user joined a group (aggregate: the group; data names user and group).",
        _object({"membership": _ref("MembershipState")}),
    ),
    _event(
        "membership.role_changed",
        "group",
        "A member's role in a group changed (aggregate: the group).",
        _object(
            {
                "membership": _ref("MembershipState"),
                **_changes({"role": MEMBERSHIP_PROPERTIES["role"]}),
            }
        ),
    ),
    _event(
        "membership.removed",
        "group",
        "A user left or was removed from a group (aggregate: the group), or the user "
        "or the group was deleted (reason).",
        _object(
            {"membership": _ref("MembershipState"), "reason": _REASON}, required=["membership"]
        ),
    ),
]

_EVENTS += [
    _event(
        "session.revoked",
        "user",
        "A session ended before its expiry: logout, revocation by the user or an admin, "
        "password change or reset, reuse of a refresh token, or deactivation "
        "(end_reason says which; aggregate: the user). Its refresh tokens no longer "
        "work; access tokens already issued work until they expire.",
        _object({"session": _ref("SessionState")}),
    ),
    _event(
        "contact.verification_requested",
        "user",
        "SENSITIVE: carries a one-time code. The owner asked to verify a contact: deliver "
        "`code` to the contact's value (the notification service's job). Bind only the "
        "notification service to this routing key; never log or store the code.",
        _object(
            {
                "contact": _ref("ContactState"),
                "code": _CODE,
                "expires_at": {**_TIME, "description": "When the code stops working."},
            }
        ),
        sensitive=True,
    ),
    _event(
        "contact.verified",
        "user",
        "A contact was verified with the code sent to it (aggregate: the user).",
        _object({"contact": _ref("ContactState")}),
    ),
    _event(
        "user.password_reset_requested",
        "user",
        "SENSITIVE: carries a one-time code. Someone asked to recover the account's "
        "password: deliver `code` to `contact` (the account's verified email). Bind only "
        "the notification service to this routing key; never log or store the code.",
        _object(
            {
                "user": _object({"id": _UUID, "username": USER_PROPERTIES["username"]}),
                "contact": _ref("ContactState"),
                "code": _CODE,
                "expires_at": {**_TIME, "description": "When the code stops working."},
            }
        ),
        sensitive=True,
    ),
    _event(
        "user.password_reset",
        "user",
        "The password was reset with a recovery code; every session of the user ended.",
        _object(
            {
                "user": _object({"id": _UUID, "username": USER_PROPERTIES["username"]}),
                "sessions_ended": {"type": "integer", "minimum": 0},
            }
        ),
    ),
]

EVENT_TYPES: MappingProxyType[str, EventType] = MappingProxyType({e.name: e for e in _EVENTS})


def get_event_type(name: str) -> EventType:
    """The registered type `name`; KeyError for a type the service does not publish."""
    return EVENT_TYPES[name]
