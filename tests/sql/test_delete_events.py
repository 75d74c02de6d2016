"""An erasure that meets a relay publishing the user's rows (sql/0014)."""

from __future__ import annotations

import asyncio

import asyncpg

from accounts_gql.repositories import users
from tests.sql.test_contacts import events
from tests.sql.test_groups import Sessions, sessions, waits

__all__ = ["sessions"]


async def test_an_erasure_waits_for_a_claimed_row_and_then_redacts_it(
    sessions: Sessions, db: asyncpg.Connection, unique: str
) -> None:
    relay, eraser = sessions
    row = await users.create_user(db, f"claimed{unique}", "Claimed", {"secret": "x"})
    async with relay.transaction():
        claimed = await relay.fetch(
            "SELECT position, aggregate_id FROM accounts.outbox_claim(10000)"
        )
        mine = [r["position"] for r in claimed if r["aggregate_id"] == row.id]
        assert len(mine) == 1, "the relay holds user.created, being published"
        erasure = asyncio.create_task(users.delete_user(eraser, row.id, expected_version=None))
        assert await waits(erasure), "the erasure waits for the relay's claim"
        await relay.execute("SELECT accounts.outbox_mark_published($1)", mine)
    await erasure

    recorded = await events(db, row.id)
    assert [e["event_type"] for e in recorded] == ["user.created", "user.deleted"]
    assert recorded[0]["payload"] == {"redacted": True}, "published before the erasure committed"
    assert recorded[1]["payload"]["user"]["profile"] == {"secret": "x"}, "pending: kept"
