"""Users through their stored functions (sql/0002_users.sql) and the repository."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import pytest

from accounts_gql.core.errors import DomainError, ErrorKind
from accounts_gql.repositories import contacts, groups, memberships, users
from accounts_gql.repositories.users import UserRow
from tests.sql.test_contacts import events, expect_error

STATE_KEYS = {
    "id", "username", "display_name", "profile", "status", "roles", "version",
    "created_at", "updated_at",
}  # fmt: skip


async def last_position(db: asyncpg.Connection) -> int:
    """The newest outbox position: a failed write must leave it as it was."""
    position: int = await db.fetchval("SELECT coalesce(max(position), 0) FROM accounts.outbox")
    return position


async def user_snapshot(db: asyncpg.Connection, user_id: uuid.UUID) -> tuple[Any, ...]:
    return (await users.users_by_ids(db, [user_id]), await events(db, user_id))


def assert_state(state: dict[str, Any], row: UserRow) -> None:
    assert set(state) == STATE_KEYS
    assert state["id"] == str(row.id)
    assert (state["username"], state["display_name"]) == (row.username, row.display_name)
    assert (state["profile"], state["status"]) == (row.profile, row.status)
    assert (state["roles"], state["version"]) == (row.roles, row.version)


# Creating and reading --------------------------------------------------------


async def test_create_records_one_event_with_the_state(db: asyncpg.Connection, unique: str) -> None:
    actor = uuid.uuid4()
    row = await users.create_user(
        db, f"New.User-{unique}", "New User", {"lang": "de"}, ["admin"], actor_id=actor
    )

    assert (row.username, row.display_name, row.profile) == (
        f"New.User-{unique}",
        "New User",
        {"lang": "de"},
    )
    assert (row.status, row.roles, row.version) == ("active", ["admin"], 1)
    [event] = await events(db, row.id)
    assert (event["event_type"], event["aggregate_type"], event["aggregate_id"]) == (
        "user.created",
        "user",
        row.id,
    )
    assert (event["sequence"], event["actor_id"]) == (1, actor)
    assert set(event["payload"]) == {"user"}
    assert_state(event["payload"]["user"], row)


async def test_create_defaults_and_reads(db: asyncpg.Connection, unique: str) -> None:
    row = await users.create_user(db, f"plain_{unique}")
    assert (row.display_name, row.profile, row.roles, row.status) == ("", {}, [], "active")
    assert (await events(db, row.id))[0]["actor_id"] is None, "NULL actor = the system"
    assert await users.users_by_ids(db, [row.id, uuid.uuid4()]) == [row]
    assert await users.user_by_username(db, f"PLAIN_{unique}") == row
    assert await users.user_by_username(db, f"nobody_{unique}") is None


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"username": ""}, "username"),
        ({"username": "ab"}, "username"),
        ({"username": "a" * 33}, "username"),
        ({"username": "with space"}, "username"),
        ({"username": "ünïcode"}, "username"),
        ({"username": "semi;colon"}, "username"),
        ({"display_name": "x" * 101}, "displayName"),
        ({"profile": [1, 2]}, "profile"),
        ({"profile": "text"}, "profile"),
        ({"profile": {"big": "x" * 16_400}}, "profile"),
        ({"roles": ["root"]}, "roles"),
        ({"roles": ["admin", "owner"]}, "roles"),
    ],
)
async def test_bad_creations_add_nothing(
    db: asyncpg.Connection, unique: str, fields: dict[str, Any], field: str
) -> None:
    arguments: dict[str, Any] = {"username": f"bad{unique}", **fields}
    before = await last_position(db)
    await expect_error(users.create_user(db, **arguments), ErrorKind.VALIDATION, field)
    assert await last_position(db) == before
    assert await users.user_by_username(db, f"bad{unique}") is None


async def test_limits_are_inclusive(db: asyncpg.Connection, unique: str) -> None:
    name = f"{unique}{'x' * 24}"
    assert len(name) == 32
    row = await users.create_user(db, name, "d" * 100, {"k": "v" * 16_000})
    assert (row.username, len(row.display_name)) == (name, 100)
    short = await users.create_user(db, f"a{unique[:2]}")
    assert len(short.username) == 3


async def test_a_username_is_taken_without_regard_to_case(
    db: asyncpg.Connection, unique: str
) -> None:
    await users.create_user(db, f"Taken{unique}")
    before = await last_position(db)
    error = await expect_error(
        users.create_user(db, f"tAKEN{unique}"), ErrorKind.USERNAME_TAKEN, "username"
    )
    assert "taken" in error.message
    assert await last_position(db) == before


# Updating --------------------------------------------------------------------


async def test_update_bumps_the_version_and_the_event_holds_only_changes(
    db: asyncpg.Connection, unique: str
) -> None:
    actor = uuid.uuid4()
    row = await users.create_user(db, f"up{unique}", "Old Name")

    changed = await users.update_user(
        db, row.id, display_name="New Name", roles=["admin"], expected_version=1, actor_id=actor
    )

    assert (changed.display_name, changed.roles, changed.version) == ("New Name", ["admin"], 2)
    assert (changed.username, changed.created_at) == (row.username, row.created_at)
    assert changed.updated_at >= row.updated_at
    event = (await events(db, row.id))[-1]
    assert (event["event_type"], event["aggregate_type"], event["aggregate_id"]) == (
        "user.updated",
        "user",
        row.id,
    )
    assert (event["sequence"], event["actor_id"]) == (2, actor)
    assert event["payload"]["before"] == {"display_name": "Old Name", "roles": []}
    assert event["payload"]["after"] == {"display_name": "New Name", "roles": ["admin"]}
    assert_state(event["payload"]["user"], changed)

    renamed = await users.update_user(db, row.id, username=f"UP{unique}")
    assert (renamed.username, renamed.version) == (f"UP{unique}", 3)
    event = (await events(db, row.id))[-1]
    assert (event["sequence"], event["payload"]["before"], event["payload"]["after"]) == (
        3,
        {"username": f"up{unique}"},
        {"username": f"UP{unique}"},
    )


async def test_an_update_that_changes_nothing_records_nothing(
    db: asyncpg.Connection, unique: str
) -> None:
    row = await users.create_user(db, f"same{unique}", "Same", roles=["admin"])
    before = await user_snapshot(db, row.id)
    assert await users.update_user(db, row.id) == row
    assert await users.update_user(db, row.id, display_name="Same", roles=["admin"]) == row
    assert await user_snapshot(db, row.id) == before


async def test_bad_updates_change_nothing(db: asyncpg.Connection, unique: str) -> None:
    other = await users.create_user(db, f"Other{unique}")
    row = await users.create_user(db, f"mine{unique}")
    before = await user_snapshot(db, row.id)

    await expect_error(
        users.update_user(db, uuid.uuid4(), display_name="x"), ErrorKind.NOT_FOUND, "id"
    )
    await expect_error(
        users.update_user(db, row.id, username=f"other{unique}"),
        ErrorKind.USERNAME_TAKEN,
        "username",
    )
    await expect_error(
        users.update_user(db, row.id, username="x"), ErrorKind.VALIDATION, "username"
    )
    await expect_error(
        users.update_user(db, row.id, display_name="y" * 101), ErrorKind.VALIDATION, "displayName"
    )
    await expect_error(users.update_user(db, row.id, roles=["boss"]), ErrorKind.VALIDATION, "roles")
    error = await expect_error(
        users.update_user(db, row.id, display_name="z", expected_version=7),
        ErrorKind.VERSION_CONFLICT,
        "expectedVersion",
    )
    assert error.detail == {"current_version": 1}
    assert await user_snapshot(db, row.id) == before
    assert (await users.users_by_ids(db, [other.id]))[0] == other


# Profile ---------------------------------------------------------------------


async def test_profile_updates_are_merge_patches(db: asyncpg.Connection, unique: str) -> None:
    actor = uuid.uuid4()
    profile = {"lang": "de", "ui": {"theme": "dark", "size": 3}, "tags": ["a"]}
    row = await users.create_user(db, f"prof{unique}", profile=profile)
    patch = {"lang": None, "ui": {"theme": "light", "font": "mono"}, "tags": ["b", "c"]}

    changed = await users.update_user_profile(db, row.id, patch, expected_version=1, actor_id=actor)

    expected = {"ui": {"theme": "light", "size": 3, "font": "mono"}, "tags": ["b", "c"]}
    assert (changed.profile, changed.version) == (expected, 2)
    assert (await users.users_by_ids(db, [row.id]))[0] == changed
    event = (await events(db, row.id))[-1]
    assert (event["event_type"], event["aggregate_type"], event["sequence"]) == (
        "user.profile_updated",
        "user",
        2,
    )
    assert event["actor_id"] == actor
    assert event["payload"]["patch"] == patch
    assert event["payload"]["before"] == {"profile": profile}
    assert event["payload"]["after"] == {"profile": expected}
    assert_state(event["payload"]["user"], changed)

    # A patch that changes nothing (removing an absent key, repeating a value).
    before = await user_snapshot(db, row.id)
    same = await users.update_user_profile(db, row.id, {"gone": None, "tags": ["b", "c"]})
    assert same == changed
    assert await user_snapshot(db, row.id) == before


async def test_bad_profile_patches_change_nothing(db: asyncpg.Connection, unique: str) -> None:
    row = await users.create_user(db, f"badp{unique}", profile={"keep": 1})
    before = await user_snapshot(db, row.id)

    for patch in ([1], "text", 3, None):
        await expect_error(
            users.update_user_profile(db, row.id, patch), ErrorKind.VALIDATION, "patch"
        )
    error = await expect_error(
        users.update_user_profile(db, row.id, {"big": "x" * 16_400}),
        ErrorKind.VALIDATION,
        "profile",
    )
    assert error.detail == {"limit": 16384}
    error = await expect_error(
        users.update_user_profile(db, row.id, {"a": 1}, expected_version=2),
        ErrorKind.VERSION_CONFLICT,
        "expectedVersion",
    )
    assert error.detail == {"current_version": 1}
    await expect_error(
        users.update_user_profile(db, uuid.uuid4(), {"a": 1}), ErrorKind.NOT_FOUND, "id"
    )
    assert await user_snapshot(db, row.id) == before


# Status ----------------------------------------------------------------------


async def test_deactivate_and_reactivate(db: asyncpg.Connection, unique: str) -> None:
    actor = uuid.uuid4()
    row = await users.create_user(db, f"st{unique}")

    off = await users.deactivate_user(db, row.id, actor_id=actor)
    assert (off.status, off.version) == ("deactivated", 2)
    snapshot = await user_snapshot(db, row.id)
    await expect_error(users.deactivate_user(db, row.id), ErrorKind.INVALID_STATE, "id")
    assert await user_snapshot(db, row.id) == snapshot

    on = await users.reactivate_user(db, row.id)
    assert (on.status, on.version) == ("active", 3)
    snapshot = await user_snapshot(db, row.id)
    error = await expect_error(users.reactivate_user(db, row.id), ErrorKind.INVALID_STATE, "id")
    assert "already active" in error.message
    assert await user_snapshot(db, row.id) == snapshot

    recorded = await events(db, row.id)
    assert [(e["event_type"], e["aggregate_type"], e["sequence"]) for e in recorded] == [
        ("user.created", "user", 1),
        ("user.deactivated", "user", 2),
        ("user.reactivated", "user", 3),
    ]
    assert [e["actor_id"] for e in recorded] == [None, actor, None]
    assert recorded[1]["payload"]["before"] == {"status": "active"}
    assert recorded[1]["payload"]["after"] == {"status": "deactivated"}
    assert recorded[2]["payload"]["before"] == {"status": "deactivated"}
    assert recorded[2]["payload"]["after"] == {"status": "active"}
    assert_state(recorded[1]["payload"]["user"], off)
    assert_state(recorded[2]["payload"]["user"], on)


async def test_status_changes_of_unknown_users(db: asyncpg.Connection) -> None:
    before = await last_position(db)
    await expect_error(users.deactivate_user(db, uuid.uuid4()), ErrorKind.NOT_FOUND, "id")
    await expect_error(users.reactivate_user(db, uuid.uuid4()), ErrorKind.NOT_FOUND, "id")
    await expect_error(users.delete_user(db, uuid.uuid4()), ErrorKind.NOT_FOUND, "id")
    assert await last_position(db) == before


# Deleting --------------------------------------------------------------------


async def test_delete_erases_the_user_and_redacts_published_events(
    db: asyncpg.Connection, unique: str
) -> None:
    actor = uuid.uuid4()
    row = await users.create_user(db, f"del{unique}", "Gone Soon", {"secret": "s"})
    keeper = await users.create_user(db, f"keep{unique}", "Keeper")
    email = await contacts.add_contact(db, row.id, "email", f"del.{unique}@example.com")
    group = await groups.create_group(db, f"del-{unique}", "Deleted's group", owner_id=keeper.id)
    await memberships.add_group_member(db, group.id, row.id, actor_id=row.id)
    added_by_row = await users.create_user(db, f"added{unique}")
    await memberships.add_group_member(db, group.id, added_by_row.id, actor_id=row.id)
    await users.update_user(db, row.id, display_name="Still Here")
    # The created event went out already; the update is still waiting.
    await db.execute(
        "UPDATE accounts.outbox SET published_at = now()"
        " WHERE aggregate_id = $1 AND event_type = 'user.created'",
        row.id,
    )

    with pytest.raises(DomainError) as caught:
        await users.delete_user(db, row.id, expected_version=1)
    assert caught.value.kind is ErrorKind.VERSION_CONFLICT
    assert caught.value.detail == {"current_version": 2}

    assert await users.delete_user(db, row.id, expected_version=2, actor_id=actor) == row.id

    assert await users.users_by_ids(db, [row.id]) == []
    assert await contacts.contacts_by_ids(db, [email.id]) == []
    assert await contacts.contacts_by_user_ids(db, [row.id], include_inactive=True) == []
    assert await memberships.memberships_by_user_ids(db, [row.id]) == []
    [kept] = await memberships.memberships_by_user_ids(db, [added_by_row.id])
    assert kept.added_by is None, "the deleted user no longer names who added a member"
    recorded = await events(db, row.id)
    assert [(e["event_type"], e["sequence"]) for e in recorded] == [
        ("user.created", 1),
        ("contact.added", 2),
        ("user.updated", 3),
        ("user.deleted", 4),
    ]
    assert recorded[0]["payload"] == {"redacted": True}
    assert recorded[1]["payload"]["contact"]["value"] == email.value, "unpublished: kept"
    assert recorded[3]["payload"] == {"user": {"id": str(row.id)}}
    assert (recorded[3]["aggregate_type"], recorded[3]["actor_id"]) == ("user", actor)
    # Another user's published events are left alone.
    assert (await events(db, keeper.id))[0]["payload"]["user"]["display_name"] == "Keeper"
    # The name is free again.
    assert (await users.create_user(db, f"DEL{unique}")).id != row.id


# Races -----------------------------------------------------------------------


async def test_racing_creations_of_one_name_in_two_cases_let_one_through(
    database_url: str, db: asyncpg.Connection, unique: str
) -> None:
    one = await asyncpg.connect(database_url)
    two = await asyncpg.connect(database_url)
    try:
        for round_ in range(6):
            token = f"{unique}{round_}"
            before = await last_position(db)
            results = await asyncio.gather(
                users.create_user(one, f"Alice{token}"),
                users.create_user(two, f"alice{token}"),
                return_exceptions=True,
            )
            wins = [r for r in results if isinstance(r, UserRow)]
            losses = [r for r in results if isinstance(r, DomainError)]
            assert len(wins) == 1, results
            assert len(losses) == 1, results
            assert (losses[0].kind, losses[0].field) == (ErrorKind.USERNAME_TAKEN, "username")
            stored = await users.user_by_username(db, f"ALICE{token}")
            assert stored is not None
            assert stored.id == wins[0].id
            created = await db.fetch(
                "SELECT aggregate_id FROM accounts.outbox WHERE position > $1"
                " AND event_type = 'user.created'",
                before,
            )
            assert [r["aggregate_id"] for r in created] == [wins[0].id]
    finally:
        await one.close()
        await two.close()


# Keyset pages ----------------------------------------------------------------

ORDERS = {
    "username_asc": "lower(username), id",
    "username_desc": "lower(username) DESC, id DESC",
    "created_at_asc": "created_at, id",
    "created_at_desc": "created_at DESC, id DESC",
}


def cursor(row: UserRow, order: str) -> tuple[str, uuid.UUID]:
    key = row.username.lower() if order.startswith("username") else row.created_at.isoformat()
    return (key, row.id)


async def expected_ids(db: asyncpg.Connection, ids: list[uuid.UUID], order: str) -> list[uuid.UUID]:
    records = await db.fetch(
        f"SELECT id FROM accounts.users WHERE id = ANY($1) ORDER BY {ORDERS[order]}", ids
    )
    return [record["id"] for record in records]


async def walk_forward(db: asyncpg.Connection, order: str, **filters: Any) -> list[UserRow]:
    seen: list[UserRow] = []
    after = None
    while True:
        page = await users.users_page(db, first=7, after=after, order=order, **filters)
        seen += page.rows
        if not page.has_more:
            assert len(page.rows) <= 7
            break
        assert len(page.rows) == 7, "a page that has more is full"
        after = cursor(page.rows[-1], order)
    if seen:
        end = await users.users_page(
            db, first=7, after=cursor(seen[-1], order), order=order, **filters
        )
        assert (end.rows, end.has_more) == ([], False)
    return seen


async def walk_backward(db: asyncpg.Connection, order: str, **filters: Any) -> list[UserRow]:
    pages: list[list[UserRow]] = []
    before = None
    while True:
        page = await users.users_page(db, last=7, before=before, order=order, **filters)
        pages.append(page.rows)
        if not page.has_more:
            break
        assert len(page.rows) == 7
        before = cursor(page.rows[0], order)
    return [row for rows in reversed(pages) for row in rows]


@pytest.fixture
async def population(db: asyncpg.Connection, unique: str) -> dict[str, Any]:
    """30 users sharing a search token: names in mixed case, created_at tied in threes."""
    made: list[UserRow] = []
    for batch in range(10):
        async with db.transaction():  # one now() for the batch: ties broken by id
            for i in range(3):
                name = f"{'Pq'[i % 2]}{uuid.uuid4().hex[:5]}-{unique}-{batch}{i}"
                made.append(await users.create_user(db, name, f"Member {batch}{i}"))
    group = await groups.create_group(db, f"pop-{unique}", "Population")
    for row in made[:14]:
        await memberships.add_group_member(db, group.id, row.id)
    for row in made[::3]:  # 10 admins
        await users.update_user(db, row.id, roles=["admin"])
    for row in made[1::5]:  # 6 deactivated
        await users.deactivate_user(db, row.id)
    fresh = {row.id: row for row in await users.users_by_ids(db, [row.id for row in made])}
    return {"users": [fresh[row.id] for row in made], "group": group, "search": unique}


@pytest.mark.parametrize("order", list(ORDERS))
async def test_users_pages_walk_every_user_once_in_order(
    db: asyncpg.Connection, population: dict[str, Any], order: str
) -> None:
    people: list[UserRow] = population["users"]
    ids = [row.id for row in people]
    expected = await expected_ids(db, ids, order)
    assert len({row.created_at for row in people}) == 10, "created_at ties exist"
    search = population["search"]

    forward = await walk_forward(db, order, search=search)
    assert [row.id for row in forward] == expected
    by_id = {row.id: row for row in people}
    assert [by_id[row.id] for row in forward] == forward, "page rows are the whole users"
    backward = await walk_backward(db, order, search=search)
    assert [row.id for row in backward] == expected
    assert await users.users_count(db, search=search) == 30

    # Filters: each walk yields exactly the matching users, in order.
    filters: list[tuple[dict[str, Any], set[uuid.UUID]]] = [
        ({"status": "deactivated"}, {r.id for r in people if r.status == "deactivated"}),
        ({"status": "active"}, {r.id for r in people if r.status == "active"}),
        ({"role": "admin"}, {r.id for r in people if "admin" in r.roles}),
        ({"group_id": population["group"].id}, {r.id for r in people[:14]}),
        (
            {"role": "admin", "status": "active", "group_id": population["group"].id},
            {r.id for r in people[:14] if "admin" in r.roles and r.status == "active"},
        ),
    ]
    for given, matching in filters:
        want = [i for i in expected if i in matching]
        assert [r.id for r in await walk_forward(db, order, search=search, **given)] == want
        assert [r.id for r in await walk_backward(db, order, search=search, **given)] == want
        assert await users.users_count(db, search=search, **given) == len(want)


async def test_users_page_ends_and_bad_arguments(
    db: asyncpg.Connection, population: dict[str, Any]
) -> None:
    search = population["search"]
    # 14 group members: two full pages, the second one says there is no more.
    first = await users.users_page(db, first=7, search=search, group_id=population["group"].id)
    second = await users.users_page(
        db,
        first=7,
        after=cursor(first.rows[-1], "created_at_asc"),
        search=search,
        group_id=population["group"].id,
    )
    assert (len(first.rows), first.has_more, len(second.rows), second.has_more) == (
        7,
        True,
        7,
        False,
    )
    whole = await users.users_page(db, first=30, search=search)
    assert (len(whole.rows), whole.has_more) == (30, False)
    nobody = await users.users_page(db, first=5, search=f"none{search}")
    assert (nobody.rows, nobody.has_more) == ([], False)
    assert await users.users_count(db, search=f"none{search}") == 0
    # Search is by substring of username or display name, wildcards taken literally.
    assert await users.users_count(db, search=f"-{search}-") == 30
    assert await users.users_count(db, search=f"-{search}_") == 0, "_ is no wildcard"
    assert await users.users_count(db, search=f"{search}%") == 0, "% is no wildcard"

    await expect_error(
        users.users_page(db, first=5, order="age_asc"), ErrorKind.VALIDATION, "orderBy"
    )
    await expect_error(users.users_page(db, first=1001), ErrorKind.VALIDATION, "first")
    await expect_error(users.users_page(db, first=-1), ErrorKind.VALIDATION, "first")
