"""Contact types through their stored functions (sql/0003_contacts.sql)."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from accounts_gql.core.errors import ErrorKind
from accounts_gql.repositories import contact_types, contacts
from accounts_gql.repositories.contact_types import ContactTypeRow, Executor
from tests.sql.test_contacts import events, expect_error, make_user

STATE_KEYS = {
    "id", "code", "name", "validation_pattern", "is_unique", "is_active", "version",
    "created_at", "updated_at",
}  # fmt: skip


async def stored(db: Executor, type_id: uuid.UUID) -> ContactTypeRow:
    [row] = await contact_types.contact_types_by_ids(db, [type_id])
    return row


async def events_of_code(db: asyncpg.Connection, code: str) -> int:
    """Outbox rows about a code, for writes that failed before having an id."""
    count: int = await db.fetchval(
        "SELECT count(*) FROM accounts.outbox"
        " WHERE aggregate_type = 'contact_type' AND payload -> 'contact_type' ->> 'code' = $1",
        code,
    )
    return count


async def test_email_and_phone_exist_from_the_first_migration(db: asyncpg.Connection) -> None:
    rows = {row.code: row for row in await contact_types.list_contact_types(db)}
    assert (rows["email"].is_unique, rows["email"].is_active) == (True, True)
    assert (rows["phone"].is_unique, rows["phone"].is_active) == (True, True)
    assert rows["email"].validation_pattern is not None
    assert rows["phone"].validation_pattern == r"^\+[1-9][0-9]{6,14}$"


async def test_create_records_the_type_and_one_event(db: asyncpg.Connection, unique: str) -> None:
    actor = uuid.uuid4()
    code = f"tg_{unique}"

    row = await contact_types.create_contact_type(
        db, code, "  Telegram ", "^@[A-Za-z0-9_]{5,32}$", True, actor_id=actor
    )

    assert (row.code, row.name, row.is_unique, row.is_active, row.version) == (
        code,
        "Telegram",
        True,
        True,
        1,
    )
    assert row.validation_pattern == "^@[A-Za-z0-9_]{5,32}$"
    assert row in await contact_types.list_contact_types(db)
    [event] = await events(db, row.id)
    assert (event["event_type"], event["aggregate_type"], event["aggregate_id"]) == (
        "contact_type.created",
        "contact_type",
        row.id,
    )
    assert (event["sequence"], event["actor_id"]) == (1, actor)
    state = event["payload"]["contact_type"]
    assert set(state) == STATE_KEYS
    assert (state["id"], state["code"], state["is_unique"]) == (str(row.id), code, True)

    user_id = await make_user(db, unique)
    await expect_error(
        contacts.add_contact(db, user_id, code, "@no"), ErrorKind.VALIDATION, "value"
    )
    assert (await contacts.add_contact(db, user_id, code, " @some_one ")).value == "@some_one"


@pytest.mark.parametrize(
    ("code", "name", "pattern", "field"),
    [
        ("Bad", "Name", None, "code"),
        ("a", "Name", None, "code"),
        ("1abc", "Name", None, "code"),
        ("has-dash", "Name", None, "code"),
        ("x" * 33, "Name", None, "code"),
        ("good", "", None, "name"),
        ("good", "   ", None, "name"),
        ("good", "n" * 101, None, "name"),
        ("good", "Name", "([a-z]", "validationPattern"),
        ("good", "Name", "a" * 501, "validationPattern"),
    ],
)
async def test_bad_input_creates_nothing(
    db: asyncpg.Connection, unique: str, code: str, name: str, pattern: str | None, field: str
) -> None:
    if code == "good":
        code = f"good_{unique}"
    before = await contact_types.list_contact_types(db, include_inactive=True)
    await expect_error(
        contact_types.create_contact_type(db, code, name, pattern), ErrorKind.VALIDATION, field
    )
    assert await contact_types.list_contact_types(db, include_inactive=True) == before
    assert await events_of_code(db, code) == 0


async def test_a_taken_code_is_refused(db: asyncpg.Connection, unique: str) -> None:
    code = f"dup_{unique}"
    await contact_types.create_contact_type(db, code, "First")
    await expect_error(
        contact_types.create_contact_type(db, code, "Second"),
        ErrorKind.CONTACT_TYPE_CODE_TAKEN,
        "code",
    )
    await expect_error(
        contact_types.create_contact_type(db, "email", "Email again"),
        ErrorKind.CONTACT_TYPE_CODE_TAKEN,
        "code",
    )
    assert await events_of_code(db, code) == 1


async def test_update_bumps_the_version_and_records_only_changes(
    db: asyncpg.Connection, unique: str
) -> None:
    actor = uuid.uuid4()
    row = await contact_types.create_contact_type(db, f"c_{unique}", "Chat", "^[a-z]+$")

    changed = await contact_types.update_contact_type(
        db, row.id, name="Chat rooms", is_active=False, expected_version=1, actor_id=actor
    )

    assert (changed.name, changed.is_active, changed.version) == ("Chat rooms", False, 2)
    assert (changed.validation_pattern, changed.is_unique) == ("^[a-z]+$", False)
    assert await stored(db, row.id) == changed
    assert changed not in await contact_types.list_contact_types(db)
    event = (await events(db, row.id))[-1]
    assert (event["event_type"], event["aggregate_type"], event["sequence"]) == (
        "contact_type.updated",
        "contact_type",
        2,
    )
    assert event["actor_id"] == actor
    assert event["payload"]["before"] == {"name": "Chat", "is_active": True}
    assert event["payload"]["after"] == {"name": "Chat rooms", "is_active": False}
    assert event["payload"]["contact_type"]["version"] == 2

    cleared = await contact_types.update_contact_type(db, row.id, validation_pattern="")
    assert (cleared.validation_pattern, cleared.version) == (None, 3)


async def test_an_update_that_changes_nothing_records_nothing(
    db: asyncpg.Connection, unique: str
) -> None:
    row = await contact_types.create_contact_type(db, f"c_{unique}", "Chat")
    same = await contact_types.update_contact_type(
        db, row.id, name=" Chat ", is_unique=False, is_active=True, expected_version=1
    )
    assert same == row
    assert len(await events(db, row.id)) == 1


async def test_bad_updates_change_nothing(db: asyncpg.Connection, unique: str) -> None:
    row = await contact_types.create_contact_type(db, f"c_{unique}", "Chat")
    await contact_types.update_contact_type(db, row.id, name="Chat 2")
    current = await stored(db, row.id)

    conflict = await expect_error(
        contact_types.update_contact_type(db, row.id, name="Chat 3", expected_version=1),
        ErrorKind.VERSION_CONFLICT,
        "expectedVersion",
    )
    assert conflict.detail == {"current_version": 2}
    await expect_error(
        contact_types.update_contact_type(db, uuid.uuid4(), name="X"), ErrorKind.NOT_FOUND, "id"
    )
    await expect_error(
        contact_types.update_contact_type(db, row.id, name=""), ErrorKind.VALIDATION, "name"
    )
    await expect_error(
        contact_types.update_contact_type(db, row.id, validation_pattern="*"),
        ErrorKind.VALIDATION,
        "validationPattern",
    )
    assert await stored(db, row.id) == current
    assert len(await events(db, row.id)) == 2


async def test_unique_cannot_be_turned_on_while_two_users_hold_a_value(
    db: asyncpg.Connection, unique: str
) -> None:
    row = await contact_types.create_contact_type(db, f"c_{unique}", "Chat", None, False)
    alice = await make_user(db, unique, "a")
    bob = await make_user(db, unique, "b")
    carol = await make_user(db, unique, "c")
    await contacts.add_contact(db, alice, row.code, "room")
    shared = await contacts.add_contact(db, bob, row.code, "room")

    error = await expect_error(
        contact_types.update_contact_type(db, row.id, is_unique=True),
        ErrorKind.CONTACT_VALUE_TAKEN,
        "isUnique",
    )
    assert "more than one user" in error.message
    assert await stored(db, row.id) == row
    assert len(await events(db, row.id)) == 1

    await contacts.deactivate_contact(db, shared.id)
    flipped = await contact_types.update_contact_type(db, row.id, is_unique=True)
    assert (flipped.is_unique, flipped.version) == (True, 2)
    # The flag reached the stored contacts, so the index now guards the value.
    await expect_error(
        contacts.add_contact(db, carol, row.code, "room"), ErrorKind.CONTACT_VALUE_TAKEN, "value"
    )


async def test_turning_unique_on_waits_for_an_addition_in_flight(
    pool: asyncpg.Pool, unique: str
) -> None:
    async with pool.acquire() as db:
        row = await contact_types.create_contact_type(db, f"c_{unique}", "Chat", None, False)
        alice = await make_user(db, unique, "a")
        bob = await make_user(db, unique, "b")
        await contacts.add_contact(db, alice, row.code, "room")
    async with pool.acquire() as one, pool.acquire() as two:
        transaction = one.transaction()
        await transaction.start()
        await contacts.add_contact(one, bob, row.code, "room")
        flip = asyncio.create_task(contact_types.update_contact_type(two, row.id, is_unique=True))
        await asyncio.sleep(0.2)
        assert not flip.done(), "the flip waits for the addition that read is_unique"
        await transaction.commit()
        await expect_error(flip, ErrorKind.CONTACT_VALUE_TAKEN, "isUnique")
    assert not (await stored(pool, row.id)).is_unique
