"""Passwords, login throttling and refresh tokens through their stored functions
(sql/0007_auth.sql)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
import uuid
from typing import Any

import asyncpg
import pytest

from accounts_gql.core.errors import DomainError, ErrorKind
from accounts_gql.core.passwords import Passwords
from accounts_gql.repositories import credentials as repo
from accounts_gql.repositories import users

# Cheap parameters: the SQL stores hashes, it never computes them.
PASSWORDS = Passwords(time_cost=1, memory_cost=8, parallelism=1)
TTL = 3600
LIMITS = {"max_per_username": 3, "username_window": 60, "max_per_client": 5, "client_window": 60}


def token() -> tuple[str, bytes]:
    value = secrets.token_urlsafe(32)
    return value, hashlib.sha256(value.encode()).digest()


async def make_user(db: asyncpg.Connection, unique: str, suffix: str = "") -> uuid.UUID:
    user = await users.create_user(db, f"u{unique}{suffix}")
    return user.id


async def expect_error(call: Any, kind: ErrorKind, field: str | None = None) -> DomainError:
    with pytest.raises(DomainError) as caught:
        await call
    assert caught.value.kind is kind, caught.value
    assert caught.value.field == field
    return caught.value


async def token_states(db: asyncpg.Connection, user_id: uuid.UUID) -> list[dict[str, Any]]:
    records = await db.fetch(
        "SELECT id, family_id, used_at IS NOT NULL AS used, revoked_at IS NOT NULL AS revoked,"
        " replaced_by FROM accounts.refresh_tokens WHERE user_id = $1 ORDER BY created_at, id",
        user_id,
    )
    return [dict(record) for record in records]


# Passwords ------------------------------------------------------------------------


async def test_a_password_is_found_by_username_without_regard_to_case(
    db: asyncpg.Connection, unique: str
) -> None:
    user = await users.create_user(db, f"Mixed{unique}")
    password_hash = PASSWORDS.hash("correct horse")
    await repo.set_password(db, user.id, password_hash, actor_id=user.id)

    found = await repo.credentials_for_login(db, f"mIXED{unique}")

    assert found is not None
    assert found.user == user
    assert found.password_hash == password_hash
    assert PASSWORDS.verify(found.password_hash, "correct horse")
    assert await repo.credentials_for_login(db, f"nobody{unique}") is None


async def test_a_user_without_a_password_has_no_login_credentials(
    db: asyncpg.Connection, unique: str
) -> None:
    await make_user(db, unique)
    assert await repo.credentials_for_login(db, f"u{unique}") is None


async def test_setting_a_password_again_replaces_it_and_records_no_event(
    db: asyncpg.Connection, unique: str
) -> None:
    user_id = await make_user(db, unique)
    await repo.set_password(db, user_id, PASSWORDS.hash("first password"), actor_id=None)
    await repo.set_password(db, user_id, PASSWORDS.hash("second password"), actor_id=None)

    found = await repo.credentials_for_login(db, f"u{unique}")
    assert found is not None
    assert PASSWORDS.verify(found.password_hash, "second password")
    assert not PASSWORDS.verify(found.password_hash, "first password")
    types = await db.fetch(
        "SELECT event_type FROM accounts.outbox WHERE aggregate_id = $1", user_id
    )
    assert [row["event_type"] for row in types] == ["user.created"]


async def test_only_argon2id_hashes_are_stored(db: asyncpg.Connection, unique: str) -> None:
    user_id = await make_user(db, unique)
    for bad in ("plain text", "$2b$12$bcryptbcryptbcrypt", "$argon2i$v=19$m=8,t=1,p=1$x$y"):
        await expect_error(repo.set_password(db, user_id, bad, actor_id=None), ErrorKind.VALIDATION,
                           "password")  # fmt: skip
    assert await repo.credentials_for_login(db, f"u{unique}") is None


async def test_a_password_for_an_unknown_user_is_not_found(db: asyncpg.Connection) -> None:
    await expect_error(
        repo.set_password(db, uuid.uuid4(), PASSWORDS.hash("whatever1"), actor_id=None),
        ErrorKind.NOT_FOUND,
        "id",
    )


async def test_upgrading_a_hash_is_skipped_when_the_password_changed_meanwhile(
    db: asyncpg.Connection, unique: str
) -> None:
    user_id = await make_user(db, unique)
    old = PASSWORDS.hash("password one")
    await repo.set_password(db, user_id, old, actor_id=None)
    newer = PASSWORDS.hash("password two")
    await repo.set_password(db, user_id, newer, actor_id=None)

    assert not await repo.upgrade_password_hash(db, user_id, old, PASSWORDS.hash("password one"))
    found = await repo.credentials_for_user(db, user_id)
    assert found is not None
    assert found.password_hash == newer

    rehashed = PASSWORDS.hash("password two")
    assert await repo.upgrade_password_hash(db, user_id, newer, rehashed)
    found = await repo.credentials_for_user(db, user_id)
    assert found is not None
    assert found.password_hash == rehashed


async def test_sign_up_creates_the_user_with_a_password_and_a_session(
    db: asyncpg.Connection, unique: str
) -> None:
    _, token_hash = token()
    user, session = await repo.sign_up(
        db, f"New{unique}", "New One", PASSWORDS.hash("a good password"), token_hash, ttl=TTL
    )

    assert (user.username, user.display_name, user.roles, user.status) == (
        f"New{unique}", "New One", [], "active",
    )  # fmt: skip
    assert session.user_id == user.id
    found = await repo.credentials_for_login(db, f"new{unique}")
    assert found is not None
    assert PASSWORDS.verify(found.password_hash, "a good password")
    stored = await db.fetchval(
        "SELECT token_hash FROM accounts.refresh_tokens WHERE id = $1", session.id
    )
    assert stored == token_hash, "only the hash of the token is stored"
    [event] = await db.fetch(
        "SELECT event_type, payload FROM accounts.outbox WHERE aggregate_id = $1", user.id
    )
    assert event["event_type"] == "user.created"
    payload = (
        event["payload"] if isinstance(event["payload"], dict) else json.loads(event["payload"])
    )
    assert "password" not in json.dumps(payload)


async def test_a_failed_sign_up_leaves_nothing_behind(db: asyncpg.Connection, unique: str) -> None:
    taken = await make_user(db, unique)
    _, token_hash = token()
    await expect_error(
        repo.sign_up(
            db, f"U{unique}", None, PASSWORDS.hash("a good password"), token_hash, ttl=TTL
        ),
        ErrorKind.USERNAME_TAKEN,
        "username",
    )
    assert await repo.credentials_for_user(db, taken) is None
    assert (
        await db.fetchval(
            "SELECT count(*) FROM accounts.refresh_tokens WHERE token_hash = $1", token_hash
        )
        == 0
    )


# Login attempts -------------------------------------------------------------------


async def test_failures_are_counted_per_username_and_throttled_at_the_limit(
    db: asyncpg.Connection, unique: str
) -> None:
    name, client = f"Target{unique}", f"10.0.0.{int(unique, 16) % 250}-{unique}"
    counts = [
        await repo.record_login_attempt(db, name if i % 2 else name.upper(), client, **LIMITS)
        for i in range(3)
    ]
    assert [c.username_failures for c in counts] == [1, 2, 3]

    error = await expect_error(
        repo.record_login_attempt(db, name, f"other-{unique}", **LIMITS), ErrorKind.LIMIT_REACHED
    )
    assert 1 <= error.detail["retry_after"] <= 60
    rows = await db.fetchval(
        "SELECT count(*) FROM accounts.login_attempts WHERE username = lower($1)", name
    )
    assert rows == 3, "a throttled attempt is not recorded (it cannot extend the lock)"


async def test_failures_are_counted_per_client_across_usernames(
    db: asyncpg.Connection, unique: str
) -> None:
    client = f"client-{unique}"
    for i in range(5):
        counts = await repo.record_login_attempt(db, f"name{i}{unique}", client, **LIMITS)
        assert counts.client_failures == i + 1
    await expect_error(
        repo.record_login_attempt(db, f"fresh{unique}", client, **LIMITS), ErrorKind.LIMIT_REACHED
    )
    # Another client may still try that username.
    counts = await repo.record_login_attempt(db, f"fresh{unique}", f"else-{unique}", **LIMITS)
    assert (counts.username_failures, counts.client_failures) == (1, 1)


async def test_clearing_forgets_the_username_but_not_the_clients_other_failures(
    db: asyncpg.Connection, unique: str
) -> None:
    client = f"client-{unique}"
    await repo.record_login_attempt(db, f"victim{unique}", client, **LIMITS)
    await repo.record_login_attempt(db, f"victim{unique}", client, **LIMITS)
    await repo.record_login_attempt(db, f"Own{unique}", client, **LIMITS)

    assert await repo.clear_login_attempts(db, f"own{unique}") == 1

    counts = await repo.record_login_attempt(db, f"own{unique}", client, **LIMITS)
    assert (counts.username_failures, counts.client_failures) == (1, 3)


async def test_old_attempts_age_out_and_are_pruned(db: asyncpg.Connection, unique: str) -> None:
    name = f"old{unique}"
    await db.executemany(
        "INSERT INTO accounts.login_attempts (username, client_ip, attempted_at)"
        " VALUES ($1, $2, now() - interval '2 minutes')",
        [(name, f"c-{unique}")] * 3,
    )
    counts = await repo.record_login_attempt(db, name, f"c-{unique}", **LIMITS)
    assert (counts.username_failures, counts.client_failures) == (1, 1)
    left = await db.fetchval(
        "SELECT count(*) FROM accounts.login_attempts WHERE username = $1", name
    )
    assert left == 1, "rows older than the window are deleted by the same call"


async def test_parallel_attempts_cannot_outrun_the_limit(pool: asyncpg.Pool, unique: str) -> None:
    name = f"race{unique}"

    async def attempt(i: int) -> ErrorKind | None:
        try:
            await repo.record_login_attempt(pool, name, f"c{i}-{unique}", **LIMITS)
        except DomainError as error:
            return error.kind
        return None

    results = await asyncio.gather(*(attempt(i) for i in range(12)))
    assert results.count(None) == LIMITS["max_per_username"]
    assert results.count(ErrorKind.LIMIT_REACHED) == 12 - LIMITS["max_per_username"]


# Refresh tokens -------------------------------------------------------------------


async def test_rotation_marks_the_token_used_and_issues_its_successor_in_the_family(
    db: asyncpg.Connection, unique: str
) -> None:
    user_id = await make_user(db, unique)
    _, first_hash = token()
    first = await repo.issue_refresh_token(db, user_id, first_hash, family_id=None, ttl=TTL)
    _, second_hash = token()

    rotation = await repo.rotate_refresh_token(db, first_hash, second_hash, ttl=TTL)

    assert rotation.outcome == "rotated"
    assert (rotation.user_id, rotation.roles) == (user_id, [])
    assert rotation.token is not None
    assert rotation.token.family_id == first.family_id
    states = await token_states(db, user_id)
    assert [(s["used"], s["revoked"]) for s in states] == [(True, False), (False, False)]
    assert states[0]["replaced_by"] == rotation.token.id


async def test_reusing_a_used_token_revokes_the_whole_family(
    db: asyncpg.Connection, unique: str
) -> None:
    user_id = await make_user(db, unique)
    _, first_hash = token()
    await repo.issue_refresh_token(db, user_id, first_hash, family_id=None, ttl=TTL)
    _, second_hash = token()
    await repo.rotate_refresh_token(db, first_hash, second_hash, ttl=TTL)
    # Another session of the same user, untouched by the reuse.
    _, other_hash = token()
    other = await repo.issue_refresh_token(db, user_id, other_hash, family_id=None, ttl=TTL)

    reused = await repo.rotate_refresh_token(db, first_hash, token()[1], ttl=TTL)
    assert (reused.outcome, reused.token) == ("reused", None)

    # The newest token of that family was revoked with it.
    assert (await repo.rotate_refresh_token(db, second_hash, token()[1], ttl=TTL)).outcome == (
        "reused"
    )
    states = {s["family_id"]: s for s in await token_states(db, user_id) if not s["revoked"]}
    assert list(states) == [other.family_id]
    assert (await repo.rotate_refresh_token(db, other_hash, token()[1], ttl=TTL)).outcome == (
        "rotated"
    )


async def test_unknown_and_expired_tokens_are_refused(db: asyncpg.Connection, unique: str) -> None:
    user_id = await make_user(db, unique)
    assert (await repo.rotate_refresh_token(db, token()[1], token()[1], ttl=TTL)).outcome == (
        "unknown"
    )
    _, old_hash = token()
    await repo.issue_refresh_token(db, user_id, old_hash, family_id=None, ttl=TTL)
    await db.execute(
        "UPDATE accounts.refresh_tokens SET expires_at = now() - interval '1 second'"
        " WHERE token_hash = $1",
        old_hash,
    )
    assert (await repo.rotate_refresh_token(db, old_hash, token()[1], ttl=TTL)).outcome == (
        "expired"
    )


async def test_a_deactivated_user_cannot_refresh_or_get_a_token(
    db: asyncpg.Connection, unique: str
) -> None:
    user_id = await make_user(db, unique)
    _, token_hash = token()
    await repo.issue_refresh_token(db, user_id, token_hash, family_id=None, ttl=TTL)
    await users.deactivate_user(db, user_id)

    rotation = await repo.rotate_refresh_token(db, token_hash, token()[1], ttl=TTL)

    assert rotation.outcome == "inactive"
    assert all(s["revoked"] for s in await token_states(db, user_id))
    await expect_error(
        repo.issue_refresh_token(db, user_id, token()[1], family_id=None, ttl=TTL),
        ErrorKind.UNAUTHENTICATED,
    )


async def test_a_token_hash_must_be_a_sha256_digest(db: asyncpg.Connection, unique: str) -> None:
    user_id = await make_user(db, unique)
    await expect_error(
        repo.issue_refresh_token(db, user_id, b"short", family_id=None, ttl=TTL),
        ErrorKind.VALIDATION,
        "refreshToken",
    )


async def test_logout_revokes_the_family_of_any_of_its_tokens(
    db: asyncpg.Connection, unique: str
) -> None:
    user_id = await make_user(db, unique)
    _, first_hash = token()
    await repo.issue_refresh_token(db, user_id, first_hash, family_id=None, ttl=TTL)
    _, second_hash = token()
    await repo.rotate_refresh_token(db, first_hash, second_hash, ttl=TTL)

    # The used token and its live successor.
    assert await repo.revoke_refresh_token_family(db, first_hash) == 2
    assert await repo.revoke_refresh_token_family(db, second_hash) == 0, "already revoked"
    assert await repo.revoke_refresh_token_family(db, token()[1]) == 0, "unknown"
    assert (await repo.rotate_refresh_token(db, second_hash, token()[1], ttl=TTL)).outcome == (
        "reused"
    )


async def test_change_password_keeps_only_the_new_session(
    db: asyncpg.Connection, unique: str
) -> None:
    user_id = await make_user(db, unique)
    await repo.set_password(db, user_id, PASSWORDS.hash("old password"), actor_id=None)
    old_hashes = [token()[1] for _ in range(3)]
    for old_hash in old_hashes:
        await repo.issue_refresh_token(db, user_id, old_hash, family_id=None, ttl=TTL)

    _, new_hash = token()
    session = await repo.change_password(
        db, user_id, PASSWORDS.hash("new password"), new_hash, ttl=TTL, actor_id=user_id
    )

    found = await repo.credentials_for_user(db, user_id)
    assert found is not None
    assert PASSWORDS.verify(found.password_hash, "new password")
    live = [s for s in await token_states(db, user_id) if not s["revoked"]]
    assert [s["id"] for s in live] == [session.id]
    for old_hash in old_hashes:
        outcome = (await repo.rotate_refresh_token(db, old_hash, token()[1], ttl=TTL)).outcome
        assert outcome == "reused"
    assert (await repo.rotate_refresh_token(db, new_hash, token()[1], ttl=TTL)).outcome == (
        "rotated"
    )


async def test_revoking_all_but_one_family(db: asyncpg.Connection, unique: str) -> None:
    user_id = await make_user(db, unique)
    rows = [
        await repo.issue_refresh_token(db, user_id, token()[1], family_id=None, ttl=TTL)
        for _ in range(3)
    ]
    assert await repo.revoke_user_refresh_tokens(db, user_id, except_family=rows[1].family_id) == 2
    live = [s["family_id"] for s in await token_states(db, user_id) if not s["revoked"]]
    assert live == [rows[1].family_id]
    assert await repo.revoke_user_refresh_tokens(db, user_id, except_family=None) == 1


async def test_login_succeeded_clears_failures_and_opens_a_session(
    db: asyncpg.Connection, unique: str
) -> None:
    user_id = await make_user(db, unique)
    await repo.record_login_attempt(db, f"U{unique}", f"c-{unique}", **LIMITS)
    await repo.record_login_attempt(db, f"u{unique}", f"c-{unique}", **LIMITS)
    _, token_hash = token()

    row = await repo.login_succeeded(db, user_id, f"u{unique}", token_hash, ttl=TTL)

    assert row.user_id == user_id
    counts = await repo.record_login_attempt(db, f"u{unique}", f"d-{unique}", **LIMITS)
    assert counts.username_failures == 1
