"""CompleteValue of the GraphQL specification, for a plan's fields (the one completer).

A plan completes a field for every object of a level at once (`complete_field`):
the common shapes inline, one call per field rather than per value; leaves by a
completer specialised for their type when built (`completer`). Values become
plain dicts and lists, ready for orjson (which also writes UTC datetimes as
`isoformat()` would). The objects a field returns go to the next level as a
`Level` entry: the fields to answer on them, the objects, and their output dicts.

A plan only completes values that need no error: anything else (an error, a null
where none may be, a value of the wrong type) raises `Deoptimized`, and the
standard execution answers the operation instead, as the specification says.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from datetime import UTC, datetime
from itertools import chain
from typing import TYPE_CHECKING, Any, cast

from graphql import (
    GraphQLEnumType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLScalarType,
    GraphQLSchema,
    Undefined,
    default_type_resolver,
)

from accounts_gql.api.engine import adapter

if TYPE_CHECKING:
    from accounts_gql.api.engine.plans import FieldPlan

# A value's completion: the JSON-ready value; objects are sent to the sink (the
# next level) as (object, its output dict).
Sink = list[tuple[Any, dict[str, Any]]]
Completer = Callable[[Any, Sink], Any]
# The fields of one object type, the objects of a level that select them, and
# the dicts their answers go into.
Batch = tuple[list["FieldPlan"], list[Any], list[dict[str, Any]]]


class Shape(enum.Enum):
    EXACT_LEAF = "exact leaf"  # String, ID, Boolean
    OBJECT = "object"
    OBJECT_LIST = "list of objects"
    ABSTRACT = "interface or union"
    ABSTRACT_LIST = "list of interfaces or unions"
    OTHER = "other"  # completed value by value by the field's completer


class Deoptimized(Exception):
    """The plan's result cannot stand (an error, a null where none may be); the
    standard execution runs the operation instead and reports it as the spec says."""


# The class each object type last accepted, by type name. The is_type_of of this
# schema's types looks at the class only (isinstance of a row class), so a class
# accepted once is not asked about again; a type without is_type_of takes any.
_accepted: dict[str, type] = {}
_LIST = {list}


def complete_field(
    plan: FieldPlan, outs: list[dict[str, Any]], values: list[Any], schema: GraphQLSchema
) -> list[Batch]:
    """Writes the field's completed values into `outs`; the objects it returned, by the
    fields to answer on them, for the next level."""
    if plan.abstract_type is not None:
        return _complete_abstract(plan, outs, values, schema)
    key, shape = plan.key, plan.shape
    if shape is Shape.EXACT_LEAF:
        exact, complete_one = plan.exact, plan.complete
        for out, value in zip(outs, values, strict=True):
            out[key] = value if type(value) is exact else complete_one(value, [])
        return []
    if shape is Shape.OTHER:
        sink: Sink = []
        complete_one = plan.complete
        for out, value in zip(outs, values, strict=True):
            out[key] = complete_one(value, sink)
        if not sink:
            return []
        assert plan.child is not None
        return [(plan.child, [obj for obj, _ in sink], [o for _, o in sink])]
    return _complete_objects(plan, outs, values)


def complete_leaves(plan: FieldPlan, outs: list[dict[str, Any]], parents: list[Any]) -> None:
    """An EXACT_LEAF field read off each parent while completing (one pass, not two)."""
    per_parent, key = plan.per_parent, plan.key
    exact, complete_one = plan.exact, plan.complete
    assert per_parent is not None
    try:
        for out, parent in zip(outs, parents, strict=True):
            value = per_parent(parent)
            out[key] = value if type(value) is exact else complete_one(value, [])
    except Exception as error:
        raise Deoptimized(str(error)) from error


def _complete_objects(
    plan: FieldPlan, outs: list[dict[str, Any]], values: list[Any]
) -> list[Batch]:
    """An object or a list of objects, per value (the bulk path first)."""
    bulk = _complete_in_bulk(plan, outs, values)
    if bulk is not None:
        return [bulk]
    object_type = plan.object_type
    assert object_type is not None
    assert plan.child is not None
    name, is_type_of = object_type.name, object_type.is_type_of
    key, accepted = plan.key, _accepted.get(object_type.name)
    parents: list[Any] = []
    children: list[dict[str, Any]] = []

    def accept(value: Any) -> None:
        nonlocal accepted
        if isinstance(value, Exception):
            raise Deoptimized(str(value))
        if is_type_of is not None and type(value) is not accepted:
            if not is_type_of(value, None):  # type: ignore[arg-type]
                raise Deoptimized(f"not the type of {key}")
            accepted = _accepted[name] = type(value)
        parents.append(value)

    for out, value in zip(outs, values, strict=True):
        if value is None:
            if plan.non_null:
                raise Deoptimized(f"null for the non-null {key}")
            out[key] = None
        elif plan.shape is Shape.OBJECT:
            accept(value)
            child: dict[str, Any] = {}
            out[key] = child
            children.append(child)
        else:
            if not isinstance(value, list | tuple):
                raise Deoptimized(f"not a list for {key}")
            items: list[dict[str, Any] | None] = []
            for item in value:
                if item is None:
                    if plan.items_non_null:
                        raise Deoptimized(f"null item in {key}")
                    items.append(None)
                    continue
                accept(item)
                child = {}
                items.append(child)
                children.append(child)
            out[key] = items
    if not parents:
        return []
    if is_type_of is None:  # any class will do: remember one for the bulk path
        _accepted[name] = type(parents[-1])
    return [(plan.child, parents, children)]


def _complete_in_bulk(
    plan: FieldPlan, outs: list[dict[str, Any]], values: list[Any]
) -> Batch | None:
    """The common case without a check per object: every value (every item of
    every list) an object of the one class already accepted. None otherwise."""
    object_type = plan.object_type
    assert object_type is not None
    assert plan.child is not None
    objects = values
    if plan.shape is Shape.OBJECT_LIST:
        if set(map(type, values)) != _LIST:
            return None
        objects = list(chain.from_iterable(values))
    if not objects or set(map(type, objects)) != {_accepted.get(object_type.name)}:
        return None
    key = plan.key
    children: list[dict[str, Any]] = [{} for _ in objects]
    if plan.shape is Shape.OBJECT:
        for out, child in zip(outs, children, strict=True):
            out[key] = child
        return plan.child, objects, children
    start = 0
    for out, items in zip(outs, values, strict=True):
        end = start + len(items)
        out[key] = children[start:end]
        start = end
    return plan.child, objects, children


class _TypeResolveInfo:
    """What the type resolvers of interfaces and unions read from `info`."""

    __slots__ = ("field_name", "schema")

    def __init__(self, schema: GraphQLSchema, field_name: str) -> None:
        self.schema = schema
        self.field_name = field_name

    @staticmethod
    def is_awaitable(value: Any) -> bool:
        # graphql-core's default type resolver checks is_type_of results with it;
        # this schema's are plain booleans.
        return False


def _complete_abstract(
    plan: FieldPlan, outs: list[dict[str, Any]], values: list[Any], schema: GraphQLSchema
) -> list[Batch]:
    """An interface or union field: a batch per runtime type.

    The runtime type comes from the abstract type's own resolver, as graphql-core
    asks it (Strawberry's, falling back to each possible type's is_type_of).
    """
    abstract = plan.abstract_type
    assert abstract is not None
    resolve_type = abstract.resolve_type or default_type_resolver
    info = cast("GraphQLResolveInfo[Any]", _TypeResolveInfo(schema, plan.key))
    batches: dict[str, Batch] = {}

    def place(value: Any) -> dict[str, Any]:
        """The object's output dict, in its runtime type's batch."""
        if isinstance(value, Exception):  # an item's own error (nodes(ids:))
            raise Deoptimized(str(value))
        name = resolve_type(value, info, abstract)
        if not isinstance(name, str) or plan.children is None or name not in plan.children:
            raise Deoptimized(f"no runtime type for {plan.key}")
        object_type = schema.get_type(name)
        assert isinstance(object_type, GraphQLObjectType)
        if object_type.is_type_of is not None and not object_type.is_type_of(value, info):
            raise Deoptimized(f"not a {name}")
        child: dict[str, Any] = {}
        batch = batches.get(name)
        if batch is None:
            batch = batches[name] = (plan.children[name], [], [])
        batch[1].append(value)
        batch[2].append(child)
        return child

    key = plan.key
    for out, value in zip(outs, values, strict=True):
        if value is None:
            if plan.non_null:
                raise Deoptimized(f"null for the non-null {key}")
            out[key] = None
        elif plan.shape is Shape.ABSTRACT:
            out[key] = place(value)
        else:
            if not isinstance(value, list | tuple):
                raise Deoptimized(f"not a list for {key}")
            items: list[dict[str, Any] | None] = []
            for item in value:
                if item is None:
                    if plan.items_non_null:
                        raise Deoptimized(f"null item in {key}")
                    items.append(None)
                else:
                    items.append(place(item))
            out[key] = items
    return list(batches.values())


def completer(return_type: GraphQLOutputType) -> Completer:
    """A value's completion, specialised for one type (leaves and nested lists)."""
    non_null = isinstance(return_type, GraphQLNonNull)
    named = return_type.of_type if isinstance(return_type, GraphQLNonNull) else return_type
    if isinstance(named, GraphQLList):
        inner = _list(completer(named.of_type))
        return _non_null(inner) if non_null else inner
    if isinstance(named, GraphQLObjectType):
        return _object(named, non_null)
    if isinstance(named, GraphQLScalarType | GraphQLEnumType):
        return _leaf(named, non_null)
    return _abstract  # complete_field completes interfaces and unions itself


def exact_type(return_type: GraphQLOutputType) -> type | None:
    """The Python type whose values a leaf field passes through unchanged, if any."""
    named = return_type.of_type if isinstance(return_type, GraphQLNonNull) else return_type
    if isinstance(named, GraphQLScalarType):
        return _EXACT.get(named.name)
    return None


def _abstract(value: Any, sink: Sink) -> Any:
    raise Deoptimized("an interface or union inside a nested list")


def _non_null(inner: Completer) -> Completer:
    def complete(value: Any, sink: Sink) -> Any:
        completed = inner(value, sink)
        if completed is None:
            raise Deoptimized("null for a non-null field")
        return completed

    return complete


def _list(inner: Completer) -> Completer:
    def complete(value: Any, sink: Sink) -> Any:
        if value is None:
            return None
        if not isinstance(value, list | tuple):
            raise Deoptimized("not a list")
        return [inner(item, sink) for item in value]

    return complete


def _object(object_type: GraphQLObjectType, non_null: bool) -> Completer:
    is_type_of = object_type.is_type_of

    def complete(value: Any, sink: Sink) -> Any:
        if value is None:
            if non_null:
                raise Deoptimized("null for a non-null field")
            return None
        if isinstance(value, Exception) or (
            is_type_of is not None and not is_type_of(value, None)  # type: ignore[arg-type]
        ):
            raise Deoptimized(f"not a {object_type.name}")
        out: dict[str, Any] = {}
        sink.append((value, out))
        return out

    return complete


# Built-in scalars whose Python values pass through unchanged.
_EXACT: dict[str, type] = {"String": str, "ID": str, "Boolean": bool}
_INT_RANGE = range(-(2**31), 2**31)


def _leaf(leaf_type: GraphQLScalarType | GraphQLEnumType, non_null: bool) -> Completer:
    coerce = leaf_type.coerce_output_value
    exact = _EXACT.get(leaf_type.name)
    is_int = leaf_type.name == "Int"
    # A Strawberry enum's members and their names, as its own coercion gives them;
    # by id, as members are singletons and an Enum's hash is a Python call.
    members = adapter.enum_members(leaf_type) if isinstance(leaf_type, GraphQLEnumType) else []
    member_class = type(members[0]) if members else None
    names: dict[int, str] = {id(member): coerce(member) for member in members}
    # Strawberry's DateTime writes isoformat(); orjson writes the same text for a
    # UTC datetime (tests/api/test_ids.py), in C, when the response is dumped.
    utc_datetimes = isinstance(leaf_type, GraphQLScalarType) and adapter.writes_isoformat(leaf_type)

    def complete(value: Any, _sink: Sink) -> Any:
        if value is None or value is Undefined:
            if non_null:
                raise Deoptimized("null for a non-null field")
            return None
        kind = type(value)
        if kind is exact or (is_int and kind is int and value in _INT_RANGE):
            return value
        if utc_datetimes and kind is datetime and value.tzinfo is UTC:
            return value
        name = names.get(id(value)) if kind is member_class else None
        if name is not None:
            return name
        if isinstance(value, Exception):
            raise Deoptimized(str(value))
        try:
            coerced = coerce(value)
        except Exception as error:
            raise Deoptimized(str(error)) from error
        if coerced is None or coerced is Undefined:
            raise Deoptimized("a leaf that coerced to null")
        return coerced

    return complete
