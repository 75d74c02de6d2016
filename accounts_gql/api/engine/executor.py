"""Runs a query's execution plan (api/engine/plans.py) level by level.

Each level holds the objects reached so far, grouped by the field that returned
them. Every field of a level is resolved once for all of its parent objects, and
every load of a level is asked for before any is awaited, so the dataloaders see
all keys of a level in one batch, as they do under graphql-core; the level then
fetches the batches its loads made itself (`Batching`: no task per batch).
Values are completed into plain dicts and lists (api/engine/completion.py).

A plan only runs the path without errors. The first error or forbidden null
abandons its result (`Deoptimized`), and the caller runs the operation through
graphql-core instead, which nulls, locates and orders errors as the GraphQL
specification says. Queries have no side effects; the second run starts from
cold loaders (api/http.py), so that it answers exactly as graphql-core alone does.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from graphql import DocumentNode, get_variable_values
from loguru import logger
from strawberry import Schema

from accounts_gql.api.engine import adapter
from accounts_gql.api.engine.adapter import VariableValues
from accounts_gql.api.engine.completion import (
    Batch,
    Deoptimized,
    Shape,
    complete_field,
    complete_leaves,
)
from accounts_gql.api.engine.plans import FieldKind, FieldPlan, Plan, PlanCache, field_arguments
from accounts_gql.api.metrics import PLANNED_QUERIES
from accounts_gql.core.dataloader import Batching
from accounts_gql.db.health import is_unavailable
from accounts_gql.services.reads.contract import Scope

_planned = PLANNED_QUERIES.labels(outcome="planned")
_unplanned = PLANNED_QUERIES.labels(outcome="unplanned")
_deoptimized = PLANNED_QUERIES.labels(outcome="deoptimized")
_failed = PLANNED_QUERIES.labels(outcome="failed")


class PlannedExecution:
    """Plans cached per document, and their execution for one request at a time."""

    def __init__(self, schema: Schema, max_size: int = 1000) -> None:
        self.schema = schema
        self.graphql_schema = adapter.graphql_schema(schema)
        self.plans = PlanCache(schema, max_size)

    def plan_for(
        self,
        source: str,
        document: DocumentNode,
        operation_name: str | None,
        variables: dict[str, Any] | None,
    ) -> tuple[Plan, VariableValues] | None:
        """The operation's plan and coerced variables; None when plans do not run it."""
        template = self.plans.template(source, document, operation_name)
        if template is None:
            return None
        coerced = template.coerce_text_variables(variables or {}) or get_variable_values(
            self.graphql_schema, template.operation.variable_definitions or (), variables or {}
        )
        if isinstance(coerced, list):  # the standard path reports them
            return None
        plan = self.plans.plan(template, coerced)
        return None if plan is None else (plan, coerced)

    async def execute(
        self,
        source: str,
        document: DocumentNode,
        operation_name: str | None,
        variables: dict[str, Any] | None,
        scope: Scope,
        batching: Batching,
    ) -> dict[str, Any] | None:
        """The operation's `data`, or None when the standard execution must run it."""
        found = self.plan_for(source, document, operation_name, variables)
        if found is None:
            _unplanned.inc()
            return None
        plan, coerced = found
        try:
            data = await PlanRun(self.graphql_schema, scope, batching, coerced).execute(plan)
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

    def __init__(
        self, schema: Any, scope: Scope, batching: Batching, variables: VariableValues
    ) -> None:
        self.schema = schema
        self.scope = scope
        self.batching = batching
        self.variables = variables

    async def execute(self, plan: Plan) -> dict[str, Any]:
        loaders = self.scope.loaders
        if plan.follows:
            loaders.follow(plan.follows)
        for follow in plan.shaped_follows:
            shape = self.shape(follow.field)
            if shape is not None:
                loaders.follow_shaped(follow.loader, follow.follower, follow.column, shape)
        if plan.projections:
            loaders.project(plan.projections)
        data: dict[str, Any] = {}
        level: list[Batch] = [(plan.fields, [None], [data])]
        while level:
            level = await self.run_level(level)
        return data

    def shape(self, plan: FieldPlan) -> Any:
        """The shape a READ field's arguments give its follower (`Read.shape`), or
        None when they do not give one: the field itself then meets the error at its
        level, as it would unfollowed."""
        assert plan.source is not None
        shape = plan.source.read.shape
        assert shape is not None
        try:
            arguments = plan.arguments
            if arguments is None:
                arguments = field_arguments(plan, self.variables)
            return shape(**arguments)
        except Exception:
            return None

    async def run_level(self, level: list[Batch]) -> list[Batch]:
        # Each field's values: a list, an awaitable of one, or the error it raised.
        # Leaves that are a plain function of the parent are read while completing
        # (their entry holds the parents): one pass instead of two.
        # Answers are written in the fields' order, which is the response's.
        resolved: list[tuple[FieldPlan, list[dict[str, Any]], Any]] = []
        # Every read asks for its loads before it returns, so once the loop below
        # is done every load of the level is asked for: its batches are collected
        # and fetched here, one after the other, without a task each. Awaiting the
        # values one after the other then costs no round trip.
        batching = self.batching
        batching.collect()
        try:
            for fields, parents, outs in level:
                for plan in fields:
                    if plan.shape is Shape.EXACT_LEAF and plan.per_parent is not None:
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
            if plan.shape is Shape.EXACT_LEAF and plan.per_parent is not None:
                complete_leaves(plan, outs, values)  # `values` are the parents
                continue
            if isinstance(values, Exception):
                raise Deoptimized(str(values)) from values
            next_level.extend(complete_field(plan, outs, values, self.schema))
        return next_level

    def resolve(self, plan: FieldPlan, parents: list[Any]) -> list[Any] | Awaitable[list[Any]]:
        """The field's value for each parent: a list, or an awaitable of one."""
        kind = plan.kind
        if kind is FieldKind.READ:
            assert plan.source is not None
            arguments = plan.arguments
            if arguments is None:
                arguments = field_arguments(plan, self.variables)
            return plan.source.read(self.scope, parents, arguments)
        if kind is FieldKind.TYPENAME:
            return [plan.parent_type] * len(parents)
        assert plan.per_parent is not None
        return list(map(plan.per_parent, parents))
