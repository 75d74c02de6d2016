"""What the engine assumes of Strawberry and graphql-core beyond their public API.

The only module that touches either library's private surface (a test reads the
source to hold that: tests/test_layers.py). Each assumption below has a test in
tests/api/test_adapter.py that fails on an upgrade that breaks it, and the suite
fails when a query the plans cover falls back to the standard execution
(tests/api/conftest.py), which is what a quietly broken assumption looks like.
Upgrading either library: README, "Upgrading dependencies".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from graphql import GraphQLEnumType, GraphQLError, GraphQLScalarType, GraphQLSchema
from graphql.execution.get_variable_signature import (
    GraphQLVariableSignature,
    get_variable_signature,
)
from graphql.execution.values import VariableValues, VariableValueSource
from graphql.language import VariableDefinitionNode
from strawberry.relay import GlobalID
from strawberry.schema.schema import Schema
from strawberry.schema.types import base_scalars
from strawberry.types.arguments import convert_arguments
from strawberry.types.base import StrawberryMaybe, StrawberryOptional
from strawberry.types.enum import StrawberryEnumDefinition
from strawberry.types.field import StrawberryField

__all__ = [
    "FieldFacts",
    "GraphQLVariableSignature",
    "VariableValueSource",
    "VariableValues",
    "enum_members",
    "execution_context_class",
    "field_facts",
    "graphql_schema",
    "variable_signature",
    "writes_isoformat",
]


def graphql_schema(schema: Schema) -> GraphQLSchema:
    """The graphql-core schema Strawberry built (documents are validated and
    executed against it)."""
    return schema._schema


def execution_context_class(schema: Schema) -> Any:
    """The execution context Strawberry runs graphql-core with."""
    return schema.execution_context_class


@dataclass(frozen=True, slots=True)
class FieldFacts:
    """What a plan needs to know of one field of an object type."""

    python_name: str
    has_resolver: bool
    # Field extensions wrap the resolver: a plan would skip them, so it does not run.
    has_extensions: bool
    metadata: Mapping[str, Any]
    # The arguments as Strawberry converts them to the resolver's, from graphql-core's
    # coerced values; `argument_names` when the conversion is only a renaming.
    convert: Callable[[dict[str, Any]], dict[str, Any]]
    argument_names: dict[str, str] | None
    has_arguments: bool


def field_facts(schema: Schema, type_name: str, field_name: str) -> FieldFacts | None:
    """The facts of a field of a Strawberry object type; None if it is not one."""
    field = schema.get_field_for_type(field_name, type_name)
    if not isinstance(field, StrawberryField) or field.python_name is None:
        return None
    registry = schema.schema_converter.scalar_registry
    config = schema.config

    def convert(raw: dict[str, Any]) -> dict[str, Any]:
        return convert_arguments(raw, field.arguments, scalar_registry=registry, config=config)

    return FieldFacts(
        python_name=field.python_name,
        has_resolver=field.base_resolver is not None,
        has_extensions=bool(field.extensions),
        metadata=field.metadata or {},
        convert=convert,
        argument_names=_leaf_argument_names(schema, field),
        has_arguments=bool(field.arguments),
    )


def _leaf_argument_names(schema: Schema, field: StrawberryField) -> dict[str, str] | None:
    """Python name by GraphQL name when every argument is a scalar or an enum
    (optional or not): values graphql-core coerced that Strawberry's conversion
    passes on unchanged (GlobalID and Maybe excepted). Else None: Strawberry converts."""
    registry = schema.schema_converter.scalar_registry
    names: dict[str, str] = {}
    for argument in field.arguments:
        kind = argument.type
        if isinstance(kind, StrawberryMaybe):
            return None
        if isinstance(kind, StrawberryOptional):
            kind = kind.of_type
        leaf = kind in registry or isinstance(kind, StrawberryEnumDefinition)
        if not leaf or kind is GlobalID or argument.python_name is None:
            return None
        names[schema.config.name_converter.from_argument(argument)] = argument.python_name
    return names


def enum_members(enum_type: GraphQLEnumType) -> list[Any]:
    """The Python enum members of a Strawberry enum (empty for any other enum)."""
    return list(getattr(enum_type, "wrapped_cls", None) or ())


def writes_isoformat(scalar: GraphQLScalarType) -> bool:
    """Whether the scalar writes a datetime as `isoformat()` does (Strawberry's DateTime)."""
    return scalar.coerce_output_value is base_scalars.isoformat


def variable_signature(
    schema: GraphQLSchema, definition: VariableDefinitionNode
) -> GraphQLVariableSignature | GraphQLError:
    """graphql-core's signature of a variable: its name, type and default."""
    return get_variable_signature(schema, definition)
