"""User contacts through their stored functions (sql/0003_contacts.sql)."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import asyncpg
import pytest

from accounts_gql.core.errors import DomainError, ErrorKind
from accounts_gql.repositories import contact_types, contacts
from accounts_gql.repositories.contacts import ContactRow, Executor

STATE_KEYS = {
    "id", "user_id", "contact_type_id", "type", "value", "is_primary", "is_verified",
    "is_active", "created_at", "updated_at", "deactivated_at",
}  # fmt: skip


def _json(value: object) -> object:
    """A jsonb column's value, whether or not the pool decodes jsonb."""
    return json.loads(value) if isinstance(value, str) else value


async def make_user(db: Executor, unique: str, suffix: str = "") -> uuid.UUID:
    user_id: uuid.UUID = await db.fetchval(
        "INSERT INTO accounts.users (username) VALUES ($1) RETURNING id", f"u{unique}{suffix}"
    )
    return user_id


async def events(db: Executor, aggregate_id: uuid.UUID) -> list[dict[str, Any]]:
    """The outbox rows of one aggregate, in sequence order."""
    records = await db.fetch(
        "SELECT event_type, aggregate_type, aggregate_id, sequence, actor_id, payload"
        " FROM accounts.outbox WHERE aggregate_id = $1 ORDER BY sequence",
        aggregate_id,
    )
    return [{**record, "payload": _json(record["payload"])} for record in records]


async def snapshot(db: asyncpg.Connection, user_id: uuid.UUID) -> tuple[Any, ...]:
    """Everything a failed write must leave as it was."""
    rows = await contacts.contacts_by_user_ids(db, [user_id], include_inactive=True)
    count = await db.fetchval("SELECT active_contacts FROM accounts.users WHERE id = $1", user_id)
    return (rows, count, await events(db, user_id))


def phone(unique: str, tail: int = 0) -> str:
    """A valid E.164 number of this test's own."""
    return f"+49{int(unique, 16) % 10**9:09d}{tail}"


def assert_state(state: dict[str, Any], row: ContactRow) -> None:
    assert set(state) == STATE_KEYS
    assert state["id"] == str(row.id)
    assert state["user_id"] == str(row.user_id)
    assert state["contact_type_id"] == str(row.contact_type_id)
    assert state["type"] == row.type_code
    assert (state["value"], state["is_primary"]) == (row.value, row.is_primary)
    assert (state["is_verified"], state["is_active"]) == (row.is_verified, row.is_active)
    assert (state["deactivated_at"] is None) == (row.deactivated_at is None)


async def expect_error(call: Any, kind: ErrorKind, field: str | None) -> DomainError:
    with pytest.raises(DomainError) as caught:
        await call
    assert caught.value.kind is kind, caught.value
    assert caught.value.field == field
    return caught.value


# Adding ----------------------------------------------------------------------


async def test_add_normalises_an_email_and_records_one_event(
    db: asyncpg.Connection, unique: str
) -> None:
    user_id = await make_user(db, unique)
    actor = uuid.uuid4()

    row = await contacts.add_contact(
        db, user_id, "email", f"  Mixed.Case.{unique}@Example.COM \t", actor_id=actor
    )

    assert row.value == f"mixed.case.{unique}@example.com"
    assert (row.type_code, row.user_id, row.is_active, row.is_verified) == (
        "email",
        user_id,
        True,
        False,
    )
    assert row.is_primary, "the first contact of a type becomes primary"
    assert row.deactivated_at is None
    [event] = await events(db, user_id)
    assert (event["event_type"], event["aggregate_type"], event["sequence"]) == (
        "contact.added",
        "user",
        1,
    )
    assert event["actor_id"] == actor
    assert set(event["payload"]) == {"contact", "previous_primary_id"}
    assert event["payload"]["previous_primary_id"] is None
    assert_state(event["payload"]["contact"], row)
    assert (
        await db.fetchval("SELECT active_contacts FROM accounts.users WHERE id = $1", user_id) == 1
    )


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("+49 30 1234-5678", "+493012345678"),
        ("0049 (30) 1234 5678", "+493012345678"),
        ("+1 (555) 123.4567", "+15551234567"),
        (" 0044 20 7946 0958 ", "+442079460958"),
        ("+33-1-23-45-67-89", "+33123456789"),
    ],
)
async def test_phone_numbers_are_stored_in_e164(
    db: asyncpg.Connection, typed: str, stored: str
) -> None:
    assert await contacts.normalize_contact_value(db, "phone", typed) == stored


async def test_other_values_are_trimmed_only(db: asyncpg.Connection) -> None:
    assert await contacts.normalize_contact_value(db, "email", " A@B.Org ") == "a@b.org"
    assert await contacts.normalize_contact_value(db, "matrix", "  @Some_One:m.org ") == (
        "@Some_One:m.org"
    )
    # Telegram usernames ignore case (sql/0011).
    assert await contacts.normalize_contact_value(db, "telegram", "  @Some_One ") == "@some_one"


async def test_a_national_phone_number_without_country_is_refused(
    db: asyncpg.Connection, unique: str
) -> None:
    user_id = await make_user(db, unique)
    await expect_error(
        contacts.add_contact(db, user_id, "phone", "030 1234567"), ErrorKind.VALIDATION, "value"
    )


async def test_added_phone_is_e164_and_second_primary_takes_the_flag(
    db: asyncpg.Connection, unique: str
) -> None:
    user_id = await make_user(db, unique)
    first = await contacts.add_contact(db, user_id, "phone", "00" + phone(unique, 1)[1:])
    second = await contacts.add_contact(db, user_id, "phone", phone(unique, 2))
    third = await contacts.add_contact(db, user_id, "phone", phone(unique, 3), is_primary=True)

    assert first.value == phone(unique, 1)
    assert (first.is_primary, second.is_primary, third.is_primary) == (True, False, True)
    rows = {row.id: row for row in await contacts.contacts_by_user_ids(db, [user_id])}
    assert [rows[c.id].is_primary for c in (first, second, third)] == [False, False, True]
    added = await events(db, user_id)
    assert [(e["event_type"], e["sequence"]) for e in added] == [
        ("contact.added", 1),
        ("contact.added", 2),
        ("contact.added", 3),
    ]
    assert added[2]["payload"]["previous_primary_id"] == str(first.id)
    assert added[1]["payload"]["previous_primary_id"] is None


async def test_a_value_belongs_to_one_user_until_deactivated(
    db: asyncpg.Connection, unique: str
) -> None:
    alice = await make_user(db, unique, "a")
    bob = await make_user(db, unique, "b")
    email = f"shared.{unique}@example.com"
    owned = await contacts.add_contact(db, alice, "email", email)

    before = await snapshot(db, bob)
    error = await expect_error(
        contacts.add_contact(db, bob, "email", email.upper()),
        ErrorKind.CONTACT_VALUE_TAKEN,
        "value",
    )
    assert "another user" in error.message
    assert await snapshot(db, bob) == before
    await expect_error(
        contacts.add_contact(db, alice, "email", f" {email} "),
        ErrorKind.CONTACT_VALUE_TAKEN,
        "value",
    )

    await contacts.deactivate_contact(db, owned.id)
    taken = await contacts.add_contact(db, bob, "email", email)
    assert (taken.user_id, taken.is_active) == (bob, True)
    again = await contacts.add_contact(db, alice, "email", f"other.{unique}@example.com")
    assert again.is_primary, "with no primary left, the next one added becomes primary"


async def test_a_non_unique_type_is_shared_but_held_once_per_user(
    db: asyncpg.Connection, unique: str
) -> None:
    code = f"t{unique}"
    await contact_types.create_contact_type(db, code, "Team chat", None, False)
    alice = await make_user(db, unique, "a")
    bob = await make_user(db, unique, "b")
    await contacts.add_contact(db, alice, code, "room-1")
    shared = await contacts.add_contact(db, bob, code, " room-1 ")
    assert shared.value == "room-1"
    error = await expect_error(
        contacts.add_contact(db, bob, code, "room-1"), ErrorKind.CONTACT_VALUE_TAKEN, "value"
    )
    assert "already has" in error.message


async def test_the_51st_active_contact_is_refused_until_one_is_deactivated(
    db: asyncpg.Connection, unique: str
) -> None:
    user_id = await make_user(db, unique)
    added = [
        await contacts.add_contact(db, user_id, "email", f"n{i}.{unique}@example.com")
        for i in range(50)
    ]
    before = await snapshot(db, user_id)

    # As primary, so the refused call also had to undo taking the flag from added[0].
    error = await expect_error(
        contacts.add_contact(db, user_id, "email", f"n50.{unique}@example.com", is_primary=True),
        ErrorKind.LIMIT_REACHED,
        None,
    )
    assert error.detail == {"limit": 50}
    assert await snapshot(db, user_id) == before

    await contacts.deactivate_contact(db, added[7].id)
    last = await contacts.add_contact(db, user_id, "email", f"n50.{unique}@example.com")
    assert last.is_active
    assert len(await contacts.contacts_by_user_ids(db, [user_id])) == 50


@pytest.mark.parametrize(
    ("type_code", "value", "kind", "field"),
    [
        ("nosuchtype", "x", ErrorKind.NOT_FOUND, "type"),
        ("email", "", ErrorKind.VALIDATION, "value"),
        ("email", "   ", ErrorKind.VALIDATION, "value"),
        ("email", "not-an-email", ErrorKind.VALIDATION, "value"),
        ("email", "a@" + "b" * 320 + ".com", ErrorKind.VALIDATION, "value"),
        ("phone", "+0 123", ErrorKind.VALIDATION, "value"),
        ("phone", "call me", ErrorKind.VALIDATION, "value"),
        ("phone", "+49 30 12", ErrorKind.VALIDATION, "value"),
    ],
)
async def test_bad_additions_change_nothing(
    db: asyncpg.Connection,
    unique: str,
    type_code: str,
    value: str,
    kind: ErrorKind,
    field: str,
) -> None:
    user_id = await make_user(db, unique)
    await contacts.add_contact(db, user_id, "email", f"keep.{unique}@example.com")
    before = await snapshot(db, user_id)
    await expect_error(contacts.add_contact(db, user_id, type_code, value), kind, field)
    assert await snapshot(db, user_id) == before


async def test_a_long_value_of_a_type_without_pattern_is_refused(
    db: asyncpg.Connection, unique: str
) -> None:
    code = f"t{unique}"
    await contact_types.create_contact_type(db, code, "Free text", None, False)
    user_id = await make_user(db, unique)
    assert (await contacts.add_contact(db, user_id, code, "x" * 320)).value == "x" * 320
    await expect_error(
        contacts.add_contact(db, user_id, code, "y" * 321), ErrorKind.VALIDATION, "value"
    )


async def test_adding_to_a_missing_or_deactivated_user_or_inactive_type_is_refused(
    db: asyncpg.Connection, unique: str
) -> None:
    await expect_error(
        contacts.add_contact(db, uuid.uuid4(), "email", f"x.{unique}@example.com"),
        ErrorKind.NOT_FOUND,
        "userId",
    )
    user_id = await make_user(db, unique)
    code = f"t{unique}"
    created = await contact_types.create_contact_type(db, code, "Old chat", None, False)
    await contact_types.update_contact_type(db, created.id, is_active=False)
    await expect_error(
        contacts.add_contact(db, user_id, code, "someone"), ErrorKind.INVALID_STATE, "type"
    )
    await db.execute("UPDATE accounts.users SET status = 'deactivated' WHERE id = $1", user_id)
    await expect_error(
        contacts.add_contact(db, user_id, "email", f"x.{unique}@example.com"),
        ErrorKind.INVALID_STATE,
        "userId",
    )
    assert await events(db, user_id) == []


# Updating ----------------------------------------------------------------------


async def test_a_new_value_is_unverified_and_the_event_holds_only_changes(
    db: asyncpg.Connection, unique: str
) -> None:
    user_id = await make_user(db, unique)
    actor = uuid.uuid4()
    row = await contacts.add_contact(
        db, user_id, "email", f"old.{unique}@example.com", is_verified=True
    )

    changed = await contacts.update_contact(
        db, row.id, value=f" NEW.{unique}@example.com", actor_id=actor
    )

    assert (changed.value, changed.is_verified) == (f"new.{unique}@example.com", False)
    assert (changed.is_primary, changed.created_at) == (row.is_primary, row.created_at)
    event = (await events(db, user_id))[-1]
    assert (event["event_type"], event["aggregate_type"], event["sequence"]) == (
        "contact.updated",
        "user",
        2,
    )
    assert event["actor_id"] == actor
    assert event["payload"]["before"] == {"value": row.value, "is_verified": True}
    assert event["payload"]["after"] == {"value": changed.value, "is_verified": False}
    assert_state(event["payload"]["contact"], changed)


async def test_verification_alone_and_value_with_verification(
    db: asyncpg.Connection, unique: str
) -> None:
    user_id = await make_user(db, unique)
    row = await contacts.add_contact(db, user_id, "phone", phone(unique, 1))

    verified = await contacts.update_contact(db, row.id, is_verified=True)
    assert (verified.value, verified.is_verified) == (row.value, True)
    moved = await contacts.update_contact(db, row.id, value=phone(unique, 2), is_verified=True)
    assert (moved.value, moved.is_verified) == (phone(unique, 2), True)

    changes = [
        (e["payload"]["before"], e["payload"]["after"]) for e in (await events(db, user_id))[1:]
    ]
    assert changes == [
        ({"is_verified": False}, {"is_verified": True}),
        ({"value": phone(unique, 1)}, {"value": phone(unique, 2)}),
    ]


async def test_an_update_that_changes_nothing_records_nothing(
    db: asyncpg.Connection, unique: str
) -> None:
    user_id = await make_user(db, unique)
    row = await contacts.add_contact(db, user_id, "email", f"same.{unique}@example.com")
    before = await snapshot(db, user_id)
    same = await contacts.update_contact(db, row.id, value=f"SAME.{unique}@example.com ")
    assert same == row
    assert await snapshot(db, user_id) == before


async def test_bad_updates_change_nothing(db: asyncpg.Connection, unique: str) -> None:
    alice = await make_user(db, unique, "a")
    bob = await make_user(db, unique, "b")
    theirs = await contacts.add_contact(db, bob, "email", f"bob.{unique}@example.com")
    row = await contacts.add_contact(db, alice, "email", f"alice.{unique}@example.com")
    mine = await contacts.add_contact(db, alice, "email", f"alice2.{unique}@example.com")
    before = await snapshot(db, alice)

    await expect_error(
        contacts.update_contact(db, uuid.uuid4(), value="x@example.com"), ErrorKind.NOT_FOUND, "id"
    )
    for value in ("", "nope", theirs.value, mine.value.upper()):
        kind = ErrorKind.VALIDATION if value in ("", "nope") else ErrorKind.CONTACT_VALUE_TAKEN
        await expect_error(contacts.update_contact(db, row.id, value=value), kind, "value")
    await contacts.deactivate_contact(db, mine.id)
    before = await snapshot(db, alice)
    await expect_error(
        contacts.update_contact(db, mine.id, is_verified=True), ErrorKind.INVALID_STATE, "id"
    )
    assert await snapshot(db, alice) == before


# Primary and deactivation ------------------------------------------------------


async def test_set_primary_moves_the_flag_and_names_both(
    db: asyncpg.Connection, unique: str
) -> None:
    user_id = await make_user(db, unique)
    actor = uuid.uuid4()
    first = await contacts.add_contact(db, user_id, "email", f"a.{unique}@example.com")
    second = await contacts.add_contact(db, user_id, "email", f"b.{unique}@example.com")
    assert not second.is_primary

    primary = await contacts.set_primary_contact(db, second.id, actor_id=actor)

    assert primary.is_primary
    rows = {row.id: row for row in await contacts.contacts_by_ids(db, [first.id, second.id])}
    assert (rows[first.id].is_primary, rows[second.id].is_primary) == (False, True)
    event = (await events(db, user_id))[-1]
    assert (event["event_type"], event["aggregate_type"], event["sequence"]) == (
        "contact.primary_changed",
        "user",
        3,
    )
    assert event["actor_id"] == actor
    assert event["payload"]["previous_primary_id"] == str(first.id)
    assert_state(event["payload"]["contact"], primary)

    before = await snapshot(db, user_id)
    assert await contacts.set_primary_contact(db, second.id) == primary
    assert await snapshot(db, user_id) == before, "already primary: no change, no event"


async def test_only_an_active_contact_can_be_primary(db: asyncpg.Connection, unique: str) -> None:
    user_id = await make_user(db, unique)
    await contacts.add_contact(db, user_id, "email", f"a.{unique}@example.com")
    gone = await contacts.add_contact(db, user_id, "email", f"b.{unique}@example.com")
    await contacts.deactivate_contact(db, gone.id)
    before = await snapshot(db, user_id)
    await expect_error(contacts.set_primary_contact(db, gone.id), ErrorKind.INVALID_STATE, "id")
    await expect_error(contacts.set_primary_contact(db, uuid.uuid4()), ErrorKind.NOT_FOUND, "id")
    assert await snapshot(db, user_id) == before


async def test_deactivating_the_primary_promotes_nothing(
    db: asyncpg.Connection, unique: str
) -> None:
    user_id = await make_user(db, unique)
    actor = uuid.uuid4()
    primary = await contacts.add_contact(db, user_id, "email", f"a.{unique}@example.com")
    other = await contacts.add_contact(db, user_id, "email", f"b.{unique}@example.com")

    gone = await contacts.deactivate_contact(db, primary.id, actor_id=actor)

    assert (gone.is_active, gone.is_primary) == (False, False)
    assert gone.deactivated_at is not None
    [still] = await contacts.contacts_by_user_ids(db, [user_id])
    assert (still.id, still.is_primary) == (other.id, False)
    assert [r.id for r in await contacts.contacts_by_user_ids(db, [user_id], True)] == [
        primary.id,
        other.id,
    ]
    event = (await events(db, user_id))[-1]
    assert (event["event_type"], event["sequence"], event["actor_id"]) == (
        "contact.deactivated",
        3,
        actor,
    )
    assert_state(event["payload"]["contact"], gone)
    assert (
        await db.fetchval("SELECT active_contacts FROM accounts.users WHERE id = $1", user_id) == 1
    )

    before = await snapshot(db, user_id)
    await expect_error(contacts.deactivate_contact(db, gone.id), ErrorKind.INVALID_STATE, "id")
    await expect_error(contacts.deactivate_contact(db, uuid.uuid4()), ErrorKind.NOT_FOUND, "id")
    assert await snapshot(db, user_id) == before


async def test_reads_are_batched_and_ordered(db: asyncpg.Connection, unique: str) -> None:
    alice = await make_user(db, unique, "a")
    bob = await make_user(db, unique, "b")
    a1 = await contacts.add_contact(db, alice, "email", f"a1.{unique}@example.com")
    b1 = await contacts.add_contact(db, bob, "email", f"b1.{unique}@example.com")
    a2 = await contacts.add_contact(db, alice, "phone", phone(unique))

    rows = await contacts.contacts_by_user_ids(db, [bob, alice])
    by_user = sorted([alice, bob])
    expected = {alice: [a1.id, a2.id], bob: [b1.id]}
    assert [r.id for r in rows] == expected[by_user[0]] + expected[by_user[1]]
    assert {r.id: r.type_code for r in rows} == {a1.id: "email", a2.id: "phone", b1.id: "email"}
    assert await contacts.contacts_by_ids(db, [a2.id, uuid.uuid4()]) == [a2]


# Races -----------------------------------------------------------------------


async def test_racing_set_primary_calls_leave_exactly_one_primary(
    pool: asyncpg.Pool, unique: str
) -> None:
    async with pool.acquire() as db:
        user_id = await make_user(db, unique)
        made = [
            await contacts.add_contact(db, user_id, "email", f"r{i}.{unique}@example.com")
            for i in range(3)
        ]
    for _ in range(8):
        async with pool.acquire() as one, pool.acquire() as two:
            results = await asyncio.gather(
                contacts.set_primary_contact(one, made[1].id),
                contacts.set_primary_contact(two, made[2].id),
                return_exceptions=True,
            )
        assert all(isinstance(r, ContactRow) for r in results), results
        rows = await contacts.contacts_by_user_ids(pool, [user_id])
        assert sum(r.is_primary for r in rows) == 1
        async with pool.acquire() as db:
            await contacts.set_primary_contact(db, made[0].id)


async def test_set_primary_waits_for_a_concurrent_one(pool: asyncpg.Pool, unique: str) -> None:
    async with pool.acquire() as db:
        user_id = await make_user(db, unique)
        first = await contacts.add_contact(db, user_id, "phone", phone(unique, 1))
        second = await contacts.add_contact(db, user_id, "phone", phone(unique, 2))
        third = await contacts.add_contact(db, user_id, "phone", phone(unique, 3))
    async with pool.acquire() as one, pool.acquire() as two:
        transaction = one.transaction()
        await transaction.start()
        await contacts.set_primary_contact(one, second.id)
        waiting = asyncio.create_task(contacts.set_primary_contact(two, third.id))
        await asyncio.sleep(0.2)
        assert not waiting.done(), "the second call waits for the first one's lock"
        await transaction.commit()
        assert (await waiting).is_primary
    rows = {r.id: r.is_primary for r in await contacts.contacts_by_user_ids(pool, [user_id])}
    assert rows == {first.id: False, second.id: False, third.id: True}
    [last] = [e for e in await events(pool, user_id) if e["sequence"] == 5]
    assert last["payload"]["previous_primary_id"] == str(second.id)


async def test_two_users_adding_one_email_at_once_get_one_conflict(
    pool: asyncpg.Pool, unique: str
) -> None:
    async with pool.acquire() as db:
        alice = await make_user(db, unique, "a")
        bob = await make_user(db, unique, "b")
    email = f"race.{unique}@example.com"
    async with pool.acquire() as one, pool.acquire() as two:
        transaction = one.transaction()
        await transaction.start()
        await contacts.add_contact(one, alice, "email", email)
        # Bob's check cannot see Alice's uncommitted row; the unique index waits for it.
        waiting = asyncio.create_task(contacts.add_contact(two, bob, "email", email))
        await asyncio.sleep(0.2)
        await transaction.commit()
        error = await expect_error(waiting, ErrorKind.CONTACT_VALUE_TAKEN, "value")
    assert "another user" in error.message
    assert await events(pool, bob) == []


async def test_many_racing_additions_of_one_email_let_one_through(
    pool: asyncpg.Pool, unique: str
) -> None:
    async with pool.acquire() as db:
        users = [await make_user(db, unique, str(i)) for i in range(4)]
    for round_ in range(3):
        email = f"race{round_}.{unique}@example.com"
        results = await asyncio.gather(
            *(contacts.add_contact(pool, user, "email", email) for user in users),
            return_exceptions=True,
        )
        wins = [r for r in results if isinstance(r, ContactRow)]
        losses = [r for r in results if isinstance(r, DomainError)]
        assert len(wins) == 1, results
        assert [e.kind for e in losses] == [ErrorKind.CONTACT_VALUE_TAKEN] * 3
