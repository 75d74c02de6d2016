"""Resource limits of a GraphQL document (PRODUCT §6): depth, aliases and cost.

Tokens are bounded by the parser itself (`max_tokens`). Depth and aliases are
properties of the document and are checked once, when it enters the cache.
Cost weighs every field by the page sizes of the connections above it
(`first`/`last`, 20 when absent), so `users(first: 100) { groups(first: 100) }`
costs what it may fetch; page sizes given as variables are priced per request.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
)

from accounts_gql.services.reads.paging import DEFAULT_PAGE_SIZE

_PAGE_ARGUMENTS = ("first", "last")


@dataclass(frozen=True, slots=True)
class Limits:
    max_depth: int
    max_aliases: int
    max_cost: int


def limit_error(message: str, code: str, **extensions: Any) -> GraphQLError:
    return GraphQLError(message, extensions={"code": code, **extensions})


class _Walk:
    """One pass over an operation's selections, fragments expanded."""

    def __init__(
        self, fragments: Mapping[str, FragmentDefinitionNode], variables: Mapping[str, Any]
    ) -> None:
        self.fragments = fragments
        self.variables = variables
        self.depth = 0
        self.aliases = 0
        self.cost = 0
        self.variable_sized = False

    def selections(
        self, selection_set: SelectionSetNode | None, depth: int, weight: int, seen: frozenset[str]
    ) -> None:
        if selection_set is None:
            return
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                self.field(selection, depth, weight, seen)
            elif isinstance(selection, InlineFragmentNode):
                self.selections(selection.selection_set, depth, weight, seen)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is not None and name not in seen:
                    self.selections(fragment.selection_set, depth, weight, seen | {name})

    def field(self, node: FieldNode, depth: int, weight: int, seen: frozenset[str]) -> None:
        # Every alias is a field the response holds once more, meta fields
        # (`a: __typename`) too; their depth and cost are nothing to speak of.
        if node.alias is not None:
            self.aliases += 1
        if node.name.value.startswith("__"):
            return
        self.depth = max(self.depth, depth)
        self.cost += weight
        self.selections(node.selection_set, depth + 1, weight * self.page_size(node), seen)

    def page_size(self, node: FieldNode) -> int:
        for argument in node.arguments or ():
            if argument.name.value not in _PAGE_ARGUMENTS:
                continue
            value = argument.value
            if isinstance(value, IntValueNode):
                return max(int(value.value), 1)
            if isinstance(value, VariableNode):
                self.variable_sized = True
                given = self.variables.get(value.name.value)
                return max(given, 1) if isinstance(given, int) else DEFAULT_PAGE_SIZE
        has_page = any(
            argument.name.value in ("after", "before") for argument in node.arguments or ()
        )
        return DEFAULT_PAGE_SIZE if has_page or _is_connection(node) else 1


def _is_connection(node: FieldNode) -> bool:
    """A field whose selection reads `edges` or `nodes` is a connection."""
    if node.selection_set is None:
        return False
    return any(
        isinstance(selection, FieldNode) and selection.name.value in ("edges", "nodes")
        for selection in node.selection_set.selections
    )


def measure(document: DocumentNode, variables: Mapping[str, Any] | None = None) -> list[_Walk]:
    fragments = {
        definition.name.value: definition
        for definition in document.definitions
        if isinstance(definition, FragmentDefinitionNode)
    }
    walks = []
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            walk = _Walk(fragments, variables or {})
            walk.selections(definition.selection_set, 1, 1, frozenset())
            walks.append(walk)
    return walks


def static_errors(document: DocumentNode, limits: Limits) -> tuple[list[GraphQLError], bool]:
    """Depth, alias and (literal) cost errors; and whether cost needs the variables."""
    errors: list[GraphQLError] = []
    variable_sized = False
    for walk in measure(document):
        if walk.depth > limits.max_depth:
            errors.append(
                limit_error(
                    f"The query is {walk.depth} levels deep; at most {limits.max_depth} allowed.",
                    "QUERY_TOO_DEEP",
                    limit=limits.max_depth,
                )
            )
        if walk.aliases > limits.max_aliases:
            errors.append(
                limit_error(
                    f"The query uses {walk.aliases} aliases; at most {limits.max_aliases} allowed.",
                    "TOO_MANY_ALIASES",
                    limit=limits.max_aliases,
                )
            )
        variable_sized = variable_sized or walk.variable_sized
        if not walk.variable_sized and walk.cost > limits.max_cost:
            errors.append(cost_error(walk.cost, limits.max_cost))
    return errors, variable_sized


def cost_error(cost: int, limit: int) -> GraphQLError:
    return limit_error(
        f"The query may cost {cost}; at most {limit} allowed (connections weigh by first/last).",
        "QUERY_TOO_COSTLY",
        cost=cost,
        limit=limit,
    )


def variable_cost_errors(
    document: DocumentNode, variables: Mapping[str, Any], limit: int
) -> list[GraphQLError]:
    return [
        cost_error(walk.cost, limit) for walk in measure(document, variables) if walk.cost > limit
    ]
