"""Row objects made by repositories/rows.py: each is the object its class's own
constructor gives, as frozen, and `maker` refuses classes it would get wrong."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from accounts_gql.repositories.memberships import MembershipRow
from accounts_gql.repositories.rows import maker, projection
from accounts_gql.services.reads import rows

ROW_CLASSES = [getattr(rows, name) for name in rows.__all__]


def values(cls: type) -> list[Any]:
    """A distinct value per field, whatever its type."""
    return [f"{field.name}-{index}" for index, field in enumerate(dataclasses.fields(cls))]


@pytest.mark.parametrize("cls", ROW_CLASSES, ids=lambda cls: cls.__name__)
def test_a_made_row_is_the_constructed_one(cls: type) -> None:
    record = values(cls)
    made = maker(cls)(record)
    built = cls(*record)
    assert type(made) is cls
    assert made == built
    assert hash(made) == hash(built)
    assert repr(made) == repr(built)
    assert dataclasses.astuple(made) == tuple(record)


@pytest.mark.parametrize("cls", ROW_CLASSES, ids=lambda cls: cls.__name__)
def test_a_made_row_stays_frozen(cls: type) -> None:
    made = maker(cls)(values(cls))
    name = dataclasses.fields(cls)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(made, name, "changed")
    with pytest.raises((AttributeError, TypeError)):
        made.__dict__  # noqa: B018 - slotted: no instance dictionary to write to


def test_positions_pick_and_order_the_columns() -> None:
    group_id, user_id, added_by = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    joined = datetime(2026, 1, 2, tzinfo=UTC)
    page_record = (group_id, user_id, "member", joined, added_by)
    made = maker(MembershipRow, (1, 0, 2, 3, 4))(page_record)
    assert made == MembershipRow(user_id, group_id, "member", joined, added_by)


def test_extra_columns_after_the_fields_are_left_out() -> None:
    record = [*values(MembershipRow), "has_more"]
    assert maker(MembershipRow)(record) == MembershipRow(*record[:-1])


def test_classes_maker_would_get_wrong_are_refused() -> None:
    @dataclasses.dataclass(frozen=True)
    class NoSlots:
        a: int

    @dataclasses.dataclass(frozen=True, slots=True)
    class Checked:
        a: int

        def __post_init__(self) -> None:
            raise ValueError

    @dataclasses.dataclass(frozen=True, slots=True)
    class Derived:
        a: int
        b: list[int] = dataclasses.field(default_factory=list, init=False)

    for cls in (NoSlots, Checked, Derived):
        with pytest.raises(TypeError):
            maker(cls)
    with pytest.raises(TypeError):
        maker(MembershipRow, (0, 1))


@pytest.mark.parametrize("cls", ROW_CLASSES, ids=lambda cls: cls.__name__)
def test_a_projected_row_has_its_fields_and_no_other(cls: type) -> None:
    """Fields taken from the record's positions in the class's order, whatever order
    they are named in; any other field is unset, and reading it fails loudly."""
    names = [field.name for field in dataclasses.fields(cls)]
    kept = names[::2]
    made = projection(cls, list(reversed(kept)))([f"{name}!" for name in kept])
    assert type(made) is cls
    for name in names:
        if name in kept:
            assert getattr(made, name) == f"{name}!"
        else:
            with pytest.raises(AttributeError):
                getattr(made, name)
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(made, kept[0], "changed")


def test_a_projection_of_a_field_the_class_lacks_is_refused() -> None:
    with pytest.raises(TypeError, match="no fields"):
        projection(MembershipRow, ["role", "email"])
