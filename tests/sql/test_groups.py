"""Groups under concurrent writers, and the search of the groups connection.

The single-connection behaviour of each group function is covered by
test_group_functions.py; here two sessions race for one slug, one of them
holding its transaction open so that the other has to wait for the outcome.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from accounts_gql.core.errors import DomainError, ErrorKind
from accounts_gql.repositories import groups

Sessions = tuple[asyncpg.Connection, asyncpg.Connection]


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[Sessions]:
    """Two connections of their own, for writers that must not share a session."""
    one = await asyncpg.connect(database_url)
    two = await asyncpg.connect(database_url)
    try:
        yield one, two
    finally:
        await one.close()
        await two.close()


async def group_events(db: asyncpg.Connection, group_id: uuid.UUID) -> list[tuple[Any, ...]]:
    records = await db.fetch(
        "SELECT event_type, aggregate_type, sequence FROM accounts.outbox"
        " WHERE aggregate_id = $1 ORDER BY sequence",
        group_id,
    )
    return [tuple(record) for record in records]


async def waits(task: asyncio.Task[Any]) -> bool:
    """Whether the task is still blocked a moment after it started."""
    await asyncio.sleep(0.2)
    return not task.done()


async def expect(task: Any, kind: ErrorKind, field: str) -> DomainError:
    with pytest.raises(DomainError) as caught:
        await task
    assert (caught.value.kind, caught.value.field) == (kind, field), caught.value
    return caught.value


# Slug races -------------------------------------------------------------------


async def test_a_creation_racing_for_a_committed_slug_is_slug_taken(
    sessions: Sessions, db: asyncpg.Connection, unique: str
) -> None:
    one, two = sessions
    slug = f"race-{unique}"
    async with one.transaction():
        winner = await groups.create_group(one, slug, "First")
        loser = asyncio.create_task(groups.create_group(two, slug, "Second"))
        assert await waits(loser), "the second insert waits on the unique index"
    error = await expect(loser, ErrorKind.SLUG_TAKEN, "slug")
    assert slug in error.message

    assert await groups.group_by_slug(db, slug) == winner
    assert winner.name == "First"
    assert await group_events(db, winner.id) == [("group.created", "group", 1)]
    created = await db.fetchval(
        "SELECT count(*) FROM accounts.outbox"
        " WHERE event_type = 'group.created' AND payload -> 'group' ->> 'slug' = $1",
        slug,
    )
    assert created == 1, "the loser recorded no event"


async def test_a_creation_waiting_on_a_rolled_back_slug_succeeds(
    sessions: Sessions, db: asyncpg.Connection, unique: str
) -> None:
    one, two = sessions
    slug = f"undo-{unique}"
    transaction = one.transaction()
    await transaction.start()
    abandoned = await groups.create_group(one, slug, "Abandoned")
    waiting = asyncio.create_task(groups.create_group(two, slug, "Kept"))
    assert await waits(waiting)
    await transaction.rollback()

    kept = await waiting
    assert kept.name == "Kept"
    assert await groups.group_by_slug(db, slug) == kept
    assert await groups.groups_by_ids(db, [abandoned.id]) == []
    assert await group_events(db, abandoned.id) == [], "nothing of a rollback stays"
    assert await group_events(db, kept.id) == [("group.created", "group", 1)]


async def test_a_rename_racing_a_creation_for_one_slug_is_slug_taken(
    sessions: Sessions, db: asyncpg.Connection, unique: str
) -> None:
    one, two = sessions
    slug = f"name-{unique}"
    renamed = await groups.create_group(db, f"orig-{unique}", "Original")
    async with one.transaction():
        created = await groups.create_group(one, slug, "Creator")
        loser = asyncio.create_task(groups.update_group(two, renamed.id, slug=slug))
        assert await waits(loser)
    await expect(loser, ErrorKind.SLUG_TAKEN, "slug")

    assert await groups.groups_by_ids(db, [renamed.id]) == [renamed], "version and slug kept"
    assert await group_events(db, renamed.id) == [("group.created", "group", 1)]
    assert await groups.group_by_slug(db, slug) == created


async def test_concurrent_creations_of_one_slug_make_one_group(
    sessions: Sessions, db: asyncpg.Connection, unique: str
) -> None:
    one, two = sessions
    for round_ in range(5):
        slug = f"both-{unique}-{round_}"
        results = await asyncio.gather(
            groups.create_group(one, slug, "One"),
            groups.create_group(two, slug, "Two"),
            return_exceptions=True,
        )
        losses = [r for r in results if isinstance(r, DomainError)]
        assert [(e.kind, e.field) for e in losses] == [(ErrorKind.SLUG_TAKEN, "slug")], results
        assert await groups.groups_count(db, search=slug) == 1


# Concurrent version checks and deletion ------------------------------------------


async def test_two_updates_expecting_one_version_let_one_through(
    sessions: Sessions, db: asyncpg.Connection, unique: str
) -> None:
    one, two = sessions
    group = await groups.create_group(db, f"ver-{unique}", "V1")
    async with one.transaction():
        await groups.update_group(one, group.id, name="By one", expected_version=1)
        loser = asyncio.create_task(
            groups.update_group(two, group.id, name="By two", expected_version=1)
        )
        assert await waits(loser), "the group row lock orders the two writers"
    error = await expect(loser, ErrorKind.VERSION_CONFLICT, "expectedVersion")
    assert error.detail == {"current_version": 2}
    [stored] = await groups.groups_by_ids(db, [group.id])
    assert (stored.name, stored.version) == ("By one", 2)
    assert [e[0] for e in await group_events(db, group.id)] == ["group.created", "group.updated"]


async def test_an_update_waiting_on_a_deletion_finds_no_group(
    sessions: Sessions, db: asyncpg.Connection, unique: str
) -> None:
    one, two = sessions
    group = await groups.create_group(db, f"gone-{unique}", "Gone")
    async with one.transaction():
        await groups.delete_group(one, group.id)
        loser = asyncio.create_task(groups.update_group(two, group.id, name="Late"))
        assert await waits(loser)
    await expect(loser, ErrorKind.NOT_FOUND, "id")
    assert [e[0] for e in await group_events(db, group.id)] == ["group.created", "group.deleted"]


# Search ---------------------------------------------------------------------------


async def test_search_matches_slug_or_name_without_case_and_without_wildcards(
    db: asyncpg.Connection, unique: str
) -> None:
    by_slug = await groups.create_group(db, f"alpha-{unique}", "Plain")
    by_name = await groups.create_group(db, f"beta-{unique}", f"Team {unique.upper()} 100%")
    other = await groups.create_group(db, f"gamma-{unique}", "Team 1000")

    found = await groups.groups_page(db, first=10, order="slug_asc", search=unique.upper())
    assert [g.id for g in found.rows] == [by_slug.id, by_name.id, other.id]
    assert not found.has_more

    percent = await groups.groups_page(db, first=10, order="slug_asc", search=f"{unique} 100%")
    assert [g.id for g in percent.rows] == [by_name.id], "% matches itself only"
    assert await groups.groups_count(db, search=f"{unique} 100%") == 1
    assert await groups.groups_count(db, search=f"alpha_{unique}") == 0, "_ matches itself only"
    assert await groups.groups_count(db, search=f"  ALPHA-{unique} ") == 1, "trimmed"

    first = await groups.groups_page(db, first=2, order="slug_desc", search=unique)
    assert ([g.id for g in first.rows], first.has_more) == ([other.id, by_name.id], True)


async def test_batch_reads_of_no_ids_return_nothing(db: asyncpg.Connection) -> None:
    assert await groups.groups_by_ids(db, []) == []
    assert await groups.group_member_counts(db, []) == {}
    assert await groups.groups_by_ids(db, [uuid.uuid4()]) == []
