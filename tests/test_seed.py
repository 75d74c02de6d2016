"""`accounts-gql seed`: realistic demo data that respects every invariant."""

from __future__ import annotations

import asyncpg

from accounts_gql.repositories.demo import seed_demo


async def test_seed_makes_users_with_contacts_and_memberships(db: asyncpg.Connection) -> None:
    counts = await seed_demo(db, users=300, groups=None)
    assert counts.users == 300
    assert counts.groups == 3
    assert 2.5 * counts.users <= counts.contacts <= 3 * counts.users
    assert counts.memberships == 2 * counts.users
    # Each seeded group has exactly one owner.
    owners = await db.fetch(
        """SELECT m.group_id, count(*) FILTER (WHERE m.role = 'owner') AS owners
           FROM accounts.user_group_memberships m
           JOIN accounts.user_groups g ON g.id = m.group_id
           WHERE g.slug LIKE 'team-%' GROUP BY m.group_id"""
    )
    assert owners
    assert all(row["owners"] == 1 for row in owners)


async def test_seeding_twice_does_not_collide(db: asyncpg.Connection) -> None:
    first = await seed_demo(db, users=50, groups=2)
    second = await seed_demo(db, users=50, groups=2)
    assert (second.users, second.groups, second.memberships) == (50, 2, first.memberships)
    # 50 users get 50 primary emails, 45 phones, 34 work and 12 other emails (0006);
    # a phone number an earlier seeding gave out is skipped, not an error.
    for seeding in (first, second):
        assert 141 - 45 <= seeding.contacts <= 141
