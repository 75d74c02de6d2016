"""Groups and memberships through their stored functions (sql/0004_groups.sql)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import pytest

from accounts_gql.core.errors import DomainError, ErrorKind
from accounts_gql.db.pool import Executor
from accounts_gql.repositories import groups, memberships, users
from accounts_gql.repositories.groups import GroupRow
from accounts_gql.repositories.memberships import EMPTY_PAGE, MemberPage, MembershipRow
from accounts_gql.repositories.pages import Cursor
from tests.sql.test_contacts import events, expect_error

GROUP_KEYS = {"id", "slug", "name", "description", "version", "created_at", "updated_at"}
MEMBERSHIP_KEYS = {"user_id", "group_id", "role", "joined_at", "added_by"}


async def make_users(db: asyncpg.Connection, unique: str, count: int) -> list[uuid.UUID]:
    return [(await users.create_user(db, f"g{unique}u{i:02d}")).id for i in range(count)]


async def last_position(db: asyncpg.Connection) -> int:
    position: int = await db.fetchval("SELECT coalesce(max(position), 0) FROM accounts.outbox")
    return position


async def group_snapshot(db: asyncpg.Connection, group_id: uuid.UUID) -> tuple[Any, ...]:
    """Everything a failed write must leave as it was."""
    rows = await db.fetch(
        "SELECT * FROM accounts.user_group_memberships WHERE group_id = $1 ORDER BY user_id",
        group_id,
    )
    return (
        await groups.groups_by_ids(db, [group_id]),
        [tuple(r) for r in rows],
        await events(db, group_id),
        await last_position(db),
    )


def assert_group_state(state: dict[str, Any], row: GroupRow) -> None:
    assert set(state) == GROUP_KEYS
    assert state["id"] == str(row.id)
    assert (state["slug"], state["name"], state["description"]) == (
        row.slug,
        row.name,
        row.description,
    )
    assert state["version"] == row.version


def assert_membership_state(state: dict[str, Any], row: MembershipRow) -> None:
    assert set(state) == MEMBERSHIP_KEYS
    assert (state["user_id"], state["group_id"]) == (str(row.user_id), str(row.group_id))
    assert state["role"] == row.role
    assert state["added_by"] == (str(row.added_by) if row.added_by else None)


async def membership(
    db: asyncpg.Connection, group_id: uuid.UUID, user_id: uuid.UUID
) -> MembershipRow | None:
    found = [
        m
        for m in await memberships.memberships_by_user_ids(db, [user_id])
        if m.group_id == group_id
    ]
    return found[0] if found else None


# Groups ----------------------------------------------------------------------


async def test_create_with_an_owner_records_the_group_and_the_membership(
    db: asyncpg.Connection, unique: str
) -> None:
    [owner] = await make_users(db, unique, 1)
    group = await groups.create_group(
        db, f"team-{unique}", "  The Team ", "About us", owner_id=owner, actor_id=owner
    )

    assert (group.slug, group.name, group.description, group.version) == (
        f"team-{unique}",
        "The Team",
        "About us",
        1,
    )
    assert await groups.groups_by_ids(db, [group.id, uuid.uuid4()]) == [group]
    assert await groups.group_by_slug(db, f"TEAM-{unique}") == group
    assert await groups.group_by_slug(db, f"none-{unique}") is None
    owned = await membership(db, group.id, owner)
    assert owned is not None
    assert (owned.role, owned.added_by) == ("owner", owner)
    assert await groups.group_member_counts(db, [group.id]) == {group.id: 1}

    created, added = await events(db, group.id)
    assert (created["event_type"], created["aggregate_type"], created["aggregate_id"]) == (
        "group.created",
        "group",
        group.id,
    )
    assert (created["sequence"], created["actor_id"]) == (1, owner)
    assert set(created["payload"]) == {"group"}
    assert_group_state(created["payload"]["group"], group)
    assert (added["event_type"], added["aggregate_type"], added["sequence"]) == (
        "membership.added",
        "group",
        2,
    )
    assert set(added["payload"]) == {"membership"}
    assert_membership_state(added["payload"]["membership"], owned)
    assert [e["event_type"] for e in await events(db, owner)] == ["user.created"]


async def test_create_without_owner_and_a_system_actor(db: asyncpg.Connection, unique: str) -> None:
    group = await groups.create_group(db, f"bare-{unique}", "Bare")
    assert group.description == ""
    assert await groups.group_member_counts(db, [group.id]) == {}
    [created] = await events(db, group.id)
    assert (created["event_type"], created["actor_id"]) == ("group.created", None)


@pytest.mark.parametrize(
    ("slug", "name", "description", "field"),
    [
        ("", "n", None, "slug"),
        ("Upper", "n", None, "slug"),
        ("-lead", "n", None, "slug"),
        ("trail-", "n", None, "slug"),
        ("with space", "n", None, "slug"),
        ("under_score", "n", None, "slug"),
        ("x" * 65, "n", None, "slug"),
        ("ok-slug", "", None, "name"),
        ("ok-slug", "   ", None, "name"),
        ("ok-slug", "n" * 101, None, "name"),
        ("ok-slug", "n", "d" * 1001, "description"),
    ],
)
async def test_bad_group_creations_add_nothing(
    db: asyncpg.Connection,
    unique: str,
    slug: str,
    name: str,
    description: str | None,
    field: str,
) -> None:
    if slug == "ok-slug":
        slug = f"ok-{unique}"
    before = await last_position(db)
    await expect_error(
        groups.create_group(db, slug, name, description), ErrorKind.VALIDATION, field
    )
    assert await last_position(db) == before
    assert await groups.group_by_slug(db, slug) is None


async def test_a_taken_slug_and_a_bad_owner_add_nothing(
    db: asyncpg.Connection, unique: str
) -> None:
    await groups.create_group(db, f"taken-{unique}", "Taken")
    [inactive] = await make_users(db, unique, 1)
    await users.deactivate_user(db, inactive)
    before = await last_position(db)

    await expect_error(
        groups.create_group(db, f"taken-{unique}", "Again"), ErrorKind.SLUG_TAKEN, "slug"
    )
    # The owner is checked after the insert: the whole call must roll back.
    await expect_error(
        groups.create_group(db, f"own-{unique}", "Own", owner_id=uuid.uuid4()),
        ErrorKind.NOT_FOUND,
        "userId",
    )
    await expect_error(
        groups.create_group(db, f"own-{unique}", "Own", owner_id=inactive),
        ErrorKind.INVALID_STATE,
        "userId",
    )
    assert await groups.group_by_slug(db, f"own-{unique}") is None
    assert await last_position(db) == before
    # A 64-character slug and one with an inner hyphen are fine.
    assert (await groups.create_group(db, f"{unique}{'a' * 56}", "Long")).slug.endswith("a")
    assert (await groups.create_group(db, unique[:1] + "-" + unique[1:4], "S")).version == 1


async def test_update_records_only_changes_and_checks_the_version(
    db: asyncpg.Connection, unique: str
) -> None:
    actor = uuid.uuid4()
    other = await groups.create_group(db, f"other-{unique}", "Other")
    group = await groups.create_group(db, f"old-{unique}", "Old", "Desc")

    changed = await groups.update_group(
        db, group.id, slug=f"new-{unique}", name=" New ", expected_version=1, actor_id=actor
    )
    assert (changed.slug, changed.name, changed.description, changed.version) == (
        f"new-{unique}",
        "New",
        "Desc",
        2,
    )
    event = (await events(db, group.id))[-1]
    assert (event["event_type"], event["aggregate_type"], event["sequence"]) == (
        "group.updated",
        "group",
        2,
    )
    assert event["actor_id"] == actor
    assert event["payload"]["before"] == {"slug": f"old-{unique}", "name": "Old"}
    assert event["payload"]["after"] == {"slug": f"new-{unique}", "name": "New"}
    assert_group_state(event["payload"]["group"], changed)
    assert await groups.group_by_slug(db, f"old-{unique}") is None

    before = await group_snapshot(db, group.id)
    assert await groups.update_group(db, group.id, name="New", description="Desc") == changed
    assert await group_snapshot(db, group.id) == before, "no change, no event"

    await expect_error(
        groups.update_group(db, group.id, slug=other.slug), ErrorKind.SLUG_TAKEN, "slug"
    )
    await expect_error(groups.update_group(db, group.id, slug="Bad!"), ErrorKind.VALIDATION, "slug")
    await expect_error(groups.update_group(db, group.id, name=""), ErrorKind.VALIDATION, "name")
    await expect_error(
        groups.update_group(db, group.id, description="x" * 1001),
        ErrorKind.VALIDATION,
        "description",
    )
    error = await expect_error(
        groups.update_group(db, group.id, name="Newer", expected_version=1),
        ErrorKind.VERSION_CONFLICT,
        "expectedVersion",
    )
    assert error.detail == {"current_version": 2}
    await expect_error(groups.update_group(db, uuid.uuid4(), name="x"), ErrorKind.NOT_FOUND, "id")
    assert await group_snapshot(db, group.id) == before


async def test_delete_removes_memberships_and_counts_them(
    db: asyncpg.Connection, unique: str
) -> None:
    owner, member = await make_users(db, unique, 2)
    group = await groups.create_group(db, f"del-{unique}", "Doomed", owner_id=owner)
    await memberships.add_group_member(db, group.id, member)
    before = await group_snapshot(db, group.id)
    error = await expect_error(
        groups.delete_group(db, group.id, expected_version=5),
        ErrorKind.VERSION_CONFLICT,
        "expectedVersion",
    )
    assert error.detail == {"current_version": 1}
    await expect_error(groups.delete_group(db, uuid.uuid4()), ErrorKind.NOT_FOUND, "id")
    assert await group_snapshot(db, group.id) == before

    assert await groups.delete_group(db, group.id, expected_version=1, actor_id=owner) == group.id

    assert await groups.groups_by_ids(db, [group.id]) == []
    assert await memberships.memberships_by_user_ids(db, [owner, member]) == []
    recorded = await events(db, group.id)
    # Each member's removal first, in the order they joined, then the group's deletion.
    assert [(e["event_type"], e["sequence"]) for e in recorded[-3:]] == [
        ("membership.removed", 4),
        ("membership.removed", 5),
        ("group.deleted", 6),
    ]
    assert [e["payload"]["membership"]["user_id"] for e in recorded[-3:-1]] == [
        str(owner),
        str(member),
    ]
    assert {e["payload"]["reason"] for e in recorded[-3:-1]} == {"group_deleted"}
    deleted = recorded[-1]
    assert deleted["aggregate_type"] == "group"
    assert deleted["actor_id"] == owner
    assert deleted["payload"]["member_count"] == 2
    assert_group_state(deleted["payload"]["group"], group)
    assert len(await users.users_by_ids(db, [owner, member])) == 2, "users stay"


# Memberships -----------------------------------------------------------------


async def test_member_writes_record_events_naming_user_and_group(
    db: asyncpg.Connection, unique: str
) -> None:
    owner, member = await make_users(db, unique, 2)
    group = await groups.create_group(db, f"m-{unique}", "M", owner_id=owner)

    added = await memberships.add_group_member(db, group.id, member, actor_id=owner)
    assert (added.user_id, added.group_id, added.role, added.added_by) == (
        member,
        group.id,
        "member",
        owner,
    )
    promoted = await memberships.change_member_role(db, group.id, member, "manager", actor_id=owner)
    assert (promoted.role, promoted.joined_at, promoted.added_by) == (
        "manager",
        added.joined_at,
        owner,
    )
    same = await memberships.change_member_role(db, group.id, member, "manager")
    assert same == promoted, "same role: no change"
    removed = await memberships.remove_group_member(db, group.id, member, actor_id=member)
    assert removed == promoted
    assert await membership(db, group.id, member) is None
    assert await groups.group_member_counts(db, [group.id]) == {group.id: 1}

    recorded = await events(db, group.id)
    assert [
        (e["event_type"], e["aggregate_type"], e["sequence"], e["actor_id"]) for e in recorded
    ] == [
        ("group.created", "group", 1, None),
        ("membership.added", "group", 2, None),
        ("membership.added", "group", 3, owner),
        ("membership.role_changed", "group", 4, owner),
        ("membership.removed", "group", 5, member),
    ]
    assert all(e["aggregate_id"] == group.id for e in recorded)
    assert_membership_state(recorded[2]["payload"]["membership"], added)
    assert_membership_state(recorded[3]["payload"]["membership"], promoted)
    assert recorded[3]["payload"]["before"] == {"role": "member"}
    assert recorded[3]["payload"]["after"] == {"role": "manager"}
    assert_membership_state(recorded[4]["payload"]["membership"], removed)
    assert [e["event_type"] for e in await events(db, member)] == ["user.created"]


async def test_an_actor_who_is_no_user_is_recorded_but_not_as_adder(
    db: asyncpg.Connection, unique: str
) -> None:
    [member] = await make_users(db, unique, 1)
    group = await groups.create_group(db, f"sys-{unique}", "Sys")
    actor = uuid.uuid4()
    added = await memberships.add_group_member(db, group.id, member, "owner", actor_id=actor)
    assert (added.role, added.added_by) == ("owner", None)
    assert (await events(db, group.id))[-1]["actor_id"] == actor


async def test_bad_member_writes_change_nothing(db: asyncpg.Connection, unique: str) -> None:
    owner, member, outsider, inactive = await make_users(db, unique, 4)
    await users.deactivate_user(db, inactive)
    group = await groups.create_group(db, f"bad-{unique}", "Bad", owner_id=owner)
    await memberships.add_group_member(db, group.id, member)
    before = await group_snapshot(db, group.id)
    nobody = uuid.uuid4()

    cases: list[tuple[Any, ErrorKind, str]] = [
        (
            memberships.add_group_member(db, group.id, outsider, "boss"),
            ErrorKind.VALIDATION,
            "role",
        ),
        (memberships.add_group_member(db, group.id, outsider, ""), ErrorKind.VALIDATION, "role"),
        (memberships.add_group_member(db, nobody, outsider), ErrorKind.NOT_FOUND, "groupId"),
        (memberships.add_group_member(db, group.id, nobody), ErrorKind.NOT_FOUND, "userId"),
        (memberships.add_group_member(db, group.id, member), ErrorKind.ALREADY_MEMBER, "userId"),
        (
            memberships.add_group_member(db, group.id, owner, "manager"),
            ErrorKind.ALREADY_MEMBER,
            "userId",
        ),
        (memberships.add_group_member(db, group.id, inactive), ErrorKind.INVALID_STATE, "userId"),
        (
            memberships.change_member_role(db, group.id, member, "admin"),
            ErrorKind.VALIDATION,
            "role",
        ),
        (
            memberships.change_member_role(db, group.id, outsider, "manager"),
            ErrorKind.NOT_FOUND,
            "userId",
        ),
        (
            memberships.change_member_role(db, nobody, member, "manager"),
            ErrorKind.NOT_FOUND,
            "groupId",
        ),
        (
            memberships.change_member_role(db, group.id, owner, "member"),
            ErrorKind.INVALID_STATE,
            "userId",
        ),
        (memberships.remove_group_member(db, group.id, owner), ErrorKind.INVALID_STATE, "userId"),
        (memberships.remove_group_member(db, group.id, outsider), ErrorKind.NOT_FOUND, "userId"),
        (memberships.remove_group_member(db, nobody, member), ErrorKind.NOT_FOUND, "groupId"),
    ]
    for call, kind, field in cases:
        await expect_error(call, kind, field)
    assert await group_snapshot(db, group.id) == before

    # With a second owner, the first may step down, and then the second may not.
    await memberships.change_member_role(db, group.id, member, "owner")
    await memberships.change_member_role(db, group.id, owner, "member")
    error = await expect_error(
        memberships.remove_group_member(db, group.id, member), ErrorKind.INVALID_STATE, "userId"
    )
    assert "last owner" in error.message
    await memberships.remove_group_member(db, group.id, owner)
    assert await groups.group_member_counts(db, [group.id]) == {group.id: 1}


async def test_reads_of_memberships_and_counts(db: asyncpg.Connection, unique: str) -> None:
    a, b = await make_users(db, unique, 2)
    one = await groups.create_group(db, f"r1-{unique}", "One", owner_id=a)
    two = await groups.create_group(db, f"r2-{unique}", "Two", owner_id=b)
    empty = await groups.create_group(db, f"r3-{unique}", "Three")
    await memberships.add_group_member(db, two.id, a)

    rows = await memberships.memberships_by_user_ids(db, [a, b])
    mine = [(m.user_id, m.group_id) for m in rows if m.user_id == a]
    assert mine == [(a, one.id), (a, two.id)], "a user's memberships in the order joined"
    assert {(m.user_id, m.group_id) for m in rows} == {(a, one.id), (a, two.id), (b, two.id)}
    assert await groups.group_member_counts(db, [one.id, two.id, empty.id]) == {
        one.id: 1,
        two.id: 2,
    }


# Races -----------------------------------------------------------------------


async def test_concurrent_demotions_of_the_two_owners_leave_one(
    database_url: str, db: asyncpg.Connection, unique: str
) -> None:
    one = await asyncpg.connect(database_url)
    two = await asyncpg.connect(database_url)
    try:
        for round_ in range(5):
            first, second = await make_users(db, f"{unique}{round_}", 2)
            group = await groups.create_group(db, f"race-{unique}-{round_}", "R", owner_id=first)
            await memberships.add_group_member(db, group.id, second, "owner")
            results = await asyncio.gather(
                memberships.change_member_role(one, group.id, first, "manager"),
                memberships.change_member_role(two, group.id, second, "member"),
                return_exceptions=True,
            )
            wins = [r for r in results if isinstance(r, MembershipRow)]
            losses = [r for r in results if isinstance(r, DomainError)]
            assert len(wins) == 1, results
            assert [(e.kind, e.field) for e in losses] == [(ErrorKind.INVALID_STATE, "userId")]
            roles = [m.role for m in await memberships.memberships_by_user_ids(db, [first, second])]
            assert roles.count("owner") == 1
            changed = [
                e
                for e in await events(db, group.id)
                if e["event_type"] == "membership.role_changed"
            ]
            assert len(changed) == 1
    finally:
        await one.close()
        await two.close()


async def test_concurrent_additions_of_one_member_add_it_once(
    database_url: str, db: asyncpg.Connection, unique: str
) -> None:
    one = await asyncpg.connect(database_url)
    two = await asyncpg.connect(database_url)
    try:
        for round_ in range(5):
            [member] = await make_users(db, f"{unique}{round_}", 1)
            group = await groups.create_group(db, f"add-{unique}-{round_}", "A")
            results = await asyncio.gather(
                memberships.add_group_member(one, group.id, member),
                memberships.add_group_member(two, group.id, member, "manager"),
                return_exceptions=True,
            )
            wins = [r for r in results if isinstance(r, MembershipRow)]
            losses = [r for r in results if isinstance(r, DomainError)]
            assert len(wins) == 1, results
            assert [(e.kind, e.field) for e in losses] == [(ErrorKind.ALREADY_MEMBER, "userId")]
            assert await groups.group_member_counts(db, [group.id]) == {group.id: 1}
            added = [e for e in await events(db, group.id) if e["event_type"] == "membership.added"]
            assert [e["sequence"] for e in added] == [2]
    finally:
        await one.close()
        await two.close()


@pytest.mark.parametrize("change", ["deactivate", "delete"])
async def test_adding_a_user_who_is_being_deactivated_or_deleted_waits_and_fails(
    database_url: str, db: asyncpg.Connection, unique: str, change: str
) -> None:
    [member] = await make_users(db, unique, 1)
    group = await groups.create_group(db, f"wait-{unique}", "Wait")
    one = await asyncpg.connect(database_url)
    two = await asyncpg.connect(database_url)
    try:
        transaction = one.transaction()
        await transaction.start()
        if change == "deactivate":
            await users.deactivate_user(one, member)
        else:
            await users.delete_user(one, member)
        waiting = asyncio.create_task(memberships.add_group_member(two, group.id, member))
        await asyncio.sleep(0.2)
        assert not waiting.done(), "the addition waits for the user's row"
        await transaction.commit()
        kind = ErrorKind.INVALID_STATE if change == "deactivate" else ErrorKind.NOT_FOUND
        await expect_error(waiting, kind, "userId")
    finally:
        await one.close()
        await two.close()
    assert await groups.group_member_counts(db, [group.id]) == {}
    assert [e["event_type"] for e in await events(db, group.id)] == ["group.created"]


# Keyset pages of groups ---------------------------------------------------------

GROUP_ORDERS = {
    "slug_asc": "slug, id",
    "slug_desc": "slug DESC, id DESC",
    "created_at_asc": "created_at, id",
    "created_at_desc": "created_at DESC, id DESC",
}


def group_cursor(row: GroupRow, order: str) -> tuple[str, uuid.UUID]:
    return (row.slug if order.startswith("slug") else row.created_at.isoformat(), row.id)


@pytest.mark.parametrize("order", list(GROUP_ORDERS))
async def test_groups_pages_walk_every_group_once_in_order(
    db: asyncpg.Connection, unique: str, order: str
) -> None:
    made: list[GroupRow] = []
    for batch in range(8):
        async with db.transaction():  # created_at tied in threes
            for i in range(3):
                slug = f"{uuid.uuid4().hex[:4]}-{unique}-{batch}{i}"
                made.append(await groups.create_group(db, slug, f"Group {batch}{i}"))
    records = await db.fetch(
        f"SELECT id FROM accounts.user_groups WHERE id = ANY($1) ORDER BY {GROUP_ORDERS[order]}",
        [g.id for g in made],
    )
    expected = [r["id"] for r in records]

    seen: list[GroupRow] = []
    after = None
    while True:
        page = await groups.groups_page(db, first=7, after=after, order=order, search=unique)
        seen += page.rows
        if not page.has_more:
            break
        assert len(page.rows) == 7
        after = group_cursor(page.rows[-1], order)
    assert [g.id for g in seen] == expected
    assert len(seen) == 24
    by_id = {g.id: g for g in made}
    assert [by_id[g.id] for g in seen] == seen

    pages: list[list[GroupRow]] = []
    before = None
    while True:
        page = await groups.groups_page(db, last=7, before=before, order=order, search=unique)
        pages.append(page.rows)
        if not page.has_more:
            break
        assert len(page.rows) == 7
        before = group_cursor(page.rows[0], order)
    assert [g.id for rows in reversed(pages) for g in rows] == expected
    assert [len(rows) for rows in pages] == [7, 7, 7, 3]

    end = await groups.groups_page(
        db, first=7, after=group_cursor(seen[-1], order), order=order, search=unique
    )
    assert (end.rows, end.has_more) == ([], False)
    whole = await groups.groups_page(db, first=24, order=order, search=unique)
    assert (len(whole.rows), whole.has_more) == (24, False)
    assert await groups.groups_count(db, search=unique) == 24
    assert await groups.groups_count(db, search=f"{unique}-0") == 3
    assert await groups.groups_count(db, search=f"{unique}_0") == 0, "_ is no wildcard"
    await expect_error(
        groups.groups_page(db, first=1, order="name"), ErrorKind.VALIDATION, "orderBy"
    )


# Member pages -----------------------------------------------------------------


def member_cursor(row: MembershipRow) -> Cursor:
    return (row.joined_at.isoformat(), row.user_id)


def user_ids(page: MemberPage) -> list[uuid.UUID]:
    return [row.user_id for row in page.rows]


def summary(found: dict[uuid.UUID, MemberPage]) -> dict[uuid.UUID, tuple[list[uuid.UUID], bool]]:
    """Each group's member ids and has_more."""
    return {group_id: (user_ids(page), page.has_more) for group_id, page in found.items()}


async def member_page(
    db: Executor,
    group_id: uuid.UUID,
    size: int,
    *,
    backward: bool = False,
    after: Cursor | None = None,
    before: Cursor | None = None,
    role: str | None = None,
) -> MemberPage:
    """One group's page of member_pages (EMPTY_PAGE when it has no members in range)."""
    found = await memberships.member_pages(
        db, [group_id], size, backward=backward, after=after, before=before, role=role
    )
    assert set(found) <= {group_id}
    page = found.get(group_id, EMPTY_PAGE)
    assert {row.group_id for row in page.rows} <= {group_id}
    return page


async def walk_members(
    db: asyncpg.Connection,
    group_id: uuid.UUID,
    first_page: MemberPage,
    role: str | None = None,
) -> list[list[uuid.UUID]]:
    """The pages of one group (its first page given), forward through cursors."""
    pages = [first_page]
    while pages[-1].has_more:
        assert len(pages[-1].rows) == 4
        after = member_cursor(pages[-1].rows[-1])
        pages.append(await member_page(db, group_id, 4, after=after, role=role))
    return [user_ids(page) for page in pages]


async def test_member_pages_of_three_groups(db: asyncpg.Connection, unique: str) -> None:
    people = await make_users(db, unique, 12)
    big = await groups.create_group(db, f"big-{unique}", "Big", owner_id=people[0])
    mid = await groups.create_group(db, f"mid-{unique}", "Mid", owner_id=people[0])
    one = await groups.create_group(db, f"one-{unique}", "One", owner_id=people[5])
    empty = await groups.create_group(db, f"none-{unique}", "None")
    for i, person in enumerate(people[1:], start=1):
        await memberships.add_group_member(
            db, big.id, person, "manager" if i % 3 == 0 else "member"
        )
    for person in people[1:5]:
        await memberships.add_group_member(db, mid.id, person)
    # Joined order = the order added (clock_timestamp per row).
    joined = {
        big.id: people[:12],
        mid.id: people[:5],
        one.id: [people[5]],
    }
    sizes = {big.id: 12, mid.id: 5, one.id: 1}

    first = await memberships.member_pages(db, [big.id, mid.id, one.id, empty.id], 4)
    assert summary(first) == {
        group_id: (ids[:4], sizes[group_id] > 4) for group_id, ids in joined.items()
    }, "an empty group has no page"
    assert all(row.group_id == group_id for group_id, page in first.items() for row in page.rows)
    owner_row = first[big.id].rows[0]
    assert (owner_row.role, owner_row.group_id) == ("owner", big.id)

    for group_id in (big.id, mid.id, one.id):
        pages = await walk_members(db, group_id, first[group_id])
        assert [u for page in pages for u in page] == joined[group_id]
        assert [len(p) for p in pages] == {12: [4, 4, 4], 5: [4, 1], 1: [1]}[sizes[group_id]]

    # Backward from the end, through "before" cursors.
    back: list[list[uuid.UUID]] = []
    page = await member_page(db, big.id, 4, backward=True)
    while True:
        back.append(user_ids(page))
        if not page.has_more:
            break
        page = await member_page(db, big.id, 4, backward=True, before=member_cursor(page.rows[0]))
    assert [u for p in reversed(back) for u in p] == joined[big.id]
    assert [len(p) for p in back] == [4, 4, 4]

    # The role filter: managers of the big group, in joined order.
    managers = [people[i] for i in range(1, 12) if i % 3 == 0]
    first_managers = await memberships.member_pages(db, [big.id, mid.id], 4, role="manager")
    assert summary(first_managers) == {big.id: (managers, False)}
    assert all(row.role == "manager" for row in first_managers[big.id].rows)
    owners = await memberships.member_pages(db, [big.id, mid.id, one.id], 1, role="owner")
    assert summary(owners) == {
        big.id: ([people[0]], False),
        mid.id: ([people[0]], False),
        one.id: ([people[5]], False),
    }
    members = await member_page(db, big.id, 4, role="member")
    pages = await walk_members(db, big.id, members, role="member")
    assert [u for p in pages for u in p] == [p for i, p in enumerate(people[1:], 1) if i % 3]


async def test_a_member_added_between_pages_appears_at_the_end(
    db: asyncpg.Connection, unique: str
) -> None:
    people = await make_users(db, unique, 10)
    group = await groups.create_group(db, f"grow-{unique}", "Grow", owner_id=people[0])
    for person in people[1:9]:
        await memberships.add_group_member(db, group.id, person)

    page_one = await member_page(db, group.id, 4)
    assert user_ids(page_one) == people[:4]
    await memberships.add_group_member(db, group.id, people[9])
    page_two = await member_page(db, group.id, 4, after=member_cursor(page_one.rows[-1]))
    assert (user_ids(page_two), page_two.has_more) == (people[4:8], True)
    page_three = await member_page(db, group.id, 4, after=member_cursor(page_two.rows[-1]))
    assert (user_ids(page_three), page_three.has_more) == ([people[8], people[9]], False)
    # A member removed between pages does not shift them either.
    await memberships.remove_group_member(db, group.id, people[2])
    again = await member_page(db, group.id, 4, after=member_cursor(page_one.rows[-1]))
    assert user_ids(again) == people[4:8]
