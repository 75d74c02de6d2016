"""Users through the repository and the stored functions of sql/0002_users.sql."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from accounts_gql.core.errors import DomainError, ErrorKind
from accounts_gql.db.pool import init_connection
from accounts_gql.repositories import contacts, users
from accounts_gql.repositories.users import UserRow
from tests.sql.test_contacts import events, expect_error

STATE_KEYS = {
    "id", "username", "display_name", "profile", "status", "roles", "version",
    "created_at", "updated_at",
}  # fmt: skip


async def outbox_position(db: asyncpg.Connection) -> int:
    position: int = await db.fetchval("SELECT coalesce(max(position), 0) FROM accounts.outbox")
    return position


async def events_since(db: asyncpg.Connection, position: int, username: str) -> int:
    """Outbox rows added after `position` that name a user by id or username."""
    count: int = await db.fetchval(
        "SELECT count(*) FROM accounts.outbox o WHERE o.position > $1 AND ("
        " lower(o.payload -> 'user' ->> 'username') = lower($2)"
        " OR o.aggregate_id IN (SELECT id FROM accounts.users WHERE lower(username) = lower($2)))",
        position,
        username,
    )
    return count


async def stored(db: asyncpg.Connection, user_id: uuid.UUID) -> UserRow | None:
    rows = await users.users_by_ids(db, [user_id])
    return rows[0] if rows else None


def check_state(state: dict[str, Any], row: UserRow) -> None:
    assert set(state) == STATE_KEYS, "no active_contacts, nothing else"
    assert state["id"] == str(row.id)
    assert (state["username"], state["display_name"], state["profile"]) == (
        row.username,
        row.display_name,
        row.profile,
    )
    assert (state["status"], state["roles"], state["version"]) == (
        row.status,
        row.roles,
        row.version,
    )


# One user's life, event by event -----------------------------------------------


async def test_each_write_adds_exactly_its_event(db: asyncpg.Connection, unique: str) -> None:
    actor = uuid.uuid4()
    created = await users.create_user(db, f"Life.{unique}", None, None, None, actor_id=actor)
    assert (created.display_name, created.profile, created.roles) == ("", {}, [])
    assert (created.status, created.version) == ("active", 1)
    assert await users.user_by_username(db, f"LIFE.{unique}") == created

    updated = await users.update_user(
        db, created.id, display_name="Life", roles=["admin"], expected_version=1, actor_id=actor
    )
    assert (updated.display_name, updated.roles, updated.version) == ("Life", ["admin"], 2)
    assert updated.updated_at >= created.updated_at
    assert updated.created_at == created.created_at

    patch = {"lang": "fi", "ui": {"theme": "dark"}}
    profiled = await users.update_user_profile(db, created.id, patch, expected_version=2)
    assert (profiled.profile, profiled.version) == (patch, 3)

    off = await users.deactivate_user(db, created.id, actor_id=actor)
    on = await users.reactivate_user(db, created.id)
    assert (off.status, off.version, on.status, on.version) == ("deactivated", 4, "active", 5)
    assert await stored(db, created.id) == on

    recorded = await events(db, created.id)
    assert [(e["event_type"], e["sequence"], e["actor_id"]) for e in recorded] == [
        ("user.created", 1, actor),
        ("user.updated", 2, actor),
        ("user.profile_updated", 3, None),
        ("user.deactivated", 4, actor),
        ("user.reactivated", 5, None),
    ]
    assert {(e["aggregate_type"], e["aggregate_id"]) for e in recorded} == {("user", created.id)}
    for event, row in zip(recorded, [created, updated, profiled, off, on], strict=True):
        check_state(event["payload"]["user"], row)
    assert set(recorded[0]["payload"]) == {"user"}
    assert recorded[1]["payload"]["before"] == {"display_name": "", "roles": []}
    assert recorded[1]["payload"]["after"] == {"display_name": "Life", "roles": ["admin"]}
    assert recorded[2]["payload"]["patch"] == patch
    assert recorded[2]["payload"]["before"] == {"profile": {}}
    assert recorded[2]["payload"]["after"] == {"profile": patch}
    assert (recorded[3]["payload"]["before"], recorded[3]["payload"]["after"]) == (
        {"status": "active"},
        {"status": "deactivated"},
    )
    assert (recorded[4]["payload"]["before"], recorded[4]["payload"]["after"]) == (
        {"status": "deactivated"},
        {"status": "active"},
    )


async def test_an_update_without_changes_records_nothing(
    db: asyncpg.Connection, unique: str
) -> None:
    row = await users.create_user(db, f"still{unique}", "Still", {"a": 1}, ["admin"])
    position = await outbox_position(db)

    assert await users.update_user(db, row.id) == row
    assert (
        await users.update_user(
            db, row.id, username=f"still{unique}", display_name="Still", roles=["admin"]
        )
        == row
    )
    assert await users.update_user_profile(db, row.id, {"a": 1, "gone": None}) == row

    assert await stored(db, row.id) == row
    assert await events_since(db, position, row.username) == 0


async def test_a_case_only_rename_is_a_change(db: asyncpg.Connection, unique: str) -> None:
    row = await users.create_user(db, f"case{unique}")
    renamed = await users.update_user(db, row.id, username=f"CASE{unique}")
    assert (renamed.username, renamed.version) == (f"CASE{unique}", 2)
    event = (await events(db, row.id))[-1]
    assert (event["payload"]["before"], event["payload"]["after"]) == (
        {"username": f"case{unique}"},
        {"username": f"CASE{unique}"},
    )


async def test_roles_are_a_set(db: asyncpg.Connection, unique: str) -> None:
    row = await users.create_user(db, f"roles{unique}", roles=["admin", "admin"])
    assert row.roles == ["admin"]
    assert await users.update_user(db, row.id, roles=["admin", "admin"]) == row, "no change"
    cleared = await users.update_user(db, row.id, roles=[])
    assert (cleared.roles, cleared.version) == ([], 2)


# Failing writes ---------------------------------------------------------------

BAD_CREATIONS: list[tuple[dict[str, Any], ErrorKind, str]] = [
    ({"username": "no"}, ErrorKind.VALIDATION, "username"),
    ({"username": "n" * 33}, ErrorKind.VALIDATION, "username"),
    ({"username": "has space"}, ErrorKind.VALIDATION, "username"),
    ({"username": "üser"}, ErrorKind.VALIDATION, "username"),
    ({"display_name": "d" * 101}, ErrorKind.VALIDATION, "displayName"),
    ({"profile": ["not", "an", "object"]}, ErrorKind.VALIDATION, "profile"),
    ({"profile": 42}, ErrorKind.VALIDATION, "profile"),
    ({"profile": {"big": "b" * 16_384}}, ErrorKind.VALIDATION, "profile"),
    ({"roles": ["superuser"]}, ErrorKind.VALIDATION, "roles"),
]


@pytest.mark.parametrize(("fields", "kind", "field"), BAD_CREATIONS)
async def test_a_bad_creation_adds_nothing(
    db: asyncpg.Connection, unique: str, fields: dict[str, Any], kind: ErrorKind, field: str
) -> None:
    arguments: dict[str, Any] = {"username": f"bad_{unique}", **fields}
    position = await outbox_position(db)
    await expect_error(users.create_user(db, **arguments), kind, field)
    assert await users.user_by_username(db, arguments["username"]) is None
    assert await events_since(db, position, arguments["username"]) == 0


async def test_a_taken_username_is_refused_without_regard_to_case(
    db: asyncpg.Connection, unique: str
) -> None:
    first = await users.create_user(db, f"Dup{unique}")
    position = await outbox_position(db)
    await expect_error(users.create_user(db, f"dUP{unique}"), ErrorKind.USERNAME_TAKEN, "username")
    assert await events_since(db, position, first.username) == 0


BAD_UPDATES: list[tuple[str, dict[str, Any], ErrorKind, str]] = [
    ("update_user", {"username": "x!"}, ErrorKind.VALIDATION, "username"),
    ("update_user", {"display_name": "d" * 101}, ErrorKind.VALIDATION, "displayName"),
    ("update_user", {"roles": ["admin", "owner"]}, ErrorKind.VALIDATION, "roles"),
    ("update_user", {"username": "TAKEN"}, ErrorKind.USERNAME_TAKEN, "username"),
    ("update_user", {"display_name": "v", "expected_version": 9}, ErrorKind.VERSION_CONFLICT,
     "expectedVersion"),
    ("update_user_profile", {"patch": ["x"]}, ErrorKind.VALIDATION, "patch"),
    ("update_user_profile", {"patch": {"big": "b" * 16_384}}, ErrorKind.VALIDATION, "profile"),
    ("update_user_profile", {"patch": {"a": 2}, "expected_version": 9},
     ErrorKind.VERSION_CONFLICT, "expectedVersion"),
    ("reactivate_user", {}, ErrorKind.INVALID_STATE, "id"),
    ("delete_user", {"expected_version": 9}, ErrorKind.VERSION_CONFLICT, "expectedVersion"),
]  # fmt: skip


@pytest.mark.parametrize(("write", "arguments", "kind", "field"), BAD_UPDATES)
async def test_a_bad_write_changes_nothing(
    db: asyncpg.Connection,
    unique: str,
    write: str,
    arguments: dict[str, Any],
    kind: ErrorKind,
    field: str,
) -> None:
    other = await users.create_user(db, f"taken{unique}")
    row = await users.create_user(db, f"mine{unique}", "Mine", {"a": 1})
    arguments = dict(arguments)
    if arguments.get("username") == "TAKEN":
        arguments = {**arguments, "username": other.username.upper()}
    patch = arguments.pop("patch", None)
    call = getattr(users, write)
    position = await outbox_position(db)

    error = await expect_error(
        call(db, row.id, patch, **arguments) if write == "update_user_profile"
        else call(db, row.id, **arguments),
        kind,
        field,
    )  # fmt: skip

    if kind is ErrorKind.VERSION_CONFLICT:
        assert error.detail == {"current_version": 1}
    assert await stored(db, row.id) == row
    assert await events_since(db, position, row.username) == 0


@pytest.mark.parametrize(
    "call",
    [
        lambda db: users.update_user(db, uuid.uuid4(), display_name="x"),
        lambda db: users.update_user_profile(db, uuid.uuid4(), {"a": 1}),
        lambda db: users.deactivate_user(db, uuid.uuid4()),
        lambda db: users.reactivate_user(db, uuid.uuid4()),
        lambda db: users.delete_user(db, uuid.uuid4()),
    ],
)
async def test_writes_to_an_unknown_user_are_not_found(db: asyncpg.Connection, call: Any) -> None:
    position = await outbox_position(db)
    await expect_error(call(db), ErrorKind.NOT_FOUND, "id")
    assert await outbox_position(db) == position


async def test_deactivating_twice_is_an_invalid_state(db: asyncpg.Connection, unique: str) -> None:
    row = await users.deactivate_user(db, (await users.create_user(db, f"off{unique}")).id)
    error = await expect_error(users.deactivate_user(db, row.id), ErrorKind.INVALID_STATE, "id")
    assert "already deactivated" in error.message
    assert await stored(db, row.id) == row
    assert len(await events(db, row.id)) == 2


@pytest.mark.parametrize(
    ("constraint", "field"),
    [
        ("users_username_format", "username"),
        ("users_display_name_length", "displayName"),
        ("users_profile_object", "profile"),
        ("users_profile_size", "profile"),
        ("users_roles_valid", "roles"),
    ],
)
async def test_check_constraint_backstops_read_as_validation_errors(
    db: asyncpg.Connection, constraint: str, field: str
) -> None:
    """The mapping the writes apply when a CHECK fires despite their own checks."""
    with pytest.raises(asyncpg.PostgresError) as caught:
        await db.execute("SELECT accounts.user_check_violation($1)", constraint)
    assert (caught.value.sqlstate, caught.value.column_name) == ("UA005", field)
    assert constraint not in str(caught.value), "no constraint names for callers"
    # A constraint no input guards is left for the caller to re-raise as it is.
    await db.execute("SELECT accounts.user_check_violation('users_contacts_limit')")


# Erasure ----------------------------------------------------------------------


async def test_delete_erases_the_user_and_redacts_published_events(
    db: asyncpg.Connection, unique: str
) -> None:
    actor = uuid.uuid4()
    row = await users.create_user(db, f"erase{unique}", "Erase Me", {"city": "Turku"})
    other = await users.create_user(db, f"stay{unique}", "Stay")
    contact = await contacts.add_contact(db, row.id, "email", f"erase.{unique}@example.com")
    await db.execute(
        "INSERT INTO accounts.credentials (user_id, password_hash) VALUES ($1, 'x')", row.id
    )
    await db.execute(
        "SELECT accounts.issue_refresh_token("
        "$1, sha256(uuid_send(gen_random_uuid())), NULL, 86400)",
        row.id,
    )
    group_id = await db.fetchval(
        "INSERT INTO accounts.user_groups (slug, name) VALUES ($1, 'Erasure') RETURNING id",
        f"erase-{unique}",
    )
    await db.execute(
        "INSERT INTO accounts.user_group_memberships (user_id, group_id) VALUES ($1, $2)",
        row.id,
        group_id,
    )
    # The creation went out already; the contact's event still waits.
    await db.execute(
        "UPDATE accounts.outbox SET published_at = now()"
        " WHERE aggregate_type = 'user' AND aggregate_id = ANY($1) AND event_type = 'user.created'",
        [row.id, other.id],
    )

    assert await users.delete_user(db, row.id, expected_version=1, actor_id=actor) == row.id

    assert await stored(db, row.id) is None
    assert await users.user_by_username(db, row.username) is None
    assert await contacts.contacts_by_ids(db, [contact.id]) == []
    for table in ("credentials", "refresh_tokens", "sessions", "user_group_memberships"):
        left = await db.fetchval(
            f"SELECT count(*) FROM accounts.{table} WHERE user_id = $1", row.id
        )
        assert left == 0, table
    recorded = await events(db, row.id)
    # The active contact is deactivated before the user goes, in the same transaction.
    assert [(e["event_type"], e["sequence"]) for e in recorded] == [
        ("user.created", 1),
        ("contact.added", 2),
        ("contact.deactivated", 3),
        ("user.deleted", 4),
    ]
    assert recorded[0]["payload"] == {"redacted": True}
    assert recorded[1]["payload"]["contact"]["value"] == contact.value, "unpublished: kept"
    gone = recorded[2]["payload"]
    assert (gone["reason"], gone["contact"]["id"], gone["contact"]["is_active"]) == (
        "user_deleted",
        str(contact.id),
        False,
    )
    last = recorded[3]["payload"]["user"]
    assert (last["id"], last["username"], last["profile"]) == (
        str(row.id),
        row.username,
        {"city": "Turku"},
    ), "the state before deletion"
    assert (recorded[3]["aggregate_type"], recorded[3]["actor_id"]) == ("user", actor)
    removed = await events(db, group_id)
    assert [(r["event_type"], r["payload"]["membership"]["user_id"]) for r in removed] == [
        ("membership.removed", str(row.id))
    ], "the group's member count changes with a group event"
    assert removed[0]["payload"]["reason"] == "user_deleted"
    assert (await events(db, other.id))[0]["payload"]["user"]["display_name"] == "Stay"


# The race for a name ------------------------------------------------------------


@pytest.fixture
async def two_connections(owner_database_url: str) -> AsyncIterator[list[asyncpg.Connection]]:
    # The owner's, like `db`: a role sees the wait events of its own sessions only.
    connections = [await asyncpg.connect(owner_database_url) for _ in range(2)]
    for connection in connections:
        await init_connection(connection, counter=None)
    yield connections
    for connection in connections:
        await connection.close()


async def test_the_loser_of_a_race_for_a_name_gets_username_taken(
    db: asyncpg.Connection, two_connections: list[asyncpg.Connection], unique: str
) -> None:
    """Both transactions are open before either inserts, so neither can see the other's row:
    only the unique index decides, and the loser must still get the typed error."""
    one, two = two_connections
    first_tx, second_tx = one.transaction(), two.transaction()
    await asyncio.gather(first_tx.start(), second_tx.start())
    winner = await users.create_user(one, f"Alice{unique}")
    # The second insert waits on the first transaction's index entry...
    loser = asyncio.create_task(users.create_user(two, f"alice{unique}"))
    for _ in range(100):
        waiting = await db.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND wait_event_type = 'Lock'",
            two.get_server_pid(),
        )
        if waiting:
            break
        await asyncio.sleep(0.02)
    assert waiting, "the second creation should wait for the first transaction"
    # ...and fails once it commits.
    await first_tx.commit()
    with pytest.raises(DomainError) as caught:
        await loser
    await second_tx.rollback()

    assert (caught.value.kind, caught.value.field) == (ErrorKind.USERNAME_TAKEN, "username")
    assert await users.user_by_username(db, f"ALICE{unique}") == winner
    assert [e["event_type"] for e in await events(db, winner.id)] == ["user.created"]


async def test_simultaneous_creations_of_one_name_let_exactly_one_through(
    db: asyncpg.Connection, two_connections: list[asyncpg.Connection], unique: str
) -> None:
    one, two = two_connections
    for attempt in range(5):
        token = f"{unique}{attempt}"
        position = await outbox_position(db)
        results = await asyncio.gather(
            users.create_user(one, f"Alice{token}"),
            users.create_user(two, f"alice{token}"),
            return_exceptions=True,
        )
        made = [r for r in results if isinstance(r, UserRow)]
        refused = [r for r in results if isinstance(r, DomainError)]
        assert (len(made), len(refused)) == (1, 1), results
        assert (refused[0].kind, refused[0].field) == (ErrorKind.USERNAME_TAKEN, "username")
        assert await users.user_by_username(db, f"ALICE{token}") == made[0]
        assert await events_since(db, position, f"alice{token}") == 1


# Keyset pages -----------------------------------------------------------------

ORDERS = {
    "username_asc": "lower(username), id",
    "username_desc": "lower(username) DESC, id DESC",
    "created_at_asc": "created_at, id",
    "created_at_desc": "created_at DESC, id DESC",
}
PAGE = 7


def cursor_of(row: UserRow, order: str) -> tuple[str, uuid.UUID]:
    key = row.username.lower() if order.startswith("username") else row.created_at.isoformat()
    return key, row.id


async def in_order(db: asyncpg.Connection, ids: set[uuid.UUID], order: str) -> list[uuid.UUID]:
    records = await db.fetch(
        f"SELECT id FROM accounts.users WHERE id = ANY($1) ORDER BY {ORDERS[order]}", list(ids)
    )
    return [record["id"] for record in records]


async def forward(db: asyncpg.Connection, order: str, **filters: Any) -> list[uuid.UUID]:
    seen: list[uuid.UUID] = []
    after = None
    while True:
        page = await users.users_page(db, first=PAGE, after=after, order=order, **filters)
        seen += [row.id for row in page.rows]
        if not page.has_more:
            return seen
        assert len(page.rows) == PAGE, "only a full page can have more"
        after = cursor_of(page.rows[-1], order)


async def backward(db: asyncpg.Connection, order: str, **filters: Any) -> list[uuid.UUID]:
    seen: list[uuid.UUID] = []
    before = None
    while True:
        page = await users.users_page(db, last=PAGE, before=before, order=order, **filters)
        seen = [row.id for row in page.rows] + seen
        if not page.has_more:
            return seen
        assert len(page.rows) == PAGE, "only a full page can have more"
        before = cursor_of(page.rows[0], order)


@pytest.fixture
async def crowd(db: asyncpg.Connection, unique: str) -> dict[str, Any]:
    """30 users sharing a search token, with ties on created_at (one now() per batch of 3)."""
    rows: list[UserRow] = []
    for batch in range(10):
        async with db.transaction():
            for i in range(3):
                name = f"{'KkM'[i]}{uuid.uuid4().hex[:6]}_{unique}"
                rows.append(await users.create_user(db, name, f"Crowd {batch}.{i}"))
    admins = {row.id for row in rows[::4]}
    for user_id in admins:
        await users.update_user(db, user_id, roles=["admin"])
    deactivated = {row.id for row in rows[2::3]}
    for user_id in deactivated:
        await users.deactivate_user(db, user_id)
    group_id = await db.fetchval(
        "INSERT INTO accounts.user_groups (slug, name) VALUES ($1, 'Crowd') RETURNING id",
        f"crowd-{unique}",
    )
    members = {row.id for row in rows[5:17]}
    await db.executemany(
        "INSERT INTO accounts.user_group_memberships (user_id, group_id) VALUES ($1, $2)",
        [(user_id, group_id) for user_id in members],
    )
    everyone = {row.id for row in rows}
    return {
        "search": unique,
        "rows": await users.users_by_ids(db, list(everyone)),
        "filters": [
            ({}, everyone),
            ({"status": "active"}, everyone - deactivated),
            ({"status": "deactivated"}, deactivated),
            ({"role": "admin"}, admins),
            ({"group_id": group_id}, members),
            ({"group_id": group_id, "role": "admin", "status": "active"},
             members & admins - deactivated),
        ],
    }  # fmt: skip


@pytest.mark.parametrize("order", list(ORDERS))
async def test_pages_walk_each_user_once_in_order_both_ways(
    db: asyncpg.Connection, crowd: dict[str, Any], order: str
) -> None:
    search = crowd["search"]
    for filters, matching in crowd["filters"]:
        expected = await in_order(db, matching, order)
        assert await forward(db, order, search=search, **filters) == expected, filters
        assert await backward(db, order, search=search, **filters) == expected, filters
        assert await users.users_count(db, search=search, **filters) == len(expected), filters


@pytest.mark.parametrize("order", list(ORDERS))
async def test_a_page_between_two_cursors(
    db: asyncpg.Connection, crowd: dict[str, Any], order: str
) -> None:
    search = crowd["search"]
    everyone = await in_order(db, {row.id for row in crowd["rows"]}, order)
    by_id = {row.id: row for row in crowd["rows"]}
    after, before = cursor_of(by_id[everyone[4]], order), cursor_of(by_id[everyone[15]], order)

    first = await users.users_page(
        db, first=20, after=after, before=before, order=order, search=search
    )
    assert ([r.id for r in first.rows], first.has_more) == (everyone[5:15], False)
    last = await users.users_page(
        db, last=3, after=after, before=before, order=order, search=search
    )
    assert ([r.id for r in last.rows], last.has_more) == (everyone[12:15], True)
    assert list(last.rows) == [by_id[i] for i in everyone[12:15]], "whole rows"


async def test_search_is_a_literal_substring_of_username_or_display_name(
    db: asyncpg.Connection, crowd: dict[str, Any]
) -> None:
    search = crowd["search"]
    assert await users.users_count(db, search=f"_{search.upper()}") == 30
    assert await users.users_count(db, search=f"%{search}") == 0, "% is no wildcard"
    assert await users.users_count(db, search=f"{search[:3]}_{search[4:]}") == 0, "_ is literal"
    assert await users.users_count(db, search="crowd 3.") >= 3, "display names match too"
    page = await users.users_page(db, first=5, search=f"no{search}")
    assert (page.rows, page.has_more) == ([], False)


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"order": "age_asc"}, "orderBy"),
        ({"first": 1001}, "first"),
        ({"first": None, "last": -1}, "last"),
        ({"order": "created_at_asc", "after": ("yesterday-ish", uuid.uuid4())}, "after"),
        ({"order": "created_at_desc", "before": ("", uuid.uuid4())}, "before"),
    ],
)
async def test_bad_page_arguments_are_validation_errors(
    db: asyncpg.Connection, arguments: dict[str, Any], field: str
) -> None:
    await expect_error(
        users.users_page(db, **{"first": 5, **arguments}), ErrorKind.VALIDATION, field
    )
