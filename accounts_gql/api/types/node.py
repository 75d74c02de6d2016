"""The Node interface: every object with a global id."""

from __future__ import annotations

import strawberry


@strawberry.interface(name="Node", description="An object with a global id.")
class Node:
    @strawberry.field(description="The object's opaque global id.")
    def id(self) -> strawberry.ID:  # pragma: no cover - each type resolves its own
        raise NotImplementedError
