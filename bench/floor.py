"""The floor of the bench (PRODUCT §8): Q1–Q3 without GraphQL.

A bare ASGI handler that makes the service's own SQL through the same
repository batch reads, and writes the same JSON with orjson (times too, as
the service does). Each operation is one statement, as the service's plans
make it (repositories/batches.py): the calls the plan asks for, each asked for
the columns its fields read, the loads below them as followers. It is what
Python cannot go below with this stack and this SQL; the bench reports each
GraphQL figure as a fraction of it.
The statement takes a pool connection (`pool.fetch`); with
FLOOR_CONNECTION=request it runs on a connection the request acquires, as the
service's queries do (api/http.py).

FLOOR_ROWS=json measures another way to read the same calls: PostgreSQL
aggregates each call's rows into one JSON array of arrays (one text value a
call), orjson parses it, and ids, times and cursors stay the texts
PostgreSQL wrote, with no record, row object, uuid or datetime built per
value. The answers are the same bytes (times with six fractional digits, as
the seeded ones have). It tells what building rows in Python costs against
building JSON in PostgreSQL (docs/performance.md, "What the floors say").
Run by bench/run.py as `uvicorn bench.floor:app`; never part of the service.
"""

from __future__ import annotations

import os
from typing import Any

import asyncpg
import orjson

from accounts_gql.api.ids import decode_id, encode_cursor, encode_id, encode_time_cursor
from accounts_gql.core.settings import Settings
from accounts_gql.db.pool import Executor, create_pool
from accounts_gql.repositories import contacts, groups, memberships, users
from accounts_gql.repositories.batches import Fetch, fetch_all

Send = Any
Receive = Any
_pool: asyncpg.Pool | None = None
_CONNECTION_PER_REQUEST = os.environ.get("FLOOR_CONNECTION", "statement") == "request"

# The columns the three documents read of each call's rows (bench/operations.py).
_USERS = users.USERS_BY_IDS.project({"id", "username", "display_name"})
_PAGE = users.USERS_PAGE.project({"id", "username", "display_name", "created_at"})
_CONTACTS = contacts.CONTACTS_BY_USER_IDS.project(
    {"id", "user_id", "type_code", "value", "is_primary"}
)
_MEMBERSHIPS = memberships.MEMBERSHIPS_BY_USER_IDS.project(
    {"user_id", "group_id", "role", "joined_at"}
)
_GROUPS = groups.GROUPS_BY_IDS.project({"id", "slug", "name"})
_COUNTED = groups.GROUPS_WITH_MEMBER_COUNTS.project({"id", "slug", "name", "member_count"})


def _with_details(parent: Fetch) -> tuple[Fetch, Fetch, Fetch]:
    """Follows users by their contacts and their memberships' groups."""
    contact = Fetch(_CONTACTS, args=(False,), column="id")
    group = Fetch(_GROUPS, column="group_id")
    membership = Fetch(_MEMBERSHIPS, column="id", follows=[group])
    parent.follows += [contact, membership]
    return contact, membership, group


async def _users(db: Executor, parent: Fetch) -> tuple[list[Any], list[dict[str, Any]]]:
    """The parent's rows, and each with its contacts and memberships, in one statement."""
    contact, membership, group = _with_details(parent)
    await fetch_all(db, [parent])
    rows = parent.rows()
    by_user: dict[Any, list[dict[str, Any]]] = {row.id: [] for row in rows}
    for c in contact.rows():
        by_user[c.user_id].append(
            {
                "id": encode_id("Contact", c.id),
                "value": c.value,
                "isPrimary": c.is_primary,
                "type": {"code": c.type_code},
            }
        )
    group_rows = {g.id: g for g in group.rows()}
    joined: dict[Any, list[dict[str, Any]]] = {row.id: [] for row in rows}
    for m in membership.rows():
        g = group_rows[m.group_id]
        joined[m.user_id].append(
            {
                "role": m.role.upper(),
                "joinedAt": m.joined_at,
                "group": {"id": encode_id("Group", g.id), "slug": g.slug, "name": g.name},
            }
        )
    details = [
        {
            "id": encode_id("User", row.id),
            "username": row.username,
            "displayName": row.display_name,
            "contacts": by_user[row.id],
            "memberships": joined[row.id],
        }
        for row in rows
    ]
    return rows, details


async def q1(db: Executor, variables: dict[str, Any]) -> dict[str, Any]:
    parent = Fetch(_USERS, [decode_id(variables["id"], "User")])
    _, details = await _users(db, parent)
    return {"user": details[0] if details else None}


async def q2(db: Executor, variables: dict[str, Any]) -> dict[str, Any]:
    parent = Fetch(_PAGE, args=users.users_page_args(first=50))
    _, details = await _users(db, parent)
    return {"users": {"edges": [{"node": node} for node in details]}}


async def q3(db: Executor, variables: dict[str, Any]) -> dict[str, Any]:
    group_id = decode_id(variables["id"], "Group")
    members = Fetch(_USERS, column="user_id")
    page = Fetch(
        memberships.MEMBER_PAGES,
        args=memberships.member_page_args(100),
        column="id",
        follows=[members],
    )
    group = Fetch(_COUNTED, [group_id], follows=[page])
    await fetch_all(db, [group])
    found = group.rows()
    if not found:
        return {"group": None}
    rows = memberships.pages(page.rows(), 100, backward=False)
    users_by_id = {u.id: u for u in members.rows()}
    edges = []
    for m in rows.get(group_id, memberships.EMPTY_PAGE).rows:
        u = users_by_id[m.user_id]
        edges.append(
            {
                "cursor": encode_time_cursor(m.joined_at, m.user_id),
                "node": {
                    "role": m.role.upper(),
                    "joinedAt": m.joined_at,
                    "user": {
                        "id": encode_id("User", u.id),
                        "username": u.username,
                        "displayName": u.display_name,
                    },
                },
            }
        )
    return {
        "group": {
            "id": encode_id("Group", found[0].id),
            "slug": found[0].slug,
            "name": found[0].name,
            "memberCount": found[0].member_count,
            "members": {"edges": edges},
        }
    }


# FLOOR_ROWS=json: the same calls, each aggregated into one JSON text.
_TIME = """to_char({} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')"""
_DETAILS_JSON = f"""
WITH u AS MATERIALIZED ({{users}}),
m AS MATERIALIZED (
    SELECT user_id, group_id, role, joined_at, n
    FROM accounts.memberships_by_user_ids(ARRAY(SELECT id FROM u)) WITH ORDINALITY AS m(
        user_id, group_id, role, joined_at, added_by, n))
SELECT (SELECT json_agg(json_build_array(id, username, display_name) ORDER BY n) FROM u)::text,
       (SELECT json_agg(json_build_array(id, user_id, value, is_primary, type_code) ORDER BY n)
        FROM accounts.contacts_by_user_ids(ARRAY(SELECT id FROM u), false)
             WITH ORDINALITY AS c(id, user_id, contact_type_id, type_code, value, is_primary,
                                  is_verified, is_active, created_at, updated_at,
                                  deactivated_at, n))::text,
       (SELECT json_agg(json_build_array(user_id, group_id, role, {_TIME.format("joined_at")})
                        ORDER BY n) FROM m)::text,
       (SELECT json_agg(json_build_array(id, slug, name))
        FROM accounts.groups_by_ids(ARRAY(SELECT DISTINCT group_id FROM m)))::text
"""
_Q1_JSON = _DETAILS_JSON.format(
    users="SELECT id, username, display_name, 1 AS n FROM accounts.users_by_ids($1)"
)
_Q2_JSON = _DETAILS_JSON.format(
    users="SELECT id, username, display_name, n FROM accounts.users_page("
    "50, NULL, NULL, NULL, NULL, NULL, 'created_at_asc', NULL, NULL, NULL, NULL)"
    " WITH ORDINALITY AS p(id, username, display_name, profile, status, roles, version,"
    " created_at, updated_at, has_more, n)"
)
_Q3_JSON = f"""
WITH g AS MATERIALIZED (
    SELECT id, slug, name, member_count FROM accounts.groups_with_member_counts_by_ids($1)),
p AS MATERIALIZED (
    SELECT user_id, role, joined_at, n
    FROM accounts.member_pages_with_next(ARRAY(SELECT id FROM g), 100, false,
                                         NULL, NULL, NULL, NULL, NULL)
         WITH ORDINALITY AS p(group_id, user_id, role, joined_at, added_by, n))
SELECT (SELECT json_agg(json_build_array(id, slug, name, member_count)) FROM g)::text,
       (SELECT json_agg(json_build_array(user_id, role, {_TIME.format("joined_at")}) ORDER BY n)
        FROM p)::text,
       (SELECT json_agg(json_build_array(id, username, display_name))
        FROM accounts.users_by_ids(ARRAY(SELECT DISTINCT user_id FROM p)))::text
"""


def _parts(record: Any) -> list[list[Any]]:
    return [orjson.loads(part) if part is not None else [] for part in record]


async def _users_json(db: Executor, sql: str, *args: object) -> list[dict[str, Any]]:
    found, contact_rows, membership_rows, group_rows = _parts(await db.fetchrow(sql, *args))
    by_user: dict[str, list[dict[str, Any]]] = {row[0]: [] for row in found}
    for contact_id, user_id, value, is_primary, code in contact_rows:
        by_user[user_id].append(
            {
                "id": encode_id("Contact", contact_id),
                "value": value,
                "isPrimary": is_primary,
                "type": {"code": code},
            }
        )
    named = {row[0]: row for row in group_rows}
    joined: dict[str, list[dict[str, Any]]] = {row[0]: [] for row in found}
    for user_id, group_id, role, at in membership_rows:
        _, slug, name = named[group_id]
        joined[user_id].append(
            {
                "role": role.upper(),
                "joinedAt": at,
                "group": {"id": encode_id("Group", group_id), "slug": slug, "name": name},
            }
        )
    return [
        {
            "id": encode_id("User", user_id),
            "username": username,
            "displayName": display_name,
            "contacts": by_user[user_id],
            "memberships": joined[user_id],
        }
        for user_id, username, display_name in found
    ]


async def q1_json(db: Executor, variables: dict[str, Any]) -> dict[str, Any]:
    details = await _users_json(db, _Q1_JSON, [decode_id(variables["id"], "User")])
    return {"user": details[0] if details else None}


async def q2_json(db: Executor, variables: dict[str, Any]) -> dict[str, Any]:
    details = await _users_json(db, _Q2_JSON)
    return {"users": {"edges": [{"node": node} for node in details]}}


async def q3_json(db: Executor, variables: dict[str, Any]) -> dict[str, Any]:
    record = await db.fetchrow(_Q3_JSON, [decode_id(variables["id"], "Group")])
    found, page, members = _parts(record)
    if not found:
        return {"group": None}
    group_id, slug, name, member_count = found[0]
    named = {row[0]: row for row in members}
    edges = []
    for user_id, role, at in page[:100]:
        _, username, display_name = named[user_id]
        edges.append(
            {
                "cursor": encode_cursor(at, user_id),
                "node": {
                    "role": role.upper(),
                    "joinedAt": at,
                    "user": {
                        "id": encode_id("User", user_id),
                        "username": username,
                        "displayName": display_name,
                    },
                },
            }
        )
    return {
        "group": {
            "id": encode_id("Group", group_id),
            "slug": slug,
            "name": name,
            "memberCount": member_count,
            "members": {"edges": edges},
        }
    }


HANDLERS = (
    {"/Q1": q1_json, "/Q2": q2_json, "/Q3": q3_json}
    if os.environ.get("FLOOR_ROWS") == "json"
    else {"/Q1": q1, "/Q2": q2, "/Q3": q3}
)


async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    global _pool
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                dsn = os.environ["DATABASE_URL"]
                _pool = await create_pool(
                    dsn, Settings(database_url=dsn, db_pool_min=8, db_pool_max=16)
                )
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if _pool is not None:
                    await _pool.close()
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    handler = HANDLERS.get(scope["path"])
    if handler is None or _pool is None:
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    variables = orjson.loads(body).get("variables") or {} if body else {}
    if _CONNECTION_PER_REQUEST:
        async with _pool.acquire() as connection:
            data = await handler(connection, variables)
    else:
        data = await handler(_pool, variables)
    payload = orjson.dumps({"data": data})
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": payload})
