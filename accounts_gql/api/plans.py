"""Execution plans for queries (PRODUCT §8).

graphql-core completes every field of every object on its own: a coroutine, a
task and a wrapper per value. A plan does that work once per document instead:
for each object type the operation reaches it lists the fields to answer, after
fragments and @skip/@include are applied, each with how to get its values for
all objects of one level at once (`FieldKind`) and how to complete them. The
executor (api/executor.py) then walks the plan level by level.

Fields are resolved by the code the standard path runs: plain attributes by
name, Strawberry resolvers as written, and the fields that read through a
dataloader by the batch functions their resolvers themselves call (`BATCHED`),
so both paths apply the same authorization rules. A plan is built only for
shapes it knows; for anything else (`PlanCache` has no plan: mutations,
introspection, abstract types, field extensions, fragment arguments) the
operation goes through the standard execution, as it does on any error (see
api/executor.py).
"""

from __future__ import annotations

import enum
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import attrgetter
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLEnumType,
    GraphQLError,
    GraphQLField,
    GraphQLID,
    GraphQLIncludeDirective,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLSkipDirective,
    GraphQLString,
    GraphQLUnionType,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    Undefined,
    VariableNode,
    get_named_type,
)
from graphql.execution.get_variable_signature import (
    GraphQLVariableSignature,
    get_variable_signature,
)
from graphql.execution.values import (
    VariableValues,
    VariableValueSource,
    get_argument_values,
    get_directive_values,
)
from graphql.language import Visitor, visit
from loguru import logger
from strawberry.relay import GlobalID
from strawberry.schema.schema import Schema
from strawberry.schema.types import base_scalars
from strawberry.types.arguments import convert_arguments
from strawberry.types.base import StrawberryMaybe, StrawberryOptional
from strawberry.types.enum import StrawberryEnumDefinition
from strawberry.types.field import StrawberryField

from accounts_gql.api.types.contact import contacts_type, contacts_user
from accounts_gql.api.types.group import groups_member_count, groups_members, query_group
from accounts_gql.api.types.membership import memberships_group, memberships_user
from accounts_gql.api.types.user import (
    query_user,
    users_contacts,
    users_memberships,
    users_primary_contact,
)

BatchResolver = Callable[..., Awaitable[list[Any]]]
# A value's completion: the JSON-ready value; objects are sent to the sink (the
# next level) as (object, its output dict).
Sink = list[tuple[Any, dict[str, Any]]]
Completer = Callable[[Any, Sink], Any]

# Fields that read through a dataloader, by (type, field): one call per level
# with every parent object instead of one coroutine per object.
BATCHED: dict[tuple[str, str], BatchResolver] = {
    ("Query", "user"): query_user,
    ("Query", "group"): query_group,
    ("User", "contacts"): users_contacts,
    ("User", "primaryContact"): users_primary_contact,
    ("User", "memberships"): users_memberships,
    ("Contact", "type"): contacts_type,
    ("Contact", "user"): contacts_user,
    ("Membership", "user"): memberships_user,
    ("Membership", "group"): memberships_group,
    ("Group", "memberCount"): groups_member_count,
    ("Group", "members"): groups_members,
}


TYPENAME_TYPE = GraphQLNonNull(GraphQLString)


class FieldKind(enum.Enum):
    TYPENAME = "typename"  # __typename
    ATTRIBUTE = "attribute"  # a field without resolver: the parent's attribute
    METHOD = "method"  # a Strawberry resolver, called per parent object
    BATCH = "batch"  # a function of BATCHED, called once with all parent objects


class Shape(enum.Enum):
    EXACT_LEAF = "exact leaf"  # String, ID, Boolean
    OBJECT = "object"
    OBJECT_LIST = "list of objects"
    ABSTRACT = "interface or union"
    ABSTRACT_LIST = "list of interfaces or unions"
    OTHER = "other"  # completed by FieldPlan.complete


class Deoptimized(Exception):
    """The plan's result cannot stand (an error, a null where none may be); the
    standard execution runs the operation instead and reports it as the spec says."""


class Unsupported(Exception):
    """The operation has a shape plans do not cover; the standard execution runs it."""


@dataclass(slots=True)
class FieldPlan:
    key: str  # the response key: the alias or the field's name
    kind: FieldKind
    parent_type: str
    return_type: GraphQLOutputType
    node: FieldNode
    graphql_field: GraphQLField | None = None
    strawberry_field: StrawberryField | None = None
    # ATTRIBUTE: reads the attribute; METHOD: the resolver; BATCH: the batch function.
    getter: Callable[[Any], Any] | None = None
    function: Callable[..., Any] | None = None
    passes_self: bool = False
    parent_only: bool = False  # the resolver's one parameter is the parent
    # EXACT_LEAF fields whose value is a plain function of the parent (an
    # attribute, a synchronous parent-only resolver): read while completing.
    per_parent: Callable[[Any], Any] | None = None
    parent_parameter: str | None = None  # the resolver's root/parent parameter
    info_parameter: str | None = None
    is_async: bool = False
    # The resolver's keyword arguments when literals fix them; else built per request.
    arguments: dict[str, Any] | None = None
    # Python name by GraphQL name when Strawberry passes every argument unchanged.
    argument_names: dict[str, str] | None = None
    # The fields to answer on the objects this field returns: `child` for an
    # object type, `children` by runtime type for an interface or a union.
    child: list[FieldPlan] | None = None
    children: dict[str, list[FieldPlan]] | None = None
    # Completes one value; objects go to the sink for the next level.
    complete: Completer = field(default=None)  # type: ignore[assignment]
    # How the executor completes the values: a shape it handles inline, or OTHER
    # (the completer). EXACT_LEAF values of the `exact` Python type pass unchanged.
    shape: Shape = field(default=None)  # type: ignore[assignment]
    exact: type | None = None
    non_null: bool = False  # the field's type is non-null
    items_non_null: bool = False  # OBJECT_LIST: its items are non-null
    is_type_of: Callable[[Any, Any], Any] | None = None  # OBJECT, OBJECT_LIST
    accepted: type | None = None  # the class is_type_of last accepted
    abstract_type: GraphQLInterfaceType | GraphQLUnionType | None = None  # ABSTRACT*

    def __post_init__(self) -> None:
        self.complete = completer(self.return_type)
        self.exact = exact_type(self.return_type)
        inner = self.return_type
        self.non_null = isinstance(inner, GraphQLNonNull)
        if isinstance(inner, GraphQLNonNull):
            inner = inner.of_type
        self.shape = Shape.OTHER
        if isinstance(inner, GraphQLList):
            item = inner.of_type
            self.items_non_null = isinstance(item, GraphQLNonNull)
            if isinstance(item, GraphQLNonNull):
                item = item.of_type
            if isinstance(item, GraphQLObjectType):
                self.shape, self.is_type_of = Shape.OBJECT_LIST, item.is_type_of
            elif isinstance(item, GraphQLInterfaceType | GraphQLUnionType):
                self.shape, self.abstract_type = Shape.ABSTRACT_LIST, item
        elif isinstance(inner, GraphQLObjectType):
            self.shape, self.is_type_of = Shape.OBJECT, inner.is_type_of
        elif isinstance(inner, GraphQLInterfaceType | GraphQLUnionType):
            self.shape, self.abstract_type = Shape.ABSTRACT, inner
        elif self.exact is not None:
            self.shape = Shape.EXACT_LEAF


@dataclass(slots=True)
class Plan:
    operation: OperationDefinitionNode
    fields: list[FieldPlan]


@dataclass(slots=True)
class PlanTemplate:
    """What a document's operation needs before its plan can be built."""

    operation: OperationDefinitionNode
    fragments: dict[str, FragmentDefinitionNode]
    # Variables that @skip/@include read: each combination of values has its plan.
    directive_variables: tuple[str, ...]
    plans: dict[tuple[Any, ...], Plan | None] = field(default_factory=dict)
    # When every variable is an ID or a String without default: their signatures.
    text_variables: tuple[TextVariable, ...] | None = None

    def coerce_text_variables(self, inputs: dict[str, Any]) -> VariableValues | None:
        """The variables as graphql-core coerces them, for text variables given as
        strings (or nullable ones as null or not at all); None for anything else."""
        if self.text_variables is None:
            return None
        sources: dict[str, VariableValueSource] = {}
        coerced: dict[str, Any] = {}
        for name, signature, non_null in self.text_variables:
            value = inputs.get(name, Undefined)
            if value is Undefined:
                if non_null:
                    return None
                sources[name] = VariableValueSource(signature)
                continue
            if type(value) is not str and (value is not None or non_null):
                return None
            sources[name] = VariableValueSource(signature, value)
            coerced[name] = value
        return VariableValues(sources, coerced)


# A variable's name, signature and whether its type is non-null.
TextVariable = tuple[str, GraphQLVariableSignature, bool]


def text_variables(
    schema: GraphQLSchema, operation: OperationDefinitionNode
) -> tuple[TextVariable, ...] | None:
    """The operation's variables when each is an ID or a String without default
    (graphql-core coerces a string of those to itself), else None."""
    found: list[TextVariable] = []
    for definition in operation.variable_definitions or ():
        if definition.default_value is not None or definition.directives:
            return None
        signature = get_variable_signature(schema, definition)
        if isinstance(signature, GraphQLError):
            return None
        kind, non_null = signature.type, isinstance(signature.type, GraphQLNonNull)
        if isinstance(kind, GraphQLNonNull):
            kind = kind.of_type
        if (
            not (kind is GraphQLID or kind is GraphQLString)
            or schema.get_type(kind.name) is not kind
        ):
            return None
        found.append((signature.name, signature, non_null))
    return tuple(found)


class PlanBuilder:
    """Builds the plan of one operation for one set of variable values."""

    def __init__(
        self,
        schema: Schema,
        fragments: dict[str, FragmentDefinitionNode],
        variables: VariableValues,
    ) -> None:
        self.schema = schema
        self.graphql_schema: GraphQLSchema = schema._schema
        self.fragments = fragments
        self.variables = variables

    def build(self, operation: OperationDefinitionNode) -> Plan:
        root = self.graphql_schema.query_type
        assert root is not None
        return Plan(operation, self.object_fields(root, [operation.selection_set]))

    def object_fields(
        self, object_type: GraphQLObjectType, selection_sets: list[SelectionSetNode]
    ) -> list[FieldPlan]:
        grouped: dict[str, list[FieldNode]] = {}
        for selection_set in selection_sets:
            self.collect(object_type, selection_set, grouped, set())
        return [self.field_plan(object_type, key, nodes) for key, nodes in grouped.items()]

    def collect(
        self,
        object_type: GraphQLObjectType,
        selection_set: SelectionSetNode,
        grouped: dict[str, list[FieldNode]],
        visited: set[str],
    ) -> None:
        """CollectFields of the GraphQL specification, for one object type."""
        for selection in selection_set.selections:
            if not self.included(selection):
                continue
            if isinstance(selection, FieldNode):
                key = selection.alias.value if selection.alias else selection.name.value
                grouped.setdefault(key, []).append(selection)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                if condition is None or self.applies(condition.name.value, object_type):
                    self.collect(object_type, selection.selection_set, grouped, visited)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name in visited:
                    continue
                visited.add(name)
                fragment = self.fragments[name]
                if self.applies(fragment.type_condition.name.value, object_type):
                    self.collect(object_type, fragment.selection_set, grouped, visited)

    def included(self, node: Any) -> bool:
        skip = get_directive_values(GraphQLSkipDirective, node, self.variables)
        if skip is not None and skip["if"] is True:
            return False
        include = get_directive_values(GraphQLIncludeDirective, node, self.variables)
        return not (include is not None and include["if"] is False)

    def applies(self, condition: str, object_type: GraphQLObjectType) -> bool:
        if condition == object_type.name:
            return True
        abstract = self.graphql_schema.get_type(condition)
        return abstract is not None and self.graphql_schema.is_sub_type(
            abstract,  # type: ignore[arg-type]
            object_type,
        )

    def field_plan(self, parent: GraphQLObjectType, key: str, nodes: list[FieldNode]) -> FieldPlan:
        node = nodes[0]
        name = node.name.value
        if name == "__typename":
            return FieldPlan(key, FieldKind.TYPENAME, parent.name, TYPENAME_TYPE, node)
        if name.startswith("__"):
            raise Unsupported("introspection")
        graphql_field = parent.fields[name]
        strawberry_field = graphql_field.extensions.get("strawberry-definition")
        if not isinstance(strawberry_field, StrawberryField) or strawberry_field.extensions:
            raise Unsupported(f"{parent.name}.{name}")
        plan = FieldPlan(
            key,
            FieldKind.ATTRIBUTE,
            parent.name,
            graphql_field.type,
            node,
            graphql_field=graphql_field,
            strawberry_field=strawberry_field,
            getter=attrgetter(strawberry_field.python_name),
        )
        batch = BATCHED.get((parent.name, name))
        resolver = strawberry_field.base_resolver
        if batch is not None:
            plan.kind, plan.function = FieldKind.BATCH, batch
        elif resolver is not None:
            parent_parameter = resolver.parent_parameter or resolver.root_parameter
            info_parameter = resolver.info_parameter
            plan.kind = FieldKind.METHOD
            function = resolver.wrapped_func
            if not callable(function):
                raise Unsupported(f"{parent.name}.{name}: a descriptor")
            plan.function = function
            plan.passes_self = resolver.self_parameter is not None
            plan.parent_parameter = parent_parameter.name if parent_parameter else None
            plan.info_parameter = info_parameter.name if info_parameter else None
            plan.is_async = strawberry_field.is_async
            # Most resolvers (ids, enums) take the parent alone: called positionally.
            plan.parent_only = len(resolver.signature.parameters) == 1 and bool(
                plan.passes_self or plan.parent_parameter
            )
        if plan.shape is Shape.EXACT_LEAF:
            if plan.kind is FieldKind.ATTRIBUTE:
                plan.per_parent = plan.getter
            elif plan.kind is FieldKind.METHOD and plan.parent_only and not plan.is_async:
                plan.per_parent = plan.function
        if not strawberry_field.arguments:
            plan.arguments = {}
        else:
            plan.argument_names = _leaf_argument_names(self.schema, strawberry_field)
            if not _uses_variables(node):
                plan.arguments = field_arguments(self.schema, plan, self.variables)
        named = get_named_type(graphql_field.type)
        selection_sets = [n.selection_set for n in nodes if n.selection_set is not None]
        if isinstance(named, GraphQLObjectType):
            plan.child = self.object_fields(named, selection_sets)
        elif isinstance(named, GraphQLInterfaceType | GraphQLUnionType):
            plan.children = {
                possible.name: self.object_fields(possible, selection_sets)
                for possible in self.graphql_schema.get_possible_types(named)
            }
            if plan.shape is Shape.OTHER:
                raise Unsupported(f"{parent.name}.{name}: nested lists of {named}")
        return plan


def completer(return_type: GraphQLOutputType) -> Completer:
    """CompleteValue of the GraphQL specification, specialised for one type."""
    non_null = isinstance(return_type, GraphQLNonNull)
    named = return_type.of_type if isinstance(return_type, GraphQLNonNull) else return_type
    if isinstance(named, GraphQLList):
        inner = _list(completer(named.of_type))
        return _non_null(inner) if non_null else inner
    if isinstance(named, GraphQLObjectType):
        return _object(named, non_null)
    if isinstance(named, GraphQLScalarType | GraphQLEnumType):
        return _leaf(named, non_null)
    return _abstract  # the executor completes interfaces and unions itself


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
        if is_type_of is not None and not is_type_of(value, None):  # type: ignore[arg-type]
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
    members = getattr(leaf_type, "wrapped_cls", None)
    names: dict[int, str] = {id(member): coerce(member) for member in members or ()}
    # Strawberry's DateTime writes isoformat(); orjson writes the same text for a
    # UTC datetime (tests/api/test_ids.py), in C, when the response is dumped.
    utc_datetimes = coerce is base_scalars.isoformat

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
        name = names.get(id(value)) if kind is members else None
        if name is not None:
            return name
        try:
            coerced = coerce(value)
        except Exception as error:
            raise Deoptimized(str(error)) from error
        if coerced is None or coerced is Undefined:
            raise Deoptimized("a leaf that coerced to null")
        return coerced

    return complete


def field_arguments(schema: Schema, plan: FieldPlan, variables: VariableValues) -> dict[str, Any]:
    """The resolver's keyword arguments, converted as Strawberry converts them."""
    assert plan.graphql_field is not None
    assert plan.strawberry_field is not None
    raw = get_argument_values(plan.graphql_field, plan.node, variables)
    names = plan.argument_names
    if names is not None:
        return {names[name]: value for name, value in raw.items()}
    return convert_arguments(
        raw,
        plan.strawberry_field.arguments,
        scalar_registry=schema.schema_converter.scalar_registry,
        config=schema.config,
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


def _uses_variables(node: FieldNode) -> bool:
    found = False

    class Finder(Visitor):
        def enter_variable(self, *_: Any) -> None:
            nonlocal found
            found = True

    for argument in node.arguments or ():
        visit(argument.value, Finder())
    return found


def _directive_variables(document: DocumentNode) -> tuple[str, ...]:
    names: set[str] = set()

    class Finder(Visitor):
        def enter_directive(self, node: Any, *_: Any) -> None:
            if node.name.value in ("skip", "include"):
                for argument in node.arguments or ():
                    if isinstance(argument.value, VariableNode):
                        names.add(argument.value.name.value)

    visit(document, Finder())
    return tuple(sorted(names))


def template_for(document: DocumentNode, operation_name: str | None) -> PlanTemplate | None:
    """The template of the operation to run, or None when plans cannot run it."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is None:
        chosen = operations[0] if len(operations) == 1 else None
    else:
        chosen = next((o for o in operations if o.name and o.name.value == operation_name), None)
    if chosen is None or chosen.operation is not OperationType.QUERY:
        return None
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    if any(f.variable_definitions for f in fragments.values()):
        return None  # fragment arguments are experimental; the standard path has them
    return PlanTemplate(chosen, fragments, _directive_variables(document))


class PlanCache:
    """Templates by (document text, operation name), bounded like the document cache."""

    # Plans per template: one per combination of @skip/@include variable values.
    MAX_VARIANTS = 16

    def __init__(self, schema: Schema, max_size: int = 1000) -> None:
        self.schema = schema
        self.max_size = max_size
        self._templates: OrderedDict[tuple[str, str | None], PlanTemplate | None] = OrderedDict()

    def template(
        self, source: str, document: DocumentNode, operation_name: str | None
    ) -> PlanTemplate | None:
        key = (source, operation_name)
        if key in self._templates:
            self._templates.move_to_end(key)
            return self._templates[key]
        template = template_for(document, operation_name)
        if template is not None:
            template.text_variables = text_variables(self.schema._schema, template.operation)
        self._templates[key] = template
        if len(self._templates) > self.max_size:
            self._templates.popitem(last=False)
        return template

    def plan(self, template: PlanTemplate, variables: VariableValues) -> Plan | None:
        variant = tuple(variables.coerced.get(name) for name in template.directive_variables)
        if variant in template.plans:
            return template.plans[variant]
        builder = PlanBuilder(self.schema, template.fragments, variables)
        try:
            plan: Plan | None = builder.build(template.operation)
        except Unsupported:
            plan = None
        except Exception:
            # The standard execution reports whatever went wrong, as the spec says.
            logger.opt(exception=True).warning("no plan for {}", template.operation.name)
            plan = None
        if len(template.plans) < self.MAX_VARIANTS:
            template.plans[variant] = plan
        return plan
