"""The read side's contract (services/reads/contract.py): every field that needs
data is one read of the services, with the visibility rule of one table."""

from __future__ import annotations

from accounts_gql.api.engine import adapter
from accounts_gql.api.fields import FIELD_SOURCE, DataSource
from accounts_gql.api.schema import schema
from accounts_gql.services.authorization import PRIVATE_USER_FIELDS, VISIBILITY, Visibility
from accounts_gql.services.reads.contract import READS


def data_fields() -> dict[tuple[str, str], DataSource]:
    """The schema's fields generated from a read, by (type, field)."""
    found: dict[tuple[str, str], DataSource] = {}
    for name, graphql_type in adapter.graphql_schema(schema).type_map.items():
        if name.startswith("__") or name in ("Mutation", "Subscription"):
            continue
        for field_name in getattr(graphql_type, "fields", {}) or {}:
            facts = (
                adapter.field_facts(schema, name, field_name)
                if hasattr(graphql_type, "is_type_of")
                else None
            )
            source = facts.metadata.get(FIELD_SOURCE) if facts else None
            if isinstance(source, DataSource):
                found[(name, field_name)] = source
    return found


def test_every_read_is_a_field_of_the_schema_with_its_rule_from_the_table() -> None:
    fields = data_fields()
    assert set(READS) == set(VISIBILITY) == set(fields)
    for key, source in fields.items():
        assert source.read is READS[key]
        assert source.read.visibility is VISIBILITY[key]


def test_no_query_field_has_a_resolver_of_its_own() -> None:
    """Fields that are not the row's attributes are reads or functions of the row, so
    both execution paths run the same code (mutation payloads aside)."""
    graphql = adapter.graphql_schema(schema)
    payloads = {"AuthPayload"}  # a mutation's payload: the plans never run it
    for name, graphql_type in graphql.type_map.items():
        if name.startswith("__") or name in payloads or not hasattr(graphql_type, "is_type_of"):
            continue
        # Mutations, and the subscription (its rules: services/reads/events.py),
        # are never planned.
        if name in ("Mutation", "Subscription"):
            continue
        for field_name in graphql_type.fields:  # type: ignore[attr-defined]
            facts = adapter.field_facts(schema, name, field_name)
            assert facts is not None, (name, field_name)
            assert not facts.has_resolver or FIELD_SOURCE in facts.metadata, (name, field_name)


def test_the_private_user_fields_are_the_tables() -> None:
    assert {"profile", "contacts", "primaryContact", "sessions"} == PRIVATE_USER_FIELDS
    for field in PRIVATE_USER_FIELDS:
        assert READS[("User", field)].visibility is Visibility.SELF_OR_ADMIN
