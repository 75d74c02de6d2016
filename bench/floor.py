"""The floor of the bench (PRODUCT §8): Q1–Q3 without GraphQL.

A bare ASGI handler that runs the same batched SQL through the same repository
functions and writes the same JSON with orjson (times too, as the service does).
It is what Python cannot go below with this stack; the bench reports each
GraphQL figure as a fraction of it.
Each statement takes a pool connection of its own (`pool.fetch`), as PRODUCT §8
measured it; with FLOOR_CONNECTION=request a request's statements share one,
as the service's queries do (api/http.py): a stricter floor.
Run by bench/run.py as `uvicorn bench.floor:app`; never part of the service.
"""

from __future__ import annotations

import os
import uuid
from collections import defaultdict
from typing import Any

import asyncpg
import orjson

from accounts_gql.api.ids import decode_id, encode_id, encode_time_cursor
from accounts_gql.core.settings import Settings
from accounts_gql.db.pool import Executor, create_pool
from accounts_gql.repositories import contact_types, contacts, groups, memberships, users
from accounts_gql.repositories.users import UserRow

Send = Any
Receive = Any
_pool: asyncpg.Pool | None = None
_CONNECTION_PER_REQUEST = os.environ.get("FLOOR_CONNECTION", "statement") == "request"


async def _user_details(db: Executor, rows: list[UserRow]) -> list[dict[str, Any]]:
    """Users with contacts (and their type) and memberships (and their group)."""
    ids = [row.id for row in rows]
    contact_rows = await contacts.contacts_by_user_ids(db, ids, False)
    membership_rows = await memberships.memberships_by_user_ids(db, ids)
    type_ids = list({row.contact_type_id for row in contact_rows})
    group_ids = list({row.group_id for row in membership_rows})
    types = {row.id: row for row in await contact_types.contact_types_by_ids(db, type_ids)}
    group_rows = {row.id: row for row in await groups.groups_by_ids(db, group_ids)}
    by_user: defaultdict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
    for c in contact_rows:
        by_user[c.user_id].append(
            {
                "id": encode_id("Contact", c.id),
                "value": c.value,
                "isPrimary": c.is_primary,
                "type": {"code": types[c.contact_type_id].code},
            }
        )
    joined: defaultdict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
    for m in membership_rows:
        g = group_rows[m.group_id]
        joined[m.user_id].append(
            {
                "role": m.role.upper(),
                "joinedAt": m.joined_at,
                "group": {"id": encode_id("Group", g.id), "slug": g.slug, "name": g.name},
            }
        )
    return [
        {
            "id": encode_id("User", row.id),
            "username": row.username,
            "displayName": row.display_name,
            "contacts": by_user[row.id],
            "memberships": joined[row.id],
        }
        for row in rows
    ]


async def q1(db: Executor, variables: dict[str, Any]) -> dict[str, Any]:
    rows = await users.users_by_ids(db, [decode_id(variables["id"], "User")])
    return {"user": (await _user_details(db, rows))[0] if rows else None}


async def q2(db: Executor, variables: dict[str, Any]) -> dict[str, Any]:
    page = await users.users_page(db, first=50)
    return {"users": {"edges": [{"node": node} for node in await _user_details(db, page.rows)]}}


async def q3(db: Executor, variables: dict[str, Any]) -> dict[str, Any]:
    group_id = decode_id(variables["id"], "Group")
    found = await groups.groups_by_ids(db, [group_id])
    if not found:
        return {"group": None}
    group = found[0]
    counts = await groups.group_member_counts(db, [group_id])
    pages = await memberships.member_pages(db, [group_id], 100)
    page = pages.get(group_id, memberships.EMPTY_PAGE).rows
    members = {row.id: row for row in await users.users_by_ids(db, [m.user_id for m in page])}
    edges = []
    for m in page:
        u = members[m.user_id]
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
            "id": encode_id("Group", group.id),
            "slug": group.slug,
            "name": group.name,
            "memberCount": counts.get(group_id, 0),
            "members": {"edges": edges},
        }
    }


HANDLERS = {"/Q1": q1, "/Q2": q2, "/Q3": q3}


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
