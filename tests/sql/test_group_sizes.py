"""Member counts kept by a trigger (sql/0021_group_sizes.sql): after every kind of
membership change, and under concurrent writers, `group_member_counts` and
`groups_with_member_counts_by_ids` (sql/0022) say what counting the memberships
says."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg

from accounts_gql.repositories import groups, memberships, users
from tests.sql.test_memberships import make_users


async def counted(db: asyncpg.Connection, group_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    """The groups' member counts as a plain count of their memberships gives them."""
    records = await db.fetch(
        "SELECT group_id, count(*) FROM accounts.user_group_memberships"
        " WHERE group_id = ANY($1) GROUP BY group_id",
        group_ids,
    )
    return {record[0]: record[1] for record in records}


async def test_counts_follow_every_kind_of_membership_change(
    db: asyncpg.Connection, unique: str
) -> None:
    owner, one, two, three = await make_users(db, unique, 4)
    group = await groups.create_group(db, f"sizes-{unique}", "Sizes", owner_id=owner)
    other = await groups.create_group(db, f"other-{unique}", "Other")
    both = [group.id, other.id]

    async def check(expected: dict[uuid.UUID, int]) -> None:
        assert await groups.group_member_counts(db, both) == expected
        assert await counted(db, both) == expected
        # With the groups (sql/0022): every group that exists, 0 for none.
        records = await db.fetch(
            "SELECT id, member_count FROM accounts.groups_with_member_counts_by_ids($1)", both
        )
        alive = set(
            await db.fetchval(
                "SELECT array_agg(id) FROM accounts.user_groups WHERE id = ANY($1)", both
            )
            or []
        )
        assert dict(map(tuple, records)) == {g: expected.get(g, 0) for g in alive}

    await check({group.id: 1})
    for user_id in (one, two, three):
        await memberships.add_group_member(db, group.id, user_id)
    await memberships.add_group_member(db, other.id, two)
    await check({group.id: 4, other.id: 1})
    await memberships.change_member_role(db, group.id, one, "manager")
    await check({group.id: 4, other.id: 1})
    await memberships.remove_group_member(db, group.id, one)
    await check({group.id: 3, other.id: 1})
    await users.delete_user(db, two)  # erasure: its memberships of both groups go
    await check({group.id: 2})
    await groups.delete_group(db, group.id)
    await check({})
    assert (
        await db.fetchval("SELECT count(*) FROM accounts.group_sizes WHERE group_id = $1", group.id)
        == 0
    )


async def test_concurrent_writers_to_one_group_are_all_counted(
    db: asyncpg.Connection, database_url: str, unique: str
) -> None:
    members = await make_users(db, unique, 12)
    group = await groups.create_group(db, f"crowd-{unique}", "Crowd")
    for user_id in members[:6]:
        await memberships.add_group_member(db, group.id, user_id)
    sessions = [await asyncpg.connect(database_url) for _ in range(6)]
    try:
        # Six add and six remove at once, each on a connection of its own.
        await asyncio.gather(
            *(
                memberships.add_group_member(session, group.id, user_id)
                for session, user_id in zip(sessions, members[6:], strict=True)
            ),
        )
        await asyncio.gather(
            *(
                memberships.remove_group_member(session, group.id, user_id)
                for session, user_id in zip(sessions, members[:6], strict=True)
            ),
        )
    finally:
        for session in sessions:
            await session.close()
    assert await groups.group_member_counts(db, [group.id]) == {group.id: 6}
    assert await counted(db, [group.id]) == {group.id: 6}


async def test_every_group_has_the_count_of_its_memberships(db: asyncpg.Connection) -> None:
    """Over the whole database, whatever the other tests wrote."""
    wrong = await db.fetchval(
        """SELECT count(*)
           FROM (SELECT group_id, count(*) AS members FROM accounts.user_group_memberships
                 GROUP BY group_id) AS c
           FULL JOIN accounts.group_sizes AS s USING (group_id)
           WHERE coalesce(s.members, 0) <> coalesce(c.members, 0)"""
    )
    assert wrong == 0
