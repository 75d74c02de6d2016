"""The read side's field contract (PRODUCT §8): each field that needs data, once.

A `Read` is a GraphQL field that needs data, declared in the services layer: a
batch function from the viewer, the parents and the arguments to one result per
parent, and the visibility rule services/authorization.py gives the field. The
GraphQL layer builds both execution paths from it (api/fields.py): Strawberry's
resolver calls it with one parent, an execution plan with every parent of a level.
So the rule is applied in one place, before the arguments are looked at.

A batch function asks its loaders (services/reads/loaders.py) before it returns,
so that the loads of one level share one batch however its results are awaited.
It may make its statements cheaper (another repository call, another loader)
without the GraphQL types noticing: they see only this contract.

Reads also say which loaders they ask, so that an execution plan can have the
loads of a level below fetched with those of the level above (`Loaders.follow`):
`rows` are the loaders whose rows the objects below the field are, `key` the
loader the field asks with an attribute of its parent, `links` loaders the
read itself asks one after the other, `asks` any other loader it asks. A key
loader whose keys also take the field's arguments (a group's page of members)
comes with `shape`: the arguments' part of the key, from the read's arguments.

They also say what they read of rows, so that a plan can ask a loader for only
the columns its query needs (services/reads/loaders.py, "Projections"): `uses`,
the parent's attributes the read takes (None: not declared, the parent is read
whole), and `reads`, those of its own rows (`rows`) it looks at itself.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from accounts_gql.core.settings import Settings
from accounts_gql.core.viewer import Viewer
from accounts_gql.services.authorization import (
    VISIBILITY,
    Visibility,
    can_see_private,
    require_signed_in,
)
from accounts_gql.services.reads.loaders import Link, Loaders
from accounts_gql.services.reads.sources import SOURCES, primed, projection, rows_type

# One result per parent, now or once awaited.
Results = list[Any] | Awaitable[list[Any]]
BatchFunction = Callable[..., Results]


class Scope(Protocol):
    """What a read needs of its request (the GraphQL context is one)."""

    @property
    def viewer(self) -> Viewer: ...

    @property
    def loaders(self) -> Loaders: ...

    @property
    def settings(self) -> Settings | None: ...


@dataclass(frozen=True, slots=True)
class Read:
    """A field that needs data: `batch(scope, parents, **arguments)`, as `visibility` allows.

    `awaits`: whether `batch` answers with an awaitable (else a list at once).
    `owner`: for SELF_OR_ADMIN, the id of the user a parent belongs to.
    `rows`, `key`, `links`, `asks`: the loaders it asks (see the module); a key is
    the loader and the parent's attribute (a column of the parent's rows) it asks
    with. `uses`, `reads`: the attributes it takes of its parents and of its rows.
    """

    type_name: str
    field_name: str
    batch: BatchFunction
    awaits: bool = True
    owner: Callable[[Any], uuid.UUID] | None = None
    rows: tuple[str, ...] = ()
    key: tuple[str, str] | None = None
    links: tuple[Link, ...] = ()
    asks: tuple[str, ...] = ()
    shape: Callable[..., Any] | None = None
    uses: tuple[str, ...] | None = None
    reads: tuple[str, ...] = ()
    visibility: Visibility = field(init=False)

    def __post_init__(self) -> None:
        key = (self.type_name, self.field_name)
        object.__setattr__(self, "visibility", VISIBILITY[key])
        if (self.visibility is Visibility.SELF_OR_ADMIN) != (self.owner is not None):
            raise TypeError(f"{key}: an owner goes with SELF_OR_ADMIN, and only with it")
        if unknown := self.asked - SOURCES.keys():
            raise TypeError(f"{key}: no loader named {sorted(unknown)}")
        if self.key is not None and self.uses and self.key[1] not in self.uses:
            raise TypeError(f"{key}: asks with {self.key[1]}, which it does not use")
        READS[key] = self

    @property
    def asked(self) -> set[str]:
        """Every loader it asks."""
        named = {*self.rows, *self.asks, *(self.key or ())[:1]}
        named.update(name for link in self.links for name in link[:2])
        return named

    def __call__(self, scope: Scope, parents: list[Any], arguments: Mapping[str, Any]) -> Results:
        """The field's result for each parent, as its visibility rule allows."""
        rule = self.visibility
        if rule is Visibility.SIGNED_IN:
            require_signed_in(scope.viewer)
        elif rule is Visibility.SELF_OR_ADMIN:
            return self._private(scope, parents, arguments)
        return self.batch(scope, parents, **arguments)

    def _private(self, scope: Scope, parents: list[Any], arguments: Mapping[str, Any]) -> Results:
        """Null for the parents of other users, unless the viewer is an admin."""
        viewer, owner = scope.viewer, self.owner
        assert owner is not None
        visible = [can_see_private(viewer, owner(parent)) for parent in parents]
        if all(visible):
            return self.batch(scope, parents, **arguments)
        shown = [parent for parent, seen in zip(parents, visible, strict=True) if seen]
        found = self.batch(scope, shown, **arguments) if shown else []
        if not self.awaits:
            return _merged(visible, found)  # type: ignore[arg-type]
        return _merged_later(visible, found)

    def __repr__(self) -> str:
        return f"Read({self.type_name}.{self.field_name}, {self.visibility.name})"


def loader_columns(loader: str, needs: frozenset[str]) -> frozenset[str] | None:
    """The columns `loader` asks for when its rows are used for `needs` alone, or
    None when it reads them whole (services/reads/loaders.py, "Projections")."""
    return projection(loader, needs)


def loader_rows_type(loader: str) -> str | None:
    """The GraphQL type `loader`'s rows are (None: not one type)."""
    return rows_type(loader)


def loader_primes(loader: str) -> str | None:
    """The loader a root page's rows are primed in (None: not a root page)."""
    return primed(loader)


# Every read, by (GraphQL type, field): filled as the reads modules are imported.
READS: dict[tuple[str, str], Read] = {}


def _merged(visible: list[bool], found: list[Any]) -> list[Any]:
    results = iter(found)
    return [next(results) if seen else None for seen in visible]


async def _merged_later(visible: list[bool], found: list[Any] | Awaitable[list[Any]]) -> list[Any]:
    return _merged(visible, found if isinstance(found, list) else await found)


class Ready:
    """An awaitable of results at hand (a read that needs no statement)."""

    __slots__ = ("value",)

    def __init__(self, value: list[Any]) -> None:
        self.value = value

    def __await__(self) -> Generator[Any, None, list[Any]]:
        return self.value
        yield  # a generator, though it never suspends
