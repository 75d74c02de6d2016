"""Runs a query's execution plan (api/plans.py) level by level.

Each level holds the objects reached so far, grouped by the field that returned
them. Every field of a level is resolved once for all of its parent objects, and
every load of a level is asked for before any is awaited, so the dataloaders see
all keys of a level in one batch, as they do under graphql-core. Values are
completed into plain dicts and lists, ready for orjson (which also writes UTC
datetimes, as isoformat() would).

A plan only runs the path without errors. The first error or forbidden null
abandons its result (`Deoptimized`), and the caller runs the operation through
graphql-core instead, which nulls, locates and orders errors as the GraphQL
specification says. Queries have no side effects; the second run starts from
cold loaders (api/http.py), so that it answers exactly as graphql-core alone does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from itertools import chain
from typing import Any, cast

from graphql import DocumentNode, GraphQLObjectType, GraphQLResolveInfo, GraphQLSchema
from graphql.execution.executor import default_type_resolver
from graphql.execution.values import VariableValues, get_variable_values
from graphql.pyutils import is_awaitable
from loguru import logger
from strawberry.schema.schema import Schema
from strawberry.types.info import Info

from accounts_gql.api.context import Context
from accounts_gql.api.metrics import PLANNED_QUERIES
from accounts_gql.api.plans import (
    Deoptimized,
    FieldKind,
    FieldPlan,
    Plan,
    PlanCache,
    Shape,
    Sink,
    field_arguments,
)
from accounts_gql.db.health import is_unavailable

# The fields of one object type, the objects of a level that select them, and
# the dicts their answers go into.
Batch = tuple[list[FieldPlan], list[Any], list[dict[str, Any]]]

_LIST = {list}
_planned = PLANNED_QUERIES.labels(outcome="planned")
_unplanned = PLANNED_QUERIES.labels(outcome="unplanned")
_deoptimized = PLANNED_QUERIES.labels(outcome="deoptimized")
_failed = PLANNED_QUERIES.labels(outcome="failed")


@dataclass(slots=True)
class TypeResolveInfo:
    """What the type resolvers of interfaces and unions read from `info`."""

    schema: GraphQLSchema
    field_name: str
    # graphql-core's default type resolver checks is_type_of results with it.
    is_awaitable: Callable[[Any], bool] = is_awaitable


@dataclass(slots=True)
class PlanResolveInfo:
    """What Strawberry resolvers of this schema read from `info`: the context."""

    context: Context


class PlannedExecution:
    """Plans cached per document, and their execution for one request at a time."""

    def __init__(self, schema: Schema, max_size: int = 1000) -> None:
        self.schema = schema
        self.plans = PlanCache(schema, max_size)

    async def execute(
        self,
        source: str,
        document: DocumentNode,
        operation_name: str | None,
        variables: dict[str, Any] | None,
        context: Context,
    ) -> dict[str, Any] | None:
        """The operation's `data`, or None when the standard execution must run it."""
        template = self.plans.template(source, document, operation_name)
        if template is None:
            _unplanned.inc()
            return None
        coerced = template.coerce_text_variables(variables or {}) or get_variable_values(
            self.schema._schema, template.operation.variable_definitions or (), variables or {}
        )
        if isinstance(coerced, list):  # the standard path reports them
            _unplanned.inc()
            return None
        plan = self.plans.plan(template, coerced)
        if plan is None:
            _unplanned.inc()
            return None
        try:
            data = await PlanRun(self.schema, context, coerced).execute(plan)
        except Exception as error:
            if is_unavailable(error):  # the standard path would meet it again
                raise
            if isinstance(error, Deoptimized):
                _deoptimized.inc()
                return None
            # A fault of the plan itself: answer through the standard path, loudly.
            logger.opt(exception=True).warning("execution plan failed; running the standard one")
            _failed.inc()
            return None
        _planned.inc()
        return data


class PlanRun:
    """One execution of a plan."""

    def __init__(self, schema: Schema, context: Context, variables: VariableValues) -> None:
        self.schema = schema
        self.context = context
        self.variables = variables
        self.raw_info = cast("GraphQLResolveInfo[Context]", PlanResolveInfo(context))
        self.graphql_schema: GraphQLSchema = schema._schema

    async def execute(self, plan: Plan) -> dict[str, Any]:
        data: dict[str, Any] = {}
        level: list[Batch] = [(plan.fields, [None], [data])]
        while level:
            level = await self.run_level(level)
        return data

    async def run_level(self, level: list[Batch]) -> list[Batch]:
        # Each field's values: a list, an awaitable of one, or the error it raised.
        # Leaves that are a plain function of the parent are read while completing
        # (their entry holds the parents): one pass instead of two.
        resolved: list[tuple[FieldPlan, list[dict[str, Any]], Any]] = []
        # Unless a resolver runs as a task (and asks for its loads once it runs),
        # every load of the level is asked for once the loop below is done: its
        # batches are collected and fetched here, without a task each. Awaiting
        # the values one after the other then costs no round trip.
        batching = self.context.loaders.batching
        collecting = not any(plan.is_async for fields, _, _ in level for plan in fields)
        if collecting:
            batching.collect()
        try:
            for fields, parents, outs in level:
                for plan in fields:
                    if plan.per_parent is not None:
                        resolved.append((plan, outs, parents))
                        continue
                    try:
                        values: Any = self.resolve(plan, parents)
                    except Exception as error:
                        values = error
                    resolved.append((plan, outs, values))
        except BaseException:
            batching.schedule()
            raise
        if collecting:
            await batching.dispatch()
        # All are awaited, also after an error, so that none is left running
        # unobserved.
        for index, (plan, outs, values) in enumerate(resolved):
            if not isinstance(values, list | Exception):
                try:
                    values = await values
                except Exception as error:
                    values = error
                resolved[index] = (plan, outs, values)
        next_level: list[Batch] = []
        for plan, outs, values in resolved:
            if isinstance(values, Exception):
                raise Deoptimized(str(values)) from values
            if plan.abstract_type is not None:
                next_level.extend(self.complete_abstract(plan, outs, values))
                continue
            batch = self.complete(plan, outs, values)
            if batch is not None:
                next_level.append(batch)
        return next_level

    def complete(
        self, plan: FieldPlan, outs: list[dict[str, Any]], values: list[Any]
    ) -> Batch | None:
        """Writes the field's completed values; the objects it returns, for the next level.

        The common shapes are completed inline (one call per field, not per value).
        """
        key, shape = plan.key, plan.shape
        if shape is Shape.EXACT_LEAF:
            exact, complete_one = plan.exact, plan.complete
            per_parent = plan.per_parent
            if per_parent is not None:  # `values` are the parents
                try:
                    for out, parent in zip(outs, values, strict=True):
                        value = per_parent(parent)
                        out[key] = value if type(value) is exact else complete_one(value, [])
                except Exception as error:
                    raise Deoptimized(str(error)) from error
                return None
            for out, value in zip(outs, values, strict=True):
                out[key] = value if type(value) is exact else complete_one(value, [])
            return None
        if shape is Shape.OTHER:
            sink: Sink = []
            complete_one = plan.complete
            for out, value in zip(outs, values, strict=True):
                out[key] = complete_one(value, sink)
            if not sink:
                return None
            assert plan.child is not None
            return plan.child, [obj for obj, _ in sink], [o for _, o in sink]
        bulk = self.complete_in_bulk(plan, outs, values)
        if bulk is not None:
            return bulk
        parents: list[Any] = []
        children: list[dict[str, Any]] = []
        # The is_type_of of this schema's types looks at the class only (isinstance
        # of a row class), so a class it accepted once is not asked about again.
        is_type_of, accepted = plan.is_type_of, plan.accepted
        for out, value in zip(outs, values, strict=True):
            if value is None:
                if plan.non_null:
                    raise Deoptimized(f"null for the non-null {plan.key}")
                out[key] = None
            elif shape is Shape.OBJECT:
                if is_type_of is not None and type(value) is not accepted:
                    if not is_type_of(value, None):
                        raise Deoptimized(f"not the type of {plan.key}")
                    plan.accepted = accepted = type(value)
                child: dict[str, Any] = {}
                out[key] = child
                parents.append(value)
                children.append(child)
            else:
                if not isinstance(value, list | tuple):
                    raise Deoptimized(f"not a list for {plan.key}")
                items: list[dict[str, Any] | None] = []
                for item in value:
                    if item is None:
                        if plan.items_non_null:
                            raise Deoptimized(f"null item in {plan.key}")
                        items.append(None)
                        continue
                    if is_type_of is not None and type(item) is not accepted:
                        if not is_type_of(item, None):
                            raise Deoptimized(f"not the type of {plan.key}")
                        plan.accepted = accepted = type(item)
                    child = {}
                    items.append(child)
                    parents.append(item)
                    children.append(child)
                out[key] = items
        if not parents:
            return None
        if is_type_of is None:  # any class will do: remember one for complete_in_bulk
            plan.accepted = type(parents[-1])
        assert plan.child is not None
        return plan.child, parents, children

    def complete_in_bulk(
        self, plan: FieldPlan, outs: list[dict[str, Any]], values: list[Any]
    ) -> Batch | None:
        """The common case without a check per object: every value (every item of
        every list) an object of the one class already accepted. None otherwise."""
        objects = values
        if plan.shape is Shape.OBJECT_LIST:
            if set(map(type, values)) != _LIST:
                return None
            objects = list(chain.from_iterable(values))
        if not objects or set(map(type, objects)) != {plan.accepted}:
            return None
        assert plan.child is not None
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

    def complete_abstract(
        self, plan: FieldPlan, outs: list[dict[str, Any]], values: list[Any]
    ) -> list[Batch]:
        """Completes an interface or union field: a batch per runtime type.

        The runtime type comes from the abstract type's own resolver, as graphql-core
        asks it (Strawberry's, falling back to each possible type's is_type_of).
        """
        abstract = plan.abstract_type
        assert abstract is not None
        resolve_type = abstract.resolve_type or default_type_resolver
        info = cast("GraphQLResolveInfo[Context]", TypeResolveInfo(self.graphql_schema, plan.key))

        def place(value: Any) -> dict[str, Any]:
            """The object's output dict, in its runtime type's batch."""
            name = resolve_type(value, info, abstract)
            if not isinstance(name, str) or plan.children is None or name not in plan.children:
                raise Deoptimized(f"no runtime type for {plan.key}")
            object_type = self.graphql_schema.get_type(name)
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

        batches: dict[str, Batch] = {}
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

    def resolve(self, plan: FieldPlan, parents: list[Any]) -> list[Any] | Awaitable[list[Any]]:
        """The field's value for each parent: a list, or an awaitable of one."""
        kind = plan.kind
        if kind is FieldKind.ATTRIBUTE:
            assert plan.getter is not None
            return list(map(plan.getter, parents))
        if kind is FieldKind.TYPENAME:
            return [plan.parent_type] * len(parents)
        arguments = plan.arguments
        if arguments is None:
            arguments = field_arguments(self.schema, plan, self.variables)
        function = plan.function
        assert function is not None
        if kind is FieldKind.BATCH:
            return cast(Awaitable[list[Any]], function(self.context, parents, **arguments))
        if plan.parent_only:
            values = list(map(function, parents))
            return _together(values) if plan.is_async else values
        kwargs = dict(arguments)
        if plan.info_parameter:
            assert plan.strawberry_field is not None
            info = Info(_raw_info=self.raw_info, _field=plan.strawberry_field)
            kwargs[plan.info_parameter] = info
        parent_parameter = plan.parent_parameter
        values = []
        for parent in parents:
            if parent_parameter:
                kwargs[parent_parameter] = parent
            values.append(function(parent, **kwargs) if plan.passes_self else function(**kwargs))
        if plan.is_async:
            return _together(values)
        return values


def _together(coroutines: list[Any]) -> Awaitable[list[Any]]:
    """The coroutines' results, all started now, as graphql-core starts them: so
    that the loads they ask for join one batch. One alone needs no gathering."""
    if len(coroutines) == 1:
        return _single(asyncio.ensure_future(coroutines[0]))
    return asyncio.gather(*coroutines)


async def _single(task: Awaitable[Any]) -> list[Any]:
    return [await task]
