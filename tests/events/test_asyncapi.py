"""asyncapi.yaml is generated from the event registry and kept equal to it (PRODUCT §5)."""

from __future__ import annotations

import pytest

from accounts_gql.events.asyncapi import ASYNCAPI_FILE, build_document, export_asyncapi
from accounts_gql.events.registry import EVENT_TYPES

PRODUCT_TYPES = {
    "user.created", "user.updated", "user.profile_updated", "user.deactivated",
    "user.reactivated", "user.deleted", "contact.added", "contact.updated",
    "contact.primary_changed", "contact.deactivated", "contact_type.created",
    "contact_type.updated", "group.created", "group.updated", "group.deleted",
    "membership.added", "membership.role_changed", "membership.removed",
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
        assert event.aggregate_type == {"contact": "user", "membership": "group"}.get(
            event.name.split(".")[0], event.name.split(".")[0]
        )
