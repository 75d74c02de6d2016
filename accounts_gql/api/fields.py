"""Strawberry fields built from the read side's contract (services/reads/contract.py).

Two kinds of field have a resolver; both are generated here, and each carries
what it is (`FIELD_SOURCE` in the field's metadata) so that an execution plan runs
the same thing for every object of a level at once (api/engine/plans.py):

- `data_field(read, arguments)`: a field that needs data. Its resolver calls the
  read with its one parent; a plan calls it with all parents of a level.
  `arguments` declares the field's GraphQL arguments (its parameters, with their
  Strawberry types and defaults) and turns their values into the read's (enums
  to their stored values, input objects to the read's own); it is pure: a read
  checks its visibility rule before any argument is looked at.
- `row_field(function, columns)`: a value computed from the parent alone (a
  global id, an enum from its stored value): the resolver calls it, a plan maps
  it over a level. `columns` are the parent's attributes it reads, so that a
  plan knows which columns of a row it needs (services/reads/loaders.py,
  "Projections"); None reads the parent whole.

Any other field without a resolver is the parent's attribute of the same name.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import strawberry

from accounts_gql.services.reads.contract import Read, Results, Scope

# The metadata key under which a generated field says what it is.
FIELD_SOURCE = "accounts_gql.source"
Arguments = Callable[..., Mapping[str, Any]]
_NO_ARGUMENTS: Mapping[str, Any] = {}


@dataclass(frozen=True, slots=True)
class DataSource:
    """A field that needs data: `read`, with `arguments` turning the GraphQL arguments
    (as Strawberry converts them) into the read's."""

    read: Read
    arguments: Arguments | None

    def read_arguments(self, values: Mapping[str, Any]) -> Mapping[str, Any]:
        return _NO_ARGUMENTS if self.arguments is None else self.arguments(**values)

    def resolve(self, scope: Scope, parents: list[Any], values: Mapping[str, Any]) -> Results:
        """The field's result for each parent."""
        return self.read(scope, parents, self.read_arguments(values))


@dataclass(frozen=True, slots=True)
class RowSource:
    """A value computed from the parent alone, reading its attributes `columns`
    (None: the parent as a whole)."""

    function: Callable[[Any], Any]
    columns: frozenset[str] | None


def data_field(read: Read, arguments: Arguments | None = None, **options: Any) -> Any:
    """A Strawberry field whose resolver is generated from `read` (see the module)."""
    source = DataSource(read, arguments)
    if read.awaits:

        async def resolve(root: Any, info: strawberry.Info[Any, Any], **values: Any) -> Any:
            return (await source.resolve(info.context, [root], values))[0]  # type: ignore[misc]

    else:

        def resolve(root: Any, info: strawberry.Info[Any, Any], **values: Any) -> Any:  # type: ignore[misc]
            return source.resolve(info.context, [root], values)[0]  # type: ignore[index]

    parameters = [
        inspect.Parameter("root", inspect.Parameter.POSITIONAL_OR_KEYWORD),
        inspect.Parameter(
            "info", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=strawberry.Info
        ),
    ]
    if arguments is not None:
        # The GraphQL arguments are the declaration's parameters; their string
        # annotations resolve in its module, as Strawberry resolves a resolver's.
        parameters += inspect.signature(arguments).parameters.values()
        resolve.__module__ = arguments.__module__
    resolve.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    resolve.__name__ = f"{read.type_name}_{read.field_name}"
    resolve.__annotations__ = {}
    return strawberry.field(resolver=resolve, metadata={FIELD_SOURCE: source}, **options)


def row_field(
    function: Callable[[Any], Any], columns: tuple[str, ...] | None, **options: Any
) -> Any:
    """A Strawberry field computed from its parent alone by `function`, which reads
    the parent's attributes `columns` (None: more than attributes)."""

    def resolve(root: Any) -> Any:
        return function(root)

    resolve.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter("root", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    )
    resolve.__annotations__ = {}
    source = RowSource(function, None if columns is None else frozenset(columns))
    return strawberry.field(resolver=resolve, metadata={FIELD_SOURCE: source}, **options)
