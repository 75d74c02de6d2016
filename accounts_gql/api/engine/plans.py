"""Execution plans for queries (PRODUCT §8).

graphql-core completes every field of every object on its own: a coroutine, a
task and a wrapper per value. A plan does that work once per document instead:
for each object type the operation reaches it lists the fields to answer, after
fragments and @skip/@include are applied, each with how to get its values for
all objects of one level at once (`FieldKind`) and how to complete them
(api/engine/completion.py). The executor (api/engine/executor.py) walks the plan
level by level; `describe` prints it (`accounts-gql plan`).

A field's values come from what the field is declared as (api/fields.py): the
parent's attribute, a function of the parent (`row_field`), or a read of the
services' contract (`data_field`), called once with every parent of a level.
Both execution paths run that one declaration, so they apply the same rules. A
plan is built only for shapes it knows; for anything else (`PlanCache` has no
plan: mutations, introspection, other resolvers, field extensions, fragment
arguments) the operation goes through the standard execution, as it does on any
error (see api/engine/executor.py).

Plans are immutable once built, and cached per document, operation and set of
@skip/@include variable values.
"""

from __future__ import annotations

import enum
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLID,
    GraphQLIncludeDirective,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
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
    Visitor,
    get_argument_values,
    get_directive_values,
    get_named_type,
    visit,
)
from loguru import logger
from strawberry import Schema

from accounts_gql.api.engine import adapter
from accounts_gql.api.engine.adapter import VariableValues, VariableValueSource
from accounts_gql.api.engine.completion import Completer, Shape, completer, exact_type
from accounts_gql.api.fields import FIELD_SOURCE, DataSource, RowSource
from accounts_gql.services.reads.contract import loader_columns, loader_primes, loader_rows_type

TYPENAME_TYPE = GraphQLNonNull(GraphQLString)


class FieldKind(enum.Enum):
    TYPENAME = "typename"  # __typename
    ATTRIBUTE = "attribute"  # the parent's attribute
    ROW = "row"  # a function of the parent (row_field)
    READ = "read"  # a read of the contract (data_field), once with all parent objects


class Unsupported(Exception):
    """The operation has a shape plans do not cover; the standard execution runs it."""


@dataclass(frozen=True, slots=True)
class FieldPlan:
    key: str  # the response key: the alias or the field's name
    kind: FieldKind
    parent_type: str
    name: str
    return_type: GraphQLOutputType
    node: FieldNode
    graphql_field: GraphQLField | None
    # ATTRIBUTE, ROW: the value of one parent; READ: the read's source.
    per_parent: Callable[[Any], Any] | None
    source: DataSource | None
    # The parent's attributes it reads (None: the parent as a whole).
    columns: frozenset[str] | None
    # READ: its arguments when literals fix them, else None (built per request by
    # `field_arguments`, with `convert` from graphql-core's values to Strawberry's).
    arguments: Mapping[str, Any] | None
    convert: Callable[[dict[str, Any]], dict[str, Any]] | None
    # The fields to answer on the objects this field returns: `child` for an
    # object type, `children` by runtime type for an interface or a union.
    child: list[FieldPlan] | None
    children: dict[str, list[FieldPlan]] | None
    # How its values are completed (api/engine/completion.py).
    complete: Completer
    shape: Shape
    exact: type | None  # EXACT_LEAF values of this Python type pass unchanged
    non_null: bool  # the field's type is non-null
    items_non_null: bool  # OBJECT_LIST, ABSTRACT_LIST: its items are non-null
    object_type: GraphQLObjectType | None  # OBJECT, OBJECT_LIST
    abstract_type: GraphQLInterfaceType | GraphQLUnionType | None  # ABSTRACT*


def field_plan(
    key: str,
    kind: FieldKind,
    parent_type: str,
    return_type: GraphQLOutputType,
    node: FieldNode,
    **details: Any,
) -> FieldPlan:
    """A FieldPlan, its completion worked out from its return type."""
    inner = return_type.of_type if isinstance(return_type, GraphQLNonNull) else return_type
    shape, items_non_null = Shape.OTHER, False
    object_type: GraphQLObjectType | None = None
    abstract: GraphQLInterfaceType | GraphQLUnionType | None = None
    exact = exact_type(return_type)
    if isinstance(inner, GraphQLList):
        item = inner.of_type
        items_non_null = isinstance(item, GraphQLNonNull)
        if isinstance(item, GraphQLNonNull):
            item = item.of_type
        if isinstance(item, GraphQLObjectType):
            shape, object_type = Shape.OBJECT_LIST, item
        elif isinstance(item, GraphQLInterfaceType | GraphQLUnionType):
            shape, abstract = Shape.ABSTRACT_LIST, item
    elif isinstance(inner, GraphQLObjectType):
        shape, object_type = Shape.OBJECT, inner
    elif isinstance(inner, GraphQLInterfaceType | GraphQLUnionType):
        shape, abstract = Shape.ABSTRACT, inner
    elif exact is not None:
        shape = Shape.EXACT_LEAF
    values: dict[str, Any] = {
        "name": node.name.value,
        "graphql_field": None,
        "per_parent": None,
        "source": None,
        "columns": frozenset(),
        "arguments": {},
        "convert": None,
        "child": None,
        "children": None,
    }
    values.update(details)
    return FieldPlan(
        key=key,
        kind=kind,
        parent_type=parent_type,
        return_type=return_type,
        node=node,
        complete=completer(return_type),
        shape=shape,
        exact=exact,
        non_null=isinstance(return_type, GraphQLNonNull),
        items_non_null=items_non_null,
        object_type=object_type,
        abstract_type=abstract,
        **values,
    )


@dataclass(frozen=True, slots=True)
class ShapedFollow:
    """A follow whose follower's keys also take a field's arguments (a group's page of
    members): its shape is worked out per request from `field`'s arguments."""

    loader: str
    follower: str
    column: str
    field: FieldPlan


@dataclass(frozen=True, slots=True)
class Plan:
    operation: OperationDefinitionNode
    fields: list[FieldPlan]
    # (loader, follower, column): the loads of a level below that the plan has
    # fetched with those of the level above (services/reads/loaders.py). Sorted:
    # their order is the order of the calls in the statement, the same in every
    # process whatever its hash seed.
    follows: tuple[tuple[str, str, str], ...] = ()
    # The columns each loader asks for of its rows; others read whole rows.
    projections: Mapping[str, frozenset[str]] = field(default_factory=dict)
    shaped_follows: tuple[ShapedFollow, ...] = ()


def follows(
    fields: list[FieldPlan],
) -> tuple[tuple[tuple[str, str, str], ...], list[ShapedFollow]]:
    """What the reads of a plan declare about the loaders they ask: a read keyed by
    its parent's attribute follows the loaders whose rows its parents are (of its
    parent's type, where a level's rows are of several: `nodes`); with its
    arguments too (`Read.shape`), it follows them for the shape they give."""
    links: set[tuple[str, str, str]] = set()
    shaped: list[ShapedFollow] = []

    def walk(fields: list[FieldPlan], rows: tuple[str, ...]) -> None:
        for plan in fields:
            below = rows
            if plan.kind is FieldKind.READ:
                assert plan.source is not None
                read = plan.source.read
                parents = [
                    loader
                    for loader in rows
                    if loader_rows_type(loader) in (None, plan.parent_type)
                ]
                if read.key is not None and read.shape is not None:
                    shaped.extend(ShapedFollow(loader, *read.key, plan) for loader in parents)
                elif read.key is not None:
                    links.update((loader, *read.key) for loader in parents)
                links.update(read.links)
                below = read.rows
            for child in [plan.child or [], *(plan.children or {}).values()]:
                walk(child, below)

    walk(fields, ())
    return tuple(sorted(links)), shaped


def projections(fields: list[FieldPlan]) -> dict[str, frozenset[str]]:
    """The columns of each loader's rows a plan uses (services/reads/loaders.py,
    "Projections"). A loader's rows are the values of the reads that name it in
    their `rows`, or lie in what they return (a connection's nodes): what the
    fields on those rows use of them (the fields below the read, down to the
    next read, whose parent is of the loader's row type), and what the read
    itself and its wrappers look at (`Read.reads`: an edge's cursor). A loader
    that any read asks otherwise (`asks`, a key or link outside its rows), or
    whose rows a field uses without declaring what, is read whole, as is one
    whose call cannot give just those (`loader_columns`: the columns asked
    include those the loader is keyed and followed by). A root page's rows are
    primed in another loader (`users` in `user`), so they hold what that one is
    asked for too."""
    needs: dict[str, set[str]] = {}
    whole: set[str] = set()

    def walk(fields: list[FieldPlan], loaders: tuple[str, ...]) -> None:
        for plan in fields:
            for loader in loaders:
                kind = loader_rows_type(loader)
                if kind is not None and kind != plan.parent_type:
                    continue  # a wrapper's field (an edge's cursor): its read declares it
                if plan.columns is None:
                    whole.add(loader)
                else:
                    needs.setdefault(loader, set()).update(plan.columns)
            below = loaders
            if plan.kind is FieldKind.READ:
                assert plan.source is not None
                read = plan.source.read
                whole.update(read.asked - set(read.rows))
                below = read.rows
                for loader in below:
                    needs.setdefault(loader, set()).update(read.reads)
            for child in [plan.child or [], *(plan.children or {}).values()]:
                walk(child, below)

    walk(fields, ())
    for loader in list(needs):
        if (target := loader_primes(loader)) is not None:
            if target in whole:
                whole.add(loader)
            needs[loader].update(needs.get(target, ()))
    found = {}
    for loader, used in needs.items():
        if loader not in whole and (columns := loader_columns(loader, frozenset(used))) is not None:
            found[loader] = columns
    return found


# A variable's name, signature and whether its type is non-null.
TextVariable = tuple[str, adapter.GraphQLVariableSignature, bool]


@dataclass(slots=True)
class PlanTemplate:
    """What a document's operation needs before its plan can be built, and its
    plans by the values of the variables @skip/@include read (the cache)."""

    operation: OperationDefinitionNode
    fragments: dict[str, FragmentDefinitionNode]
    directive_variables: tuple[str, ...]
    # When every variable is an ID or a String without default: their signatures.
    text_variables: tuple[TextVariable, ...] | None
    plans: dict[tuple[Any, ...], Plan | None] = field(default_factory=dict)

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


def text_variables(
    schema: GraphQLSchema, operation: OperationDefinitionNode
) -> tuple[TextVariable, ...] | None:
    """The operation's variables when each is an ID or a String without default
    (graphql-core coerces a string of those to itself), else None."""
    found: list[TextVariable] = []
    for definition in operation.variable_definitions or ():
        if definition.default_value is not None or definition.directives:
            return None
        signature = adapter.variable_signature(schema, definition)
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
        self.graphql_schema = adapter.graphql_schema(schema)
        self.fragments = fragments
        self.variables = variables

    def build(self, operation: OperationDefinitionNode) -> Plan:
        root = self.graphql_schema.query_type
        assert root is not None
        fields = self.object_fields(root, [operation.selection_set])
        links, shaped = follows(fields)
        return Plan(operation, fields, links, projections(fields), tuple(shaped))

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
            return field_plan(key, FieldKind.TYPENAME, parent.name, TYPENAME_TYPE, node)
        if name.startswith("__"):
            raise Unsupported("introspection")
        graphql_field = parent.fields[name]
        facts = adapter.field_facts(self.schema, parent.name, name)
        if facts is None or facts.has_extensions:
            raise Unsupported(f"{parent.name}.{name}")
        source = facts.metadata.get(FIELD_SOURCE)
        details: dict[str, Any] = {"graphql_field": graphql_field}
        if isinstance(source, DataSource):
            kind = FieldKind.READ
            details["source"] = source
            uses = source.read.uses
            details["columns"] = None if uses is None else frozenset(uses)
            details["convert"] = facts.convert
            if facts.has_arguments:
                names = facts.argument_names
                if names is not None:  # a renaming: done here, not per request
                    details["convert"] = _renaming(names)
                details["arguments"] = (
                    None
                    if _uses_variables(node)
                    else source.read_arguments(
                        details["convert"](get_argument_values(graphql_field, node, self.variables))
                    )
                )
            else:
                details["arguments"] = source.read_arguments({})
        elif isinstance(source, RowSource):
            kind, details["per_parent"] = FieldKind.ROW, source.function
            details["columns"] = source.columns
        elif not facts.has_resolver:
            kind, details["per_parent"] = FieldKind.ATTRIBUTE, attrgetter(facts.python_name)
            details["columns"] = frozenset({facts.python_name})
        else:
            raise Unsupported(f"{parent.name}.{name}: a resolver of its own")
        named = get_named_type(graphql_field.type)
        selection_sets = [n.selection_set for n in nodes if n.selection_set is not None]
        if isinstance(named, GraphQLObjectType):
            details["child"] = self.object_fields(named, selection_sets)
        elif isinstance(named, GraphQLInterfaceType | GraphQLUnionType):
            details["children"] = {
                possible.name: self.object_fields(possible, selection_sets)
                for possible in self.graphql_schema.get_possible_types(named)
            }
        plan = field_plan(key, kind, parent.name, graphql_field.type, node, **details)
        if plan.children is not None and plan.shape is Shape.OTHER:
            raise Unsupported(f"{parent.name}.{name}: nested lists of {named}")
        return plan


def field_arguments(plan: FieldPlan, variables: VariableValues) -> Mapping[str, Any]:
    """A READ field's arguments for this request's variables, as its read takes them."""
    assert plan.graphql_field is not None
    assert plan.source is not None
    assert plan.convert is not None
    raw = get_argument_values(plan.graphql_field, plan.node, variables)
    return plan.source.read_arguments(plan.convert(raw))


def _renaming(names: dict[str, str]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def rename(raw: dict[str, Any]) -> dict[str, Any]:
        return {names[name]: value for name, value in raw.items()}

    return rename


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


def template_for(
    schema: GraphQLSchema, document: DocumentNode, operation_name: str | None
) -> PlanTemplate | None:
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
    return PlanTemplate(
        chosen, fragments, _directive_variables(document), text_variables(schema, chosen)
    )


class PlanCache:
    """Templates by (document text, operation name), bounded like the document cache."""

    # Plans per template: one per combination of @skip/@include variable values.
    MAX_VARIANTS = 16

    def __init__(self, schema: Schema, max_size: int = 1000) -> None:
        self.schema = schema
        self.graphql_schema = adapter.graphql_schema(schema)
        self.max_size = max_size
        self._templates: OrderedDict[tuple[str, str | None], PlanTemplate | None] = OrderedDict()

    def template(
        self, source: str, document: DocumentNode, operation_name: str | None
    ) -> PlanTemplate | None:
        key = (source, operation_name)
        if key in self._templates:
            self._templates.move_to_end(key)
            return self._templates[key]
        template = template_for(self.graphql_schema, document, operation_name)
        self._templates[key] = template
        if len(self._templates) > self.max_size:
            self._templates.popitem(last=False)
        return template

    def plan(self, template: PlanTemplate, variables: VariableValues) -> Plan | None:
        variant = tuple(variables.coerced.get(name) for name in template.directive_variables)
        if variant in template.plans:
            return template.plans[variant]
        plan = self.build(template, variables)
        if len(template.plans) < self.MAX_VARIANTS:
            template.plans[variant] = plan
        return plan

    def build(self, template: PlanTemplate, variables: VariableValues) -> Plan | None:
        """The template's plan for these variables; None when plans cannot run it."""
        builder = PlanBuilder(self.schema, template.fragments, variables)
        try:
            return builder.build(template.operation)
        except Unsupported:
            return None
        except Exception:
            # The standard execution reports whatever went wrong, as the spec says.
            logger.opt(exception=True).warning("no plan for {}", template.operation.name)
            return None
