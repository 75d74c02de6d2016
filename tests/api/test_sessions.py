"""Sessions a user can see and end, and admins on any user (PRODUCT §6; issue 17, 4)."""

from __future__ import annotations

from typing import Any

import asyncpg

from accounts_gql.core.settings import Settings
from tests.api.conftest import token_for
from tests.api.identity import ApiFrom

SESSIONS = """query($id: ID!) { node(id: $id) { ... on User { username sessions {
    id createdAt lastUsedAt expiresAt userAgent clientAddress current } } } }"""
MY_SESSIONS = """{ me { sessions { id userAgent clientAddress current createdAt lastUsedAt } } }"""
REVOKE = """mutation($id: ID!) { revokeSession(input: {id: $id}) {
    __typename ... on RevokeSessionSuccess { session { id } } ... on Error { message } } }"""
EVERYWHERE = """mutation($input: LogoutEverywhereInput) { logoutEverywhere(input: $input) {
    __typename ... on LogoutEverywhereSuccess { revokedCount } ... on Error { message } } }"""


async def session_events(pool: asyncpg.Pool, user_id: str) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT o.payload->'session' AS session, o.actor_id FROM accounts.outbox o"
        " JOIN accounts.users u ON u.id = o.aggregate_id"
        " WHERE o.event_type = 'session.revoked' AND u.username = $1 ORDER BY o.position",
        user_id,
    )
    return [{"session": row["session"], "actor_id": row["actor_id"]} for row in rows]


async def test_a_user_sees_their_sessions_and_ends_one(
    api_from: ApiFrom, pool: asyncpg.Pool, unique: str
) -> None:
    username = f"sess{unique}"
    laptop = await api_from("192.0.2.40", user_agent="Laptop browser")
    phone = await api_from("192.0.2.41", user_agent="Phone app")
    signed_up = await laptop.sign_up(username)
    on_phone = await phone.login(username)

    mine = await phone.field(MY_SESSIONS, token=on_phone["accessToken"])
    assert [(s["userAgent"], s["clientAddress"], s["current"]) for s in mine["sessions"]] == [
        ("Laptop browser", "192.0.2.40", False),
        ("Phone app", "192.0.2.41", True),
    ]
    laptop_session = mine["sessions"][0]

    revoked = await phone.field(REVOKE, {"id": laptop_session["id"]}, token=on_phone["accessToken"])

    assert revoked == {
        "__typename": "RevokeSessionSuccess",
        "session": {"id": laptop_session["id"]},
    }
    ended = await laptop.refresh(signed_up["refreshToken"])
    assert (ended["__typename"], ended["reason"]) == ("SessionRevoked", "REVOKED")
    assert ended["message"] == "This session was revoked; sign in again."
    left = await phone.field(MY_SESSIONS, token=on_phone["accessToken"])
    assert [s["userAgent"] for s in left["sessions"]] == ["Phone app"]
    again = await phone.field(REVOKE, {"id": laptop_session["id"]}, token=on_phone["accessToken"])
    assert again["__typename"] == "InvalidState"
    # The laptop's access token works until it expires (access tokens are not revocable).
    assert (await laptop.field("{ me { username } }", token=signed_up["accessToken"])) == {
        "username": username
    }
    [event] = await session_events(pool, username)
    assert event["session"]["end_reason"] == "revoked"
    assert event["session"]["user_agent"] == "Laptop browser"
    assert str(event["actor_id"]) == await pool.fetchval(
        "SELECT id::text FROM accounts.users WHERE username = $1", username
    )


async def test_others_cannot_see_or_end_a_users_sessions(api_from: ApiFrom, unique: str) -> None:
    client = await api_from("192.0.2.42")
    owner = await client.sign_up(f"own{unique}")
    other = await client.sign_up(f"oth{unique}")
    owner_sessions = await client.field(MY_SESSIONS, token=owner["accessToken"])
    session_id = owner_sessions["sessions"][0]["id"]

    seen = await client.field(SESSIONS, {"id": owner["user"]["id"]}, token=other["accessToken"])
    refused = await client.field(REVOKE, {"id": session_id}, token=other["accessToken"])
    wrong_type = await client.field(REVOKE, {"id": owner["user"]["id"]}, token=owner["accessToken"])
    for_someone_else = await client.field(
        EVERYWHERE, {"input": {"userId": owner["user"]["id"]}}, token=other["accessToken"]
    )

    assert seen == {"username": f"own{unique}", "sessions": None}
    assert refused["__typename"] == "NotFound"
    assert wrong_type["__typename"] == "ValidationError"
    assert for_someone_else["__typename"] == "Forbidden"
    assert (await client.refresh(owner["refreshToken"]))["__typename"] == "AuthPayload"


async def test_logout_everywhere_keeps_the_current_session_unless_told(
    api_from: ApiFrom, pool: asyncpg.Pool, unique: str
) -> None:
    username = f"every{unique}"
    client = await api_from("192.0.2.43")
    first = await client.sign_up(username)
    second = await client.login(username)
    current = await client.login(username)

    kept = await client.field(EVERYWHERE, {}, token=current["accessToken"])

    assert kept == {"__typename": "LogoutEverywhereSuccess", "revokedCount": 2}
    for ended in (first, second):
        refreshed = await client.refresh(ended["refreshToken"])
        assert (refreshed["__typename"], refreshed["reason"]) == ("SessionRevoked", "REVOKED")
    rotated = await client.refresh(current["refreshToken"])
    assert rotated["__typename"] == "AuthPayload"

    # The new access token belongs to the same session: includeCurrent ends it too.
    all_of_them = await client.field(
        EVERYWHERE, {"input": {"includeCurrent": True}}, token=rotated["accessToken"]
    )
    assert all_of_them == {"__typename": "LogoutEverywhereSuccess", "revokedCount": 1}
    assert (await client.refresh(rotated["refreshToken"]))["__typename"] == "SessionRevoked"
    assert len(await session_events(pool, username)) == 3


async def test_an_admin_sees_and_ends_any_users_sessions(
    api_from: ApiFrom, identity_config: Settings, make_user: Any, unique: str
) -> None:
    client = await api_from("192.0.2.44", user_agent="Someone's browser")
    user = await client.sign_up(f"adm{unique}")
    await client.login(f"adm{unique}")
    admin = token_for(identity_config, await make_user(roles=("admin",)), ("admin",))

    seen = await client.field(SESSIONS, {"id": user["user"]["id"]}, token=admin)
    assert [s["userAgent"] for s in seen["sessions"]] == ["Someone's browser"] * 2
    assert not any(s["current"] for s in seen["sessions"])
    one = await client.field(REVOKE, {"id": seen["sessions"][0]["id"]}, token=admin)
    assert one["__typename"] == "RevokeSessionSuccess"
    rest = await client.field(EVERYWHERE, {"input": {"userId": user["user"]["id"]}}, token=admin)
    assert rest == {"__typename": "LogoutEverywhereSuccess", "revokedCount": 1}
    after = await client.field(SESSIONS, {"id": user["user"]["id"]}, token=admin)
    assert after["sessions"] == []
