"""The AsyncAPI 3.0 document of the events (`asyncapi.yaml`), built from the registry.

`export_asyncapi()` is the only source of the checked-in file; a test keeps the
two equal, as for `schema.graphql`. The YAML is written by a small emitter of our
own (block style, keys in the given order, strings quoted JSON-style whenever
they are not plainly safe), so the output is stable and needs no YAML library.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson

from accounts_gql.events.envelope import CONTENT_TYPE, DATA_CONTENT_TYPE, SOURCE, SPECVERSION
from accounts_gql.events.registry import EVENT_TYPES, STATES, EventType

ASYNCAPI_FILE = Path(__file__).resolve().parent.parent.parent / "asyncapi.yaml"
DEFAULT_EXCHANGE = "accounts.events"
_AMQP_BINDING_VERSION = "0.3.0"

_DESCRIPTION = f"""\
Domain events of the accounts service (users, contacts, contact types, groups and
memberships). Every change is recorded in an outbox in the same transaction as
the change and published after commit by the outbox relay.

* Exchange: a durable topic exchange, `{DEFAULT_EXCHANGE}` unless EVENTS_EXCHANGE
  names another. Routing key = the event type (bind e.g. `user.*` or `#`).
* Messages are persistent, CloudEvents 1.0 in structured mode
  (`{CONTENT_TYPE}`); the AMQP `message_id` and `type` properties repeat the
  event's `id` and `type`.
* Delivery is at least once: de-duplicate on `id`.
* Order: events of one aggregate (`aggregatetype` + `subject`) are published in
  commit order and carry the aggregate's `sequence` (1, 2, 3, ...). Contact
  events belong to their user's aggregate, membership events to their group's.
* `data` holds the new state; updates add `before` and `after` with only the
  fields that changed. `actorid` names the acting user (absent for the system).
* Sensitive: `contact.verification_requested` and `user.password_reset_requested`
  (tagged `sensitive`) carry a one-time code in `data.code` for the notification
  service. A catch-all binding (`#`, e.g. an audit queue) receives them too: such
  consumers must drop `data.code` and never log it.
"""


_SENSITIVE = (
    "Carries a secret (a one-time code) for the notification service only: restrict "
    "who may bind this routing key, and never log or keep the code. The outbox drops "
    "the code once the broker has taken the message."
)


def _camel(name: str) -> str:
    head, *rest = re.split(r"[._]", name)
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _cloud_event_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "description": "A CloudEvents 1.0 envelope (structured JSON).",
        "properties": {
            "specversion": {"type": "string", "const": SPECVERSION},
            "id": {
                "type": "string",
                "format": "uuid",
                "description": "The event's id (the outbox event id); de-duplicate on it.",
            },
            "source": {"type": "string", "const": SOURCE},
            "type": {"type": "string", "description": "The event type, e.g. user.created."},
            "subject": {"type": "string", "format": "uuid", "description": "The aggregate id."},
            "time": {
                "type": "string",
                "format": "date-time",
                "description": "When the transaction that made the change began (UTC).",
            },
            "datacontenttype": {"type": "string", "const": DATA_CONTENT_TYPE},
            "aggregatetype": {"type": "string", "enum": ["user", "contact_type", "group"]},
            "sequence": {
                "type": "integer",
                "minimum": 1,
                "description": "The event's number within its aggregate, gap-free from 1.",
            },
            "actorid": {
                "type": "string",
                "format": "uuid",
                "description": "The acting user; absent when the system acted.",
            },
            "data": {"type": "object"},
        },
        "required": [
            "specversion",
            "id",
            "source",
            "type",
            "subject",
            "time",
            "datacontenttype",
            "aggregatetype",
            "sequence",
            "data",
        ],
    }


def _message(event: EventType) -> dict[str, Any]:
    sensitive = {"tags": [{"name": "sensitive", "description": _SENSITIVE}]}
    return {
        "name": event.name,
        "title": event.name,
        "summary": event.description,
        **(sensitive if event.sensitive else {}),
        "contentType": CONTENT_TYPE,
        "payload": {
            "allOf": [
                {"$ref": "#/components/schemas/CloudEvent"},
                {
                    "type": "object",
                    "properties": {
                        "type": {"const": event.name},
                        "aggregatetype": {"const": event.aggregate_type},
                        "data": event.data_schema,
                    },
                },
            ]
        },
        "bindings": {"amqp": {"messageType": event.name, "bindingVersion": _AMQP_BINDING_VERSION}},
    }


def build_document() -> dict[str, Any]:
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for event in EVENT_TYPES.values():
        key = _camel(event.name)
        messages[key] = _message(event)
        channels[key] = {
            "address": event.name,
            "title": event.name,
            "description": f"{event.description} Aggregate: {event.aggregate_type}.",
            "messages": {key: {"$ref": f"#/components/messages/{key}"}},
            "bindings": {
                "amqp": {
                    "is": "routingKey",
                    "exchange": {
                        "name": DEFAULT_EXCHANGE,
                        "type": "topic",
                        "durable": True,
                        "autoDelete": False,
                        "vhost": "/",
                    },
                    "bindingVersion": _AMQP_BINDING_VERSION,
                }
            },
        }
        operations["publish" + key[:1].upper() + key[1:]] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{key}"},
            "summary": f"The service publishes {event.name}.",
            "messages": [{"$ref": f"#/channels/{key}/messages/{key}"}],
            "bindings": {
                "amqp": {
                    "deliveryMode": 2,
                    "mandatory": True,
                    "timestamp": True,
                    "bindingVersion": _AMQP_BINDING_VERSION,
                }
            },
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "accounts-gql events",
            "version": "1.0.0",
            "description": _DESCRIPTION,
        },
        "defaultContentType": CONTENT_TYPE,
        "servers": {
            "rabbitmq": {
                "host": "localhost:5672",
                "protocol": "amqp",
                "protocolVersion": "0.9.1",
                "description": "The RabbitMQ broker named by RABBITMQ_URL.",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "schemas": {"CloudEvent": _cloud_event_schema(), **STATES},
            "messages": messages,
        },
    }


# A small block-style YAML emitter --------------------------------------------

_PLAIN = re.compile(r"^[A-Za-z_$][A-Za-z0-9 _./$+-]*$")
_RESERVED = {"true", "false", "null", "yes", "no", "on", "off", "y", "n", "~"}


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    text = str(value)
    if _PLAIN.match(text) and text.lower() not in _RESERVED and not text.endswith(" "):
        return text
    return orjson.dumps(text).decode()


def _block(value: Any, indent: int) -> list[str]:
    pad = " " * indent
    lines: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            head = f"{pad}{_scalar(key)}:"
            if isinstance(item, dict | list) and item:
                lines.append(head)
                lines.extend(_block(item, indent + 2))
            elif isinstance(item, str) and "\n" in item:
                lines.append(head + " |")
                lines.extend(
                    f"{pad}  {line}" if line else "" for line in item.rstrip("\n").split("\n")
                )
            else:
                lines.append(f"{head} {_inline(item)}")
    else:
        for item in value:
            if isinstance(item, dict | list) and item:
                nested = _block(item, indent + 2)
                nested[0] = f"{pad}- {nested[0][indent + 2 :]}"
                lines.extend(nested)
            else:
                lines.append(f"{pad}- {_inline(item)}")
    return lines


def _inline(value: Any) -> str:
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return _scalar(value)


def to_yaml(document: dict[str, Any]) -> str:
    return "\n".join(_block(document, 0)) + "\n"


def export_asyncapi() -> str:
    """The AsyncAPI document as YAML text (what `asyncapi.yaml` must hold)."""
    header = "# Generated from accounts_gql/events/registry.py; do not edit by hand.\n"
    return header + to_yaml(build_document())
