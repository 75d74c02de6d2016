"""asyncapi.yaml is generated from the event registry and kept equal to it (PRODUCT §5)."""

from __future__ import annotations

from typing import Any

import pytest

from accounts_gql.events.asyncapi import ASYNCAPI_FILE, build_document, export_asyncapi
from accounts_gql.events.registry import EVENT_TYPES

PRODUCT_TYPES = {
    "user.created", "user.updated", "user.profile_updated", "user.deactivated",
    "user.reactivated", "user.deleted", "contact.added", "contact.updated",
    "contact.primary_changed", "contact.deactivated", "contact_type.created",
    "contact_type.updated", "group.created", "group.updated", "group.deleted",
    "membership.added", "membership.role_changed", "membership.removed",
    # Issue 17's identity flows.
    "session.revoked", "contact.verification_requested", "contact.verified",
    "user.password_reset_requested", "user.password_reset",
}  # fmt: skip


def test_asyncapi_file_equals_the_export() -> None:
    assert ASYNCAPI_FILE.read_text(encoding="utf-8") == export_asyncapi(), (
        "asyncapi.yaml is stale: write export_asyncapi() to it"
    )


def test_asyncapi_file_is_yaml_of_the_document() -> None:
    # PyYAML reads the file as any consumer would (it comes with uvicorn[standard]).
    yaml = pytest.importorskip("yaml")
    document = yaml.safe_load(ASYNCAPI_FILE.read_text(encoding="utf-8"))
    assert document == build_document()
    assert document["asyncapi"] == "3.0.0"
    addresses = {channel["address"] for channel in document["channels"].values()}
    assert addresses == PRODUCT_TYPES


def test_registry_lists_every_event_type_of_the_product() -> None:
    assert set(EVENT_TYPES) == PRODUCT_TYPES
    for event in EVENT_TYPES.values():
        assert event.aggregate_type == {
            "contact": "user",
            "membership": "group",
            "session": "user",
        }.get(event.name.split(".")[0], event.name.split(".")[0])


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


def _resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        assert isinstance(node, dict), ref
        assert part in node, f"unresolved {ref}"
        node = node[part]
    return node


def test_every_reference_resolves_and_operations_send_their_channels_messages() -> None:
    document = build_document()
    for ref in _refs(document):
        _resolve(document, ref)
    for name, operation in document["operations"].items():
        channel = _resolve(document, operation["channel"]["$ref"])
        for message in operation["messages"]:
            # AsyncAPI 3: an operation's messages are references into its channel.
            assert message["$ref"].startswith(operation["channel"]["$ref"] + "/messages/"), name
            assert _resolve(document, message["$ref"]) in channel["messages"].values()
        assert channel["bindings"]["amqp"]["exchange"]["type"] == "topic"
        assert channel["bindings"]["amqp"]["exchange"]["durable"] is True
