"""Concurrent refreshes of one refresh token (two tabs) both succeed with the same
successor within REFRESH_GRACE_SECONDS; reuse after it ends the session; ended
sessions say why (PRODUCT §6)."""

from __future__ import annotations

import asyncio
import time

import asyncpg

from accounts_gql.core.settings import Settings
from accounts_gql.services.auth import refresh_token_hash
from tests.api.identity import ApiFrom

LOGOUT = """mutation($input: LogoutInput!) { logout(input: $input) {
    __typename ... on LogoutSuccess { revoked } } }"""
WAITING_REFRESHES = """
    SELECT count(*) FROM pg_stat_activity
    WHERE datname = current_database() AND wait_event_type = 'Lock'
      AND query LIKE '%accounts.refresh_session%'
"""


async def age_rotation(pool: asyncpg.Pool, settings: Settings, refresh_token: str) -> None:
    """Moves the token's rotation back past the grace window (as if time passed)."""
    await pool.execute(
        "UPDATE accounts.refresh_tokens SET used_at = used_at - make_interval(secs => $2)"
        " WHERE token_hash = $1",
        refresh_token_hash(refresh_token),
        settings.refresh_grace_seconds + 1,
    )


async def test_two_concurrent_refreshes_both_succeed_with_the_same_successor(
    api_from: ApiFrom, pool: asyncpg.Pool, settings: Settings, unique: str
) -> None:
    tab_a = await api_from("192.0.2.30", user_agent="tab A")
    tab_b = await api_from("192.0.2.30", user_agent="tab B")
    signed_up = await tab_a.sign_up(f"tabs{unique}")
    token = signed_up["refreshToken"]

    # Hold the session's row so that both refreshes are in PostgreSQL at once,
    # then let them race.
    async with pool.acquire() as holder:
        transaction = holder.transaction()
        await transaction.start()
        await holder.execute(
            "SELECT 1 FROM accounts.sessions WHERE id ="
            " (SELECT family_id FROM accounts.refresh_tokens WHERE token_hash = $1) FOR UPDATE",
            refresh_token_hash(token),
        )
        both = asyncio.gather(tab_a.refresh(token), tab_b.refresh(token))
        deadline = time.monotonic() + 10
        while await pool.fetchval(WAITING_REFRESHES) < 2:
            assert time.monotonic() < deadline, "the two refreshes did not both reach PostgreSQL"
            await asyncio.sleep(0.01)
        await transaction.commit()
        first, second = await both

    assert first["__typename"] == second["__typename"] == "AuthPayload", (first, second)
    assert first["refreshToken"] == second["refreshToken"] != token
    assert first["user"] == second["user"] == signed_up["user"]
    # The session lives on: its successor refreshes, and one session it stays.
    successor = await tab_b.refresh(first["refreshToken"])
    assert successor["__typename"] == "AuthPayload", successor
    user_id = await pool.fetchval(
        "SELECT user_id FROM accounts.refresh_tokens WHERE token_hash = $1",
        refresh_token_hash(token),
    )
    sessions = await pool.fetch(
        "SELECT ended_at FROM accounts.sessions WHERE user_id = $1", user_id
    )
    assert [row["ended_at"] for row in sessions] == [None]

    # After the window, the first token again is reuse: the session ends.
    await age_rotation(pool, settings, token)
    reused = await tab_a.refresh(token)
    assert (reused["__typename"], reused["reason"]) == ("SessionRevoked", "REUSE_DETECTED")
    latest = await tab_b.refresh(successor["refreshToken"])
    assert (latest["__typename"], latest["reason"]) == ("SessionRevoked", "REUSE_DETECTED")


async def test_a_second_use_within_the_window_gets_the_same_successor_again(
    api_from: ApiFrom, pool: asyncpg.Pool, settings: Settings, unique: str
) -> None:
    tab = await api_from("192.0.2.31")
    token = (await tab.sign_up(f"again{unique}"))["refreshToken"]
    first = await tab.refresh(token)
    second = await tab.refresh(token)
    assert first["refreshToken"] == second["refreshToken"]
    # Only the presented token unseals the successor: the database keeps it sealed.
    sealed = await pool.fetchval(
        "SELECT successor_seal FROM accounts.refresh_tokens WHERE token_hash = $1",
        refresh_token_hash(token),
    )
    assert sealed is not None
    assert first["refreshToken"].encode() not in sealed
    assert refresh_token_hash(first["refreshToken"]) != sealed


async def test_logged_out_revoked_and_reused_tokens_each_say_so(
    api_from: ApiFrom, pool: asyncpg.Pool, settings: Settings, unique: str
) -> None:
    tab = await api_from("192.0.2.32")
    username = f"msgs{unique}"
    await tab.sign_up(username)
    logged_in = await tab.login(username)
    assert (await tab.field(LOGOUT, {"input": {"refreshToken": logged_in["refreshToken"]}})) == {
        "__typename": "LogoutSuccess",
        "revoked": True,
    }
    logged_out = await tab.refresh(logged_in["refreshToken"])

    other = await tab.login(username)
    rotated = await tab.refresh(other["refreshToken"])
    await age_rotation(pool, settings, other["refreshToken"])
    reused = await tab.refresh(other["refreshToken"])
    after_reuse = await tab.refresh(rotated["refreshToken"])
    unknown = await tab.refresh("not-a-token-we-issued")

    assert (logged_out["__typename"], logged_out["reason"]) == ("SessionRevoked", "LOGGED_OUT")
    assert (reused["__typename"], reused["reason"]) == ("SessionRevoked", "REUSE_DETECTED")
    assert (after_reuse["__typename"], after_reuse["reason"]) == (
        "SessionRevoked",
        "REUSE_DETECTED",
    )
    assert unknown["__typename"] == "InvalidCredentials"
    messages = [m["message"] for m in (logged_out, reused, after_reuse, unknown)]
    assert len(set(messages)) == 4, messages
    assert "already used" not in logged_out["message"]
