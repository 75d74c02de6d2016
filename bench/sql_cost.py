"""PostgreSQL's CPU per statement of the read path, one stored function at a time.

    .venv/bin/python bench/sql_cost.py [--calls 2000] [--database URL] [--only users_page …]

Calls each batch function the way the repositories do (the same statement
text, one connection, statements prepared as asyncpg prepares them) with the
arguments of the bench's operations (Q1–Q3) and of other shapes (filtered
user lists, nodes of mixed types, a user's groups with their member pages),
and prints the CPU its backend spent per call (from /proc) and the wall time
per call. `SELECT 1` is the floor of any statement: parse-free execution of a
prepared statement, its transaction and its round trip. The functions'
attributes (LANGUAGE, SECURITY DEFINER, SET search_path) are printed with the
figures, as they decide whether a function is inlined and how it is planned.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from accounts_gql.db.pool import init_connection
from accounts_gql.repositories import contact_types, contacts, groups, memberships, users
from bench.proc import cpu_seconds
from bench.run import DATABASE, prepare

Call = Callable[[asyncpg.Connection], Awaitable[Any]]


async def arguments(db: asyncpg.Connection) -> dict[str, Any]:
    """Ids as the bench's operations and the other shapes ask for them."""
    one = await db.fetchval(
        """SELECT u.id FROM accounts.users u
           WHERE u.active_contacts >= 3
             AND (SELECT count(*) FROM accounts.user_group_memberships m
                  WHERE m.user_id = u.id) >= 2
           ORDER BY u.created_at LIMIT 1"""
    )
    page = [r.id for r in (await users.users_page(db, first=50)).rows]
    group = await db.fetchval(
        """SELECT group_id FROM accounts.user_group_memberships
           GROUP BY group_id HAVING count(*) >= 100 ORDER BY group_id LIMIT 1"""
    )
    members = [m.user_id for m in (await memberships.member_pages(db, [group], 100))[group].rows]
    rows = await contacts.contacts_by_user_ids(db, page, False)
    joined = await memberships.memberships_by_user_ids(db, page)
    # A user in many groups, for "me { groups { members } }".
    busy = await db.fetchval(
        """SELECT user_id FROM accounts.user_group_memberships
           GROUP BY user_id ORDER BY count(*) DESC, user_id LIMIT 1"""
    )
    busy_groups = [m.group_id for m in await memberships.memberships_by_user_ids(db, [busy])]
    last = (await users.users_page(db, first=20)).rows[-1]
    return {
        "one": one,
        "page": page,
        "types": list({r.contact_type_id for r in rows}),
        "groups": list({m.group_id for m in joined}),
        "group": group,
        "members": members,
        "contact_ids": [r.id for r in rows[:10]],
        "busy": busy,
        "busy_groups": busy_groups,
        "after": (last.created_at.isoformat(), last.id),
    }


def cases(a: dict[str, Any]) -> dict[str, Call]:
    mixed_users, mixed_groups = a["page"][:10], a["groups"][:10]
    return {
        "select 1": lambda db: db.fetchval("SELECT 1"),
        # Q1
        "Q1 users_by_ids(1)": lambda db: users.users_by_ids(db, [a["one"]]),
        "Q1 contacts_by_user_ids(1)": lambda db: contacts.contacts_by_user_ids(
            db, [a["one"]], False
        ),
        "Q1 memberships_by_user_ids(1)": lambda db: memberships.memberships_by_user_ids(
            db, [a["one"]]
        ),
        "Q1 contact_types_by_ids(2)": lambda db: contact_types.contact_types_by_ids(db, a["types"]),
        "Q1 groups_by_ids(2)": lambda db: groups.groups_by_ids(db, a["groups"][:2]),
        # Q2
        "Q2 users_page(50)": lambda db: users.users_page(db, first=50),
        "Q2 contacts_by_user_ids(50)": lambda db: contacts.contacts_by_user_ids(
            db, a["page"], False
        ),
        "Q2 memberships_by_user_ids(50)": lambda db: memberships.memberships_by_user_ids(
            db, a["page"]
        ),
        "Q2 groups_by_ids(n)": lambda db: groups.groups_by_ids(db, a["groups"]),
        # Q3
        "Q3 groups_by_ids(1)": lambda db: groups.groups_by_ids(db, [a["group"]]),
        "Q3 group_member_counts(1)": lambda db: groups.group_member_counts(db, [a["group"]]),
        "Q3 member_pages(1, 100)": lambda db: memberships.member_pages(db, [a["group"]], 100),
        "Q3 users_by_ids(100)": lambda db: users.users_by_ids(db, a["members"]),
        # Other shapes: filtered user lists, nodes of mixed types, me with groups.
        "users_page(20, after)": lambda db: users.users_page(db, first=20, after=a["after"]),
        "users_page(20, status)": lambda db: users.users_page(db, first=20, status="active"),
        "users_page(20, search)": lambda db: users.users_page(db, first=20, search="ada"),
        "users_page(20, group)": lambda db: users.users_page(db, first=20, group_id=a["group"]),
        "users_page(20, username)": lambda db: users.users_page(db, first=20, order="username_asc"),
        "users_page(20, search, after)": lambda db: users.users_page(
            db, first=20, after=a["after"], search="ada"
        ),
        "users_page(20, rare search)": lambda db: users.users_page(db, first=20, search="qzxw"),
        "users_page(20, role)": lambda db: users.users_page(db, first=20, role="admin"),
        "users_page(20, status, role)": lambda db: users.users_page(
            db, first=20, status="active", role="admin"
        ),
        "users_page(20, last, status)": lambda db: users.users_page(
            db, last=20, before=a["after"], status="active"
        ),
        "users_page(20, group, username)": lambda db: users.users_page(
            db, first=20, group_id=a["group"], order="username_desc"
        ),
        "users_page(20, group, search)": lambda db: users.users_page(
            db, first=20, group_id=a["group"], search="ada"
        ),
        "users_count(status)": lambda db: users.users_count(db, status="active"),
        "users_count(group)": lambda db: users.users_count(db, group_id=a["group"]),
        "users_count(search)": lambda db: users.users_count(db, search="ada"),
        "users_count(role)": lambda db: users.users_count(db, role="admin"),
        "nodes users_by_ids(10)": lambda db: users.users_by_ids(db, mixed_users),
        "nodes groups_by_ids(10)": lambda db: groups.groups_by_ids(db, mixed_groups),
        "nodes contacts_by_ids(10)": lambda db: contacts.contacts_by_ids(db, a["contact_ids"]),
        "me memberships_by_user_ids(1)": lambda db: memberships.memberships_by_user_ids(
            db, [a["busy"]]
        ),
        "me groups_by_ids(k)": lambda db: groups.groups_by_ids(db, a["busy_groups"]),
        "me group_member_counts(k)": lambda db: groups.group_member_counts(db, a["busy_groups"]),
        "me member_pages(k, 20)": lambda db: memberships.member_pages(db, a["busy_groups"], 20),
        "groups_page(20)": lambda db: groups.groups_page(db, first=20),
    }


_ATTRIBUTES = """
SELECT p.proname, l.lanname, p.prosecdef, coalesce(array_to_string(p.proconfig, ','), '')
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
JOIN pg_language l ON l.oid = p.prolang
WHERE n.nspname = 'accounts' AND p.proname = ANY($1)
"""


async def measure(db: asyncpg.Connection, call: Call, calls: int) -> tuple[float, float]:
    """Backend CPU µs and wall µs per call, after a warm-up that lets the plan
    cache settle (a generic plan is chosen after five custom ones)."""
    pid = await db.fetchval("SELECT pg_backend_pid()")
    for _ in range(20):
        await call(db)
    before, started = cpu_seconds(pid), time.perf_counter()
    for _ in range(calls):
        await call(db)
    wall = time.perf_counter() - started
    return (cpu_seconds(pid) - before) * 1e6 / calls, wall * 1e6 / calls


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--database", default=DATABASE)
    parser.add_argument("--only", nargs="*", default=[], help="cases whose name contains one")
    args = parser.parse_args()
    if args.database == DATABASE:
        await prepare(20000)  # the bench's database, migrated and seeded
    db = await asyncpg.connect(args.database)
    await init_connection(db, None)
    try:
        given = await arguments(db)
        chosen = cases(given)
        names = sorted(
            {name.split()[-1].split("(")[0] for name in chosen if name != "select 1"}
            | {
                "users_filter_sql",
                "like_pattern",
                "member_page_size",
                "users_cursor_check",
                "users_page_filtered",
            }
        )
        print(f"{'function':<20} {'language':<9} {'definer':<7} config")
        for row in await db.fetch(_ATTRIBUTES, names):
            print(f"{row[0]:<20} {row[1]:<9} {row[2]!s:<7} {row[3]}")
        print(f"\n{'statement':<34} {'backend CPU µs':>14} {'wall µs':>9}")
        for name, call in chosen.items():
            if args.only and name != "select 1" and not any(part in name for part in args.only):
                continue
            cpu, wall = await measure(db, call, args.calls)
            print(f"{name:<34} {cpu:>14.1f} {wall:>9.1f}", flush=True)
    finally:
        await db.close()


if __name__ == "__main__":
    asyncio.run(main())
