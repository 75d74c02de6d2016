"""Row objects made from records, as cheaply as Python allows.

The rows of the reads are frozen, slotted dataclasses, and a frozen dataclass's
`__init__` sets each field through `object.__setattr__`, the price of being
frozen: about 0.6 µs for a membership's five fields and 0.95 µs for a user's
nine, paid for every row of every read (a page of 100 members builds 300 row
objects). `maker(cls)` builds the same object straight through the slots' own
descriptors, in 55–60% of that time. The object is the one `cls(*record)`
gives, and as frozen afterwards (its `__setattr__` still refuses); the
generated function is what dataclasses generates for a plain `__init__`, with
the slots' setters in place of assignments (tests/test_rows.py holds each row
class to this).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import fields, is_dataclass
from typing import Any, TypeVar

T = TypeVar("T")


def maker(cls: type[T], positions: Sequence[int] | None = None) -> Callable[[Any], T]:
    """A function of a record giving `cls(*record)`, or with `positions`,
    `cls(record[positions[0]], record[positions[1]], …)`.

    Only for a frozen, slotted dataclass whose fields are all set by `__init__`
    from its arguments (no `__post_init__`, no field left out of `__init__`)."""
    names = _field_names(cls)
    at = list(positions) if positions is not None else list(range(len(names)))
    if len(at) != len(names):
        raise TypeError(f"{cls.__name__} has {len(names)} fields, not {len(at)}")
    return _generate(cls, list(zip(names, at, strict=True)), cls.__name__)


def projection(cls: type[T], names: Collection[str]) -> Callable[[Any], T]:
    """A function of a record of the fields `names`, in the class's order, giving
    a `cls` with only those fields set. Reading any other raises AttributeError,
    as an unset slot does, so a use nobody declared fails loudly instead of
    answering a wrong value (services/reads/loaders.py, "Projections"). Equality
    and repr need every field: such a row is for reading its declared fields."""
    wanted = [name for name in _field_names(cls) if name in names]
    if unknown := set(names) - set(wanted):
        raise TypeError(f"{cls.__name__} has no fields {sorted(unknown)}")
    pairs = [(name, position) for position, name in enumerate(wanted)]
    return _generate(cls, pairs, f"{cls.__name__}: {', '.join(wanted)}")


def _field_names(cls: type) -> list[str]:
    if not (is_dataclass(cls) and "__slots__" in cls.__dict__):
        raise TypeError(f"{cls.__name__} is not a slotted dataclass")
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__name__} has a __post_init__ that maker would skip")
    if any(not field.init for field in fields(cls)):
        raise TypeError(f"{cls.__name__} has fields its records do not give")
    return [field.name for field in fields(cls)]


def _generate(cls: type[T], pairs: list[tuple[str, int]], label: str) -> Callable[[Any], T]:
    """`make(record)`: a new `cls` with each named slot set from its position.
    Generated like dataclasses' own __init__: one call per slot, no loop."""
    setters = {f"_set{i}": getattr(cls, name).__set__ for i, (name, _) in enumerate(pairs)}
    lines = [f"    _set{i}(row, record[{position}])" for i, (_, position) in enumerate(pairs)]
    parameters = "".join(f", {setter}={setter}" for setter in setters)
    source = (
        f"def make(record, _new=_new, _cls=_cls{parameters}):\n"
        "    row = _new(_cls)\n" + "".join(line + "\n" for line in lines) + "    return row\n"
    )
    namespace: dict[str, Any] = {"_new": object.__new__, "_cls": cls, **setters}
    exec(source, namespace)  # our own text, built from the field names
    make: Callable[[Any], T] = namespace["make"]
    make.__qualname__ = f"maker({label})"
    return make
