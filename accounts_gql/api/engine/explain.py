"""A plan, printed for people (`accounts-gql plan`; docs/architecture.md has an example).

One line per field, indented under the field that returned its objects, with the
level it runs at: the executor resolves each field once for all objects of its
level, so a level's reads share their loaders' batches (one statement for all),
the loads that follow a loader's rows (the plan's `follows`), and the columns of
each loader's rows the plan uses (its `projections`; loaders not listed read
whole rows).
"""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError, parse, print_ast, validate
from strawberry import Schema

from accounts_gql.api.engine import adapter
from accounts_gql.api.engine.executor import PlannedExecution
from accounts_gql.api.engine.plans import FieldKind, FieldPlan, Plan


def explain(
    schema: Schema,
    source: str,
    variables: dict[str, Any] | None = None,
    operation_name: str | None = None,
) -> str:
    """The plan of a query as text, or why the standard execution would run it."""
    try:
        document = parse(source)
    except GraphQLError as error:
        return f"no plan: {error.message}"
    errors = validate(adapter.graphql_schema(schema), document)
    if errors:
        return "no plan: " + "; ".join(error.message for error in errors)
    found = PlannedExecution(schema).plan_for(source, document, operation_name, variables)
    if found is None:
        return (
            "no plan: graphql-core's standard execution runs this operation "
            "(a mutation, introspection, a field of its own, or variables that do not coerce)"
        )
    return describe(found[0])


def describe(plan: Plan) -> str:
    name = plan.operation.name.value if plan.operation.name else "(anonymous)"
    lines = [f"query {name}: {_depth(plan.fields)} levels"]
    _fields(plan.fields, 1, "Query", lines)
    if plan.follows or plan.shaped_follows:
        lines.append("fetched in the statement of the loader above (services/reads/loaders.py):")
        for loader, follower, column in sorted(plan.follows):
            lines.append(f"   {follower}, by the {column} of {loader}'s rows")
        for follow in plan.shaped_follows:
            lines.append(
                f"   {follow.follower}, by the {follow.column} of {follow.loader}'s rows"
                f" and the arguments of {follow.field.key}"
            )
    if plan.projections:
        lines.append("columns of the loaders' rows it uses (services/reads/loaders.py):")
        for loader, columns in sorted(plan.projections.items()):
            lines.append(f"   {loader}: {', '.join(sorted(columns)) or '(none)'}")
    return "\n".join(lines)


def _depth(fields: list[FieldPlan]) -> int:
    deepest = 1
    for plan in fields:
        for children in _child_lists(plan):
            deepest = max(deepest, 1 + _depth(children))
    return deepest


def _child_lists(plan: FieldPlan) -> list[list[FieldPlan]]:
    if plan.child is not None:
        return [plan.child]
    return list((plan.children or {}).values())


def _fields(fields: list[FieldPlan], level: int, on: str, lines: list[str]) -> None:
    indent = "  " * level
    for plan in fields:
        lines.append(f"{level:>2} {indent}{plan.key}: {_how(plan)} -> {plan.return_type}")
        if plan.child is not None:
            _fields(plan.child, level + 1, str(plan.return_type), lines)
        for type_name, children in (plan.children or {}).items():
            lines.append(f"   {indent}  ... on {type_name}")
            _fields(children, level + 1, type_name, lines)


def _how(plan: FieldPlan) -> str:
    if plan.kind is FieldKind.TYPENAME:
        return "__typename"
    if plan.kind is FieldKind.ATTRIBUTE:
        return f"attribute {repr(plan.per_parent).removeprefix('operator.attrgetter')}"
    if plan.kind is FieldKind.ROW:
        function = plan.per_parent
        return f"row {getattr(function, '__qualname__', function)}"
    assert plan.source is not None
    read = plan.source.read
    module = read.batch.__module__.removeprefix("accounts_gql.services.")
    batch = f"{module}.{read.batch.__qualname__}"
    if plan.arguments is None:
        arguments = " " + ", ".join(print_ast(argument) for argument in plan.node.arguments or ())
    elif plan.arguments:
        arguments = " " + ", ".join(f"{key}={value!r}" for key, value in plan.arguments.items())
    else:
        arguments = ""
    return f"read {batch} [{read.visibility.name}]{arguments}"
