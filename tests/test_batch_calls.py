"""Batch reads in one statement (repositories/batches.py): each call's declared
columns are what its function returns, and a forest of fetches in one statement
gives every call the rows it gives alone."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from accounts_gql.repositories import (
    contact_types,
    contacts,
    groups,
    memberships,
    sessions,
    users,
)
from accounts_gql.repositories.batches import BatchCall, Fetch, batch_call, fetch_all

CALLS = {
    "users_by_ids": users.USERS_BY_IDS,
    "contacts_by_ids": contacts.CONTACTS_BY_IDS,
    "contacts_by_user_ids": contacts.CONTACTS_BY_USER_IDS,
    "contact_types_by_ids": contact_types.CONTACT_TYPES_BY_IDS,
    "memberships_by_user_ids": memberships.MEMBERSHIPS_BY_USER_IDS,
    "memberships_with_groups_by_user_ids": memberships.MEMBERSHIPS_WITH_GROUPS,
    "member_pages_with_next": memberships.MEMBER_PAGES,
    "groups_by_ids": groups.GROUPS_BY_IDS,
    "group_member_counts": groups.MEMBER_COUNTS,
    "groups_with_member_counts_by_ids": groups.GROUPS_WITH_MEMBER_COUNTS,
    "sessions_of_users": sessions.SESSIONS_OF_USERS,
    "users_page": users.USERS_PAGE,
    "groups_page": groups.GROUPS_PAGE,
}


@pytest.mark.parametrize("name", CALLS)
async def test_a_calls_columns_are_what_its_function_returns(
    db: asyncpg.Connection, name: str
) -> None:
    call: BatchCall = CALLS[name]
    statement = await db.prepare(call.sql)
    described = [(attribute.name, attribute.type.name) for attribute in statement.get_attributes()]
    assert described == list(zip(call.columns, call.types, strict=True))


@pytest.fixture
async def people(db: asyncpg.Connection) -> list[uuid.UUID]:
    """Twelve demo users in two groups of their own, with contacts and memberships."""
    before = set(await db.fetchval("SELECT array_agg(id) FROM accounts.user_groups") or [])
    await db.fetchrow("SELECT * FROM accounts.seed_demo(12, 2)")
    ids: list[uuid.UUID] = await db.fetchval(
        "SELECT array_agg(DISTINCT user_id) FROM accounts.user_group_memberships"
        " WHERE NOT group_id = ANY($1)",
        list(before),
    )
    assert len(ids) == 12
    return ids


async def test_followers_get_the_rows_their_calls_give_alone(
    db: asyncpg.Connection, people: list[uuid.UUID]
) -> None:
    """Users, their contacts and types, their memberships and groups, in one
    statement; and a second root (member pages) beside them."""
    unknown = uuid.uuid4()
    root = Fetch(users.USERS_BY_IDS, [*people, unknown])
    listed = Fetch(contacts.CONTACTS_BY_USER_IDS, args=(False,), column="id")
    listed.follows.append(Fetch(contact_types.CONTACT_TYPES_BY_IDS, column="contact_type_id"))
    joined = Fetch(memberships.MEMBERSHIPS_BY_USER_IDS, column="id")
    joined.follows.append(Fetch(groups.GROUPS_BY_IDS, column="group_id"))
    root.follows += [listed, joined]
    alone = await memberships.member_pages(db, [unknown], 5)
    pages = Fetch(memberships.MEMBER_PAGES, [unknown], memberships.member_page_args(5))

    await fetch_all(db, [root, pages])

    assert root.rows() == await users.users_by_ids(db, [*people, unknown])
    assert listed.keys == root.keys, "by the user ids asked for: the column of the root's keys"
    assert listed.rows() == await contacts.contacts_by_user_ids(db, people)
    [types] = listed.follows
    assert set(types.keys or []) == {row.contact_type_id for row in listed.rows()}
    assert types.rows() == await contact_types.contact_types_by_ids(db, types.keys or [])
    assert joined.rows() == await memberships.memberships_by_user_ids(db, people)
    [found] = joined.follows
    assert len(found.rows()) == 2
    assert found.rows() == await groups.groups_by_ids(db, found.keys or [])
    assert pages.rows() == []
    assert alone == {}


async def test_a_follower_of_nothing_is_empty(db: asyncpg.Connection) -> None:
    root = Fetch(memberships.MEMBERSHIPS_BY_USER_IDS, [uuid.uuid4()])
    follower = Fetch(groups.GROUPS_BY_IDS, column="group_id")
    root.follows.append(follower)
    await fetch_all(db, [root])
    assert root.rows() == []
    assert follower.keys == []
    assert follower.rows() == []


@pytest.mark.parametrize("name", [name for name, call in CALLS.items() if call.keyed])
async def test_a_keyed_calls_key_column_holds_the_keys_it_was_asked_by(
    db: asyncpg.Connection, people: list[uuid.UUID], name: str
) -> None:
    """What lets a follower by that column take the keys instead of the rows."""
    call: BatchCall = CALLS[name]
    assert call.key is not None
    keys = await _keys(db, name, people)
    fetch = Fetch(call, keys, _args(name))
    await fetch_all(db, [fetch])
    found = {record[call.columns.index(call.key)] for record in fetch.records}
    assert found or name == "sessions_of_users"  # demo users have none
    assert found <= set(keys)


@pytest.mark.parametrize("name", [name for name, call in CALLS.items() if call.unique])
async def test_a_calls_unique_column_is_unique(
    db: asyncpg.Connection, people: list[uuid.UUID], name: str
) -> None:
    """What lets a follower by that column take its values as they come."""
    call: BatchCall = CALLS[name]
    assert call.unique is not None
    if call.keyed:
        fetch = Fetch(call, await _keys(db, name, people), _args(name))
    else:
        page_args = users.users_page_args if name == "users_page" else groups.groups_page_args
        fetch = Fetch(call, args=page_args(first=50))
    await fetch_all(db, [fetch])
    values = [record[call.columns.index(call.unique)] for record in fetch.records]
    assert values or name == "sessions_of_users"  # demo users have none
    assert None not in values
    assert len(set(values)) == len(values)


async def test_a_follower_by_its_parents_keys_waits_for_no_rows(
    db: asyncpg.Connection, people: list[uuid.UUID]
) -> None:
    """A user's contacts and memberships by the ids asked for, and the groups by
    the memberships' rows: the statement keeps the memberships' rows alone."""
    unknown = uuid.uuid4()
    root = Fetch(users.USERS_BY_IDS, [people[0], unknown])
    listed = Fetch(contacts.CONTACTS_BY_USER_IDS, args=(False,), column="id")
    joined = Fetch(memberships.MEMBERSHIPS_BY_USER_IDS, column="id")
    found = Fetch(groups.GROUPS_BY_IDS, column="group_id")
    joined.follows.append(found)
    root.follows += [listed, joined]
    statements: list[str] = []

    def log(record: asyncpg.connection.LoggedQuery) -> None:
        statements.append(record.query)

    db.add_query_logger(log)
    try:
        await fetch_all(db, [root])
        await asyncio.sleep(0)  # asyncpg calls its query loggers soon, not at once
    finally:
        db.remove_query_logger(log)
    [statement] = statements
    assert statement.count("MATERIALIZED") == 1
    assert "FROM accounts.memberships_by_user_ids($1)" in statement
    assert "FROM accounts.contacts_by_user_ids($1, $2)" in statement
    assert listed.keys == joined.keys == [people[0], unknown]
    assert listed.rows() == await contacts.contacts_by_user_ids(db, [people[0]])
    assert joined.rows() == await memberships.memberships_by_user_ids(db, [people[0]])
    assert found.rows() == await groups.groups_by_ids(db, [m.group_id for m in joined.rows()])


PROJECTABLE = [name for name, call in CALLS.items() if call.kind is not None and call.keyed]


async def test_a_projected_page_keeps_its_has_more(
    db: asyncpg.Connection, people: list[uuid.UUID]
) -> None:
    arguments = users.users_page_args(first=3, order="username_asc")
    projected = users.USERS_PAGE.project(["username", "id"])
    assert projected.columns == ("id", "username", "has_more")
    fetch = Fetch(projected, args=arguments)
    await fetch_all(db, [fetch])
    page = users.user_page(fetch.records, projected)
    whole = await users.users_page(db, first=3, order="username_asc")
    assert [(row.id, row.username) for row in page.rows] == [
        (row.id, row.username) for row in whole.rows
    ]
    assert page.has_more == whole.has_more is True


async def test_a_root_page_with_followers_gives_the_rows_of_its_calls_alone(
    db: asyncpg.Connection, people: list[uuid.UUID]
) -> None:
    """A call without keys (a page: all its parameters arguments) leads a statement,
    its followers keyed by its rows, a keyed call beside it numbered after it."""
    arguments = users.users_page_args(first=5, order="username_asc")
    page = Fetch(users.USERS_PAGE, args=arguments)
    listed = Fetch(contacts.CONTACTS_BY_USER_IDS, args=(True,), column="id")
    page.follows.append(listed)
    beside = Fetch(users.USERS_BY_IDS, people[:3])

    await fetch_all(db, [page, beside])

    alone = await users.users_page(db, first=5, order="username_asc")
    assert users.user_page(page.records) == alone
    assert sorted(listed.keys or []) == sorted(row.id for row in alone.rows)
    assert listed.rows() == await contacts.contacts_by_user_ids(db, listed.keys or [], True)
    assert beside.rows() == await users.users_by_ids(db, people[:3])


@pytest.mark.parametrize("name", PROJECTABLE)
async def test_a_projected_call_gives_those_fields_of_the_whole_rows(
    db: asyncpg.Connection, people: list[uuid.UUID], name: str
) -> None:
    """Every other column, in the call's order, named in any order; its rows hold
    the values the whole rows hold, alone and in one statement with followers."""
    call: BatchCall = CALLS[name]
    kept = call.columns[::2]
    projected = call.project(reversed(kept))
    assert projected.columns == kept
    assert projected.sql == f"SELECT {', '.join(kept)} FROM accounts.{call.function}"
    assert call.project(kept) is projected  # made once
    keys = await _keys(db, name, people)
    whole = Fetch(call, keys, _args(name))
    alone = Fetch(projected, keys, _args(name))
    await fetch_all(db, [whole])
    await fetch_all(db, [alone])
    assert whole.rows() or name == "sessions_of_users"  # demo users have none
    expected = [tuple(getattr(row, column) for column in kept) for row in whole.rows()]
    assert [tuple(getattr(row, column) for column in kept) for row in alone.rows()] == expected


def _args(name: str) -> tuple[object, ...]:
    """A keyed call's arguments after its keys."""
    return {
        "contacts_by_user_ids": (False,),
        "member_pages_with_next": memberships.member_page_args(5),
    }.get(name, ())


_BY_GROUP_IDS = dict.fromkeys(
    ("groups_with_member_counts_by_ids", "group_member_counts", "member_pages_with_next"),
    "groups_by_ids",
)


async def _keys(db: asyncpg.Connection, name: str, people: list[uuid.UUID]) -> list[uuid.UUID]:
    """Keys the call finds rows of among the demo users."""
    if name in (
        "contacts_by_user_ids",
        "memberships_by_user_ids",
        "memberships_with_groups_by_user_ids",
        "sessions_of_users",
    ):
        return people
    query = {
        "users_by_ids": "SELECT $1::uuid[]",
        "contacts_by_ids": (
            "SELECT array_agg(id) FROM accounts.user_contacts WHERE user_id = ANY($1)"
        ),
        "contact_types_by_ids": (
            "SELECT array_agg(id) FROM accounts.contact_types WHERE cardinality($1::uuid[]) > 0"
        ),
        "groups_by_ids": (
            "SELECT array_agg(DISTINCT group_id) FROM accounts.user_group_memberships"
            " WHERE user_id = ANY($1)"
        ),
    }[_BY_GROUP_IDS.get(name, name)]
    keys: list[uuid.UUID] = await db.fetchval(query, people)
    return keys


def test_a_projection_of_columns_the_call_lacks_is_refused() -> None:
    with pytest.raises(ValueError, match="returns no"):
        users.USERS_BY_IDS.project(["id", "email"])


def test_a_row_class_must_have_the_calls_columns() -> None:
    with pytest.raises(TypeError, match="are not"):
        batch_call("users_by_ids($1)", "id uuid, name text", users.UserRow, key="id")


def test_a_keyed_call_must_name_the_column_of_its_keys() -> None:
    with pytest.raises(TypeError, match="names the column of its keys"):
        batch_call("users_by_ids($1)", "id uuid", tuple)
