"""Memberships under concurrent writers, and member pages between two cursors.

test_group_functions.py covers each membership function on one connection;
here one session holds its transaction open so that the other must wait for
the group row lock and then act on what was committed.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from accounts_gql.core.errors import DomainError, ErrorKind
from accounts_gql.repositories import groups, memberships
from accounts_gql.repositories.memberships import MemberPage, MembershipRow
from accounts_gql.repositories.pages import Cursor
from tests.sql.test_group_functions import member_page

Sessions = tuple[asyncpg.Connection, asyncpg.Connection]


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[Sessions]:
    one = await asyncpg.connect(database_url)
    two = await asyncpg.connect(database_url)
    try:
        yield one, two
    finally:
        await one.close()
        await two.close()


async def make_users(db: asyncpg.Connection, unique: str, count: int) -> list[uuid.UUID]:
    return [
        await db.fetchval(
            "INSERT INTO accounts.users (username) VALUES ($1) RETURNING id", f"m{unique}u{i:02d}"
        )
        for i in range(count)
    ]


async def membership_events(db: asyncpg.Connection, group_id: uuid.UUID) -> list[tuple[Any, ...]]:
    """(type, sequence, user id) of a group's membership events, in order."""
    records = await db.fetch(
        "SELECT event_type, sequence, payload FROM accounts.outbox"
        " WHERE aggregate_type = 'group' AND aggregate_id = $1 AND event_type LIKE 'membership.%'"
        " ORDER BY sequence",
        group_id,
    )
    return [
        (r["event_type"], r["sequence"], uuid.UUID(r["payload"]["membership"]["user_id"]))
        for r in records
    ]


async def roles(db: asyncpg.Connection, group_id: uuid.UUID) -> dict[uuid.UUID, str]:
    rows = await db.fetch(
        "SELECT user_id, role FROM accounts.user_group_memberships WHERE group_id = $1", group_id
    )
    return {row["user_id"]: row["role"] for row in rows}


async def waits(task: asyncio.Task[Any]) -> bool:
    await asyncio.sleep(0.2)
    return not task.done()


async def expect(task: Any, kind: ErrorKind, field: str) -> DomainError:
    with pytest.raises(DomainError) as caught:
        await task
    assert (caught.value.kind, caught.value.field) == (kind, field), caught.value
    return caught.value


# Owners ---------------------------------------------------------------------------


@pytest.mark.parametrize("second_write", ["remove", "demote"])
async def test_removing_one_of_two_owners_makes_the_other_the_last(
    sessions: Sessions, db: asyncpg.Connection, unique: str, second_write: str
) -> None:
    one, two = sessions
    first, second = await make_users(db, unique, 2)
    group = await groups.create_group(db, f"own-{unique}", "Owners", owner_id=first)
    await memberships.add_group_member(db, group.id, second, "owner")

    async with one.transaction():
        await memberships.remove_group_member(one, group.id, first)
        if second_write == "remove":
            loser = asyncio.create_task(memberships.remove_group_member(two, group.id, second))
        else:
            loser = asyncio.create_task(
                memberships.change_member_role(two, group.id, second, "manager")
            )
        assert await waits(loser), "the group row lock makes the second writer wait"
    error = await expect(loser, ErrorKind.INVALID_STATE, "userId")
    assert "last owner" in error.message

    assert await roles(db, group.id) == {second: "owner"}
    assert await membership_events(db, group.id) == [
        ("membership.added", 2, first),
        ("membership.added", 3, second),
        ("membership.removed", 4, first),
    ]


async def test_a_group_without_owners_lets_any_member_go(
    db: asyncpg.Connection, unique: str
) -> None:
    manager, member = await make_users(db, unique, 2)
    group = await groups.create_group(db, f"free-{unique}", "Ownerless")
    await memberships.add_group_member(db, group.id, manager, "manager")
    await memberships.add_group_member(db, group.id, member)

    assert (await memberships.change_member_role(db, group.id, manager, "member")).role == "member"
    await memberships.remove_group_member(db, group.id, manager)
    await memberships.remove_group_member(db, group.id, member)
    assert await roles(db, group.id) == {}
    assert [e[0] for e in await membership_events(db, group.id)] == [
        "membership.added",
        "membership.added",
        "membership.role_changed",
        "membership.removed",
        "membership.removed",
    ]


async def test_promoting_a_second_owner_while_the_first_steps_down(
    sessions: Sessions, db: asyncpg.Connection, unique: str
) -> None:
    """The promotion commits first, so the waiting demotion no longer removes the last owner."""
    one, two = sessions
    first, second = await make_users(db, unique, 2)
    group = await groups.create_group(db, f"hand-{unique}", "Handover", owner_id=first)
    await memberships.add_group_member(db, group.id, second)

    async with one.transaction():
        await memberships.change_member_role(one, group.id, second, "owner")
        stepping_down = asyncio.create_task(
            memberships.change_member_role(two, group.id, first, "member")
        )
        assert await waits(stepping_down)
    assert (await stepping_down).role == "member"
    assert await roles(db, group.id) == {first: "member", second: "owner"}


# Adding -----------------------------------------------------------------------------


@pytest.mark.parametrize("outcome", ["commit", "rollback"])
async def test_an_addition_waiting_on_the_same_addition(
    sessions: Sessions, db: asyncpg.Connection, unique: str, outcome: str
) -> None:
    one, two = sessions
    [member] = await make_users(db, unique, 1)
    group = await groups.create_group(db, f"twice-{unique}", "Twice")

    transaction = one.transaction()
    await transaction.start()
    await memberships.add_group_member(one, group.id, member, "manager")
    waiting = asyncio.create_task(memberships.add_group_member(two, group.id, member))
    assert await waits(waiting)
    if outcome == "commit":
        await transaction.commit()
        await expect(waiting, ErrorKind.ALREADY_MEMBER, "userId")
        assert await roles(db, group.id) == {member: "manager"}
    else:
        await transaction.rollback()
        assert (await waiting).role == "member"
        assert await roles(db, group.id) == {member: "member"}
    assert await membership_events(db, group.id) == [("membership.added", 2, member)]


async def test_an_addition_waiting_on_a_group_deletion_finds_no_group(
    sessions: Sessions, db: asyncpg.Connection, unique: str
) -> None:
    one, two = sessions
    owner, member = await make_users(db, unique, 2)
    group = await groups.create_group(db, f"del-{unique}", "Deleted", owner_id=owner)

    async with one.transaction():
        await groups.delete_group(one, group.id)
        late = asyncio.create_task(memberships.add_group_member(two, group.id, member))
        assert await waits(late)
    await expect(late, ErrorKind.NOT_FOUND, "groupId")
    assert await memberships.memberships_by_user_ids(db, [owner, member]) == []
    # The deletion removed the owner's membership (its own event); the late one left none.
    assert await membership_events(db, group.id) == [
        ("membership.added", 2, owner),
        ("membership.removed", 3, owner),
    ]


# Member pages ---------------------------------------------------------------------


def cursor(row: MembershipRow) -> Cursor:
    return (row.joined_at.isoformat(), row.user_id)


def user_ids(page: MemberPage) -> list[uuid.UUID]:
    return [row.user_id for row in page.rows]


async def test_member_pages_between_two_cursors_and_backward_by_role(
    db: asyncpg.Connection, unique: str
) -> None:
    people = await make_users(db, unique, 9)
    group = await groups.create_group(db, f"win-{unique}", "Window", owner_id=people[0])
    for i, person in enumerate(people[1:], start=1):
        await memberships.add_group_member(db, group.id, person, "manager" if i % 2 else "member")
    everyone = await member_page(db, group.id, 100)
    assert (user_ids(everyone), everyone.has_more) == (people, False)

    # Between the 2nd and the 8th member, forward and backward.
    after, before = cursor(everyone.rows[1]), cursor(everyone.rows[7])
    forward = await member_page(db, group.id, 3, after=after, before=before)
    assert (user_ids(forward), forward.has_more) == (people[2:5], True)
    rest = await member_page(db, group.id, 3, after=cursor(forward.rows[-1]), before=before)
    assert (user_ids(rest), rest.has_more) == (people[5:7], False)
    backward = await member_page(db, group.id, 3, backward=True, after=after, before=before)
    assert (user_ids(backward), backward.has_more) == (people[4:7], True)

    # The managers (odd positions), the last two first, then the ones before them.
    managers = people[1::2]
    tail = await member_page(db, group.id, 2, backward=True, role="manager")
    assert (user_ids(tail), tail.has_more) == (managers[2:], True)
    head = await member_page(
        db, group.id, 2, backward=True, before=cursor(tail.rows[0]), role="manager"
    )
    assert (user_ids(head), head.has_more) == (managers[:2], False)
    assert all(row.role == "manager" for row in tail.rows + head.rows)


async def test_member_pages_of_no_groups_or_unknown_ones_are_empty(db: asyncpg.Connection) -> None:
    assert await memberships.member_pages(db, [], 5) == {}
    assert await memberships.member_pages(db, [uuid.uuid4()], 5, backward=True) == {}
    assert await memberships.memberships_by_user_ids(db, []) == []
