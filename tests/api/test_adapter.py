"""Each assumption api/engine/adapter.py makes of Strawberry and graphql-core, checked
on the installed versions: a test here fails on an upgrade that breaks one (README,
"Upgrading dependencies"). The suite also fails when a query the plans cover falls
back to the standard path (tests/api/conftest.py), which is how a broken assumption
shows otherwise."""

from __future__ import annotations

from datetime import UTC, datetime

from graphql import (
    GraphQLEnumType,
    GraphQLNonNull,
    GraphQLScalarType,
    GraphQLSchema,
    get_argument_values,
    parse,
)

from accounts_gql.api.engine import adapter
from accounts_gql.api.fields import FIELD_SOURCE, DataSource, RowSource
from accounts_gql.api.schema import schema
from accounts_gql.api.types.user import UserFilter, UserStatus
from accounts_gql.services.reads import users as user_reads


def test_the_graphql_core_schema_is_the_one_strawberry_exports() -> None:
    graphql = adapter.graphql_schema(schema)
    assert isinstance(graphql, GraphQLSchema)
    assert graphql.query_type is not None
    assert graphql.query_type.name == "Query"
    assert set(graphql.query_type.fields) >= {"me", "user", "users", "node", "nodes"}
    assert isinstance(adapter.execution_context_class(schema), type)


def test_field_facts_tell_attributes_rows_and_reads_apart() -> None:
    username = adapter.field_facts(schema, "User", "username")
    assert username is not None
    assert (username.python_name, username.has_resolver) == ("username", False)
    assert not username.has_extensions
    assert FIELD_SOURCE not in username.metadata
    status = adapter.field_facts(schema, "User", "status")
    assert status is not None
    assert status.has_resolver
    assert isinstance(status.metadata[FIELD_SOURCE], RowSource)
    contacts = adapter.field_facts(schema, "User", "contacts")
    assert contacts is not None
    source = contacts.metadata[FIELD_SOURCE]
    assert isinstance(source, DataSource)
    assert source.read is user_reads.USER_CONTACTS
    assert contacts.argument_names == {"type": "type", "includeInactive": "include_inactive"}
    assert adapter.field_facts(schema, "User", "noSuchField") is None


def test_arguments_convert_as_strawberry_converts_them_for_resolvers() -> None:
    graphql = adapter.graphql_schema(schema)
    users = adapter.field_facts(schema, "Query", "users")
    assert users is not None
    assert users.argument_names is None  # an input object: Strawberry converts it
    document = parse(
        '{ users(filter: {search: "al", status: ACTIVE}, orderBy: USERNAME_ASC) { totalCount } }'
    )
    node = document.definitions[0].selection_set.selections[0]  # type: ignore[attr-defined]
    assert graphql.query_type is not None
    raw = get_argument_values(graphql.query_type.fields["users"], node, None)
    converted = users.convert(raw)
    assert isinstance(converted["filter"], UserFilter)
    assert converted["filter"].status is UserStatus.ACTIVE
    assert converted["filter"].search == "al"
    assert converted["order_by"].value == "username_asc"


def test_strawberry_enums_carry_their_python_members() -> None:
    enum_type = adapter.graphql_schema(schema).get_type("UserStatus")
    assert isinstance(enum_type, GraphQLEnumType)
    members = adapter.enum_members(enum_type)
    assert members == list(UserStatus)
    assert [enum_type.coerce_output_value(member) for member in members] == [
        "ACTIVE",
        "DEACTIVATED",
    ]


def test_datetime_writes_isoformat() -> None:
    scalar = adapter.graphql_schema(schema).get_type("DateTime")
    assert isinstance(scalar, GraphQLScalarType)
    assert adapter.writes_isoformat(scalar)
    moment = datetime(2026, 12, 3, 8, 0, 0, 123456, tzinfo=UTC)
    assert scalar.coerce_output_value(moment) == moment.isoformat()
    string = adapter.graphql_schema(schema).get_type("String")
    assert isinstance(string, GraphQLScalarType)
    assert not adapter.writes_isoformat(string)


def test_variable_signatures_and_values_are_built_as_graphql_core_builds_them() -> None:
    graphql = adapter.graphql_schema(schema)
    operation = parse("query($id: ID!, $name: String) { me { id } }").definitions[0]
    signatures = [
        adapter.variable_signature(graphql, definition)
        for definition in operation.variable_definitions  # type: ignore[attr-defined]
    ]
    first, second = signatures
    assert not isinstance(first, Exception)
    assert not isinstance(second, Exception)
    assert (first.name, second.name) == ("id", "name")
    assert isinstance(first.type, GraphQLNonNull)
    values = adapter.VariableValues(
        {
            "id": adapter.VariableValueSource(first, "x"),
            "name": adapter.VariableValueSource(second),
        },
        {"id": "x"},
    )
    assert values.coerced == {"id": "x"}
