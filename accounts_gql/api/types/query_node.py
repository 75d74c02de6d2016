"""`node(id)` and `nodes(ids)`: any object by its global id (services/reads/nodes.py)."""

from __future__ import annotations

from typing import Any

import strawberry

from accounts_gql.api.fields import data_field
from accounts_gql.api.types.node import Node
from accounts_gql.services.reads import nodes as reads


def _node(id: strawberry.ID) -> dict[str, Any]:
    return {"id": id}


def _nodes(ids: list[strawberry.ID]) -> dict[str, Any]:
    return {"ids": ids}


@strawberry.type
class NodeQueries:
    node: Node | None = data_field(reads.NODE, _node, description="Any object by its global id.")
    nodes: list[Node | None] = data_field(
        reads.NODES,
        _nodes,
        description="Objects by their global ids, in the same order (null if absent).",
    )
