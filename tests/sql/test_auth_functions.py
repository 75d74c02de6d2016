"""Passwords, login throttling, sessions and refresh tokens through their stored
functions (sql/0007_auth.sql, sql/0012_sessions_and_throttling.sql)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
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
THROTTLE = repo.Throttle(
    scope="login",
    max_per_pair=3,
    max_per_client=5,
    slowdown_after=4,
    slowdown_max=60,
    key_window=60,
    client_window=60,
    message="Too many.",
)
CALLER = repo.Caller(client_address="192.0.2.1", user_agent="tests")


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
        db,
        f"New{unique}",
        "New One",
        PASSWORDS.hash("a good password"),
        token_hash,
        ttl=TTL,
        caller=CALLER,
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
            db,
            f"U{unique}",
            None,
            PASSWORDS.hash("a good password"),
            token_hash,
            ttl=TTL,
            caller=CALLER,
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


# Throttled attempts ---------------------------------------------------------------


async def attempt(
    db: asyncpg.Connection | asyncpg.Pool, key: str, client: str
) -> repo.AttemptCounts:
    return await repo.throttle_attempt(db, THROTTLE, key, client)


async def test_failures_per_username_and_address_are_throttled_at_the_limit(
    db: asyncpg.Connection, unique: str
) -> None:
    name, client = f"Target{unique}", f"c-{unique}"
    counts = [await attempt(db, name if i % 2 else name.upper(), client) for i in range(3)]
    assert [c.pair_failures for c in counts] == [1, 2, 3]

    error = await expect_error(attempt(db, name, client), ErrorKind.THROTTLED)
    assert 1 <= error.detail["retry_after"] <= 60
    rows = await db.fetchval(
        "SELECT count(*) FROM accounts.login_attempts WHERE username = lower($1)", name
    )
    assert rows == 3, "a throttled attempt is not recorded (it cannot extend the wait)"
    # Another address that has not failed on the username is not refused.
    assert (await attempt(db, name, f"clean-{unique}")).key_failures == 4


async def test_a_username_under_attack_slows_only_addresses_that_failed_on_it(
    db: asyncpg.Connection, unique: str
) -> None:
    name = f"slow{unique}"
    for i in range(THROTTLE.slowdown_after):
        await attempt(db, name, f"bot{i}-{unique}")
    # At the threshold: an address that failed waits 2^0 = 1 s after its failure.
    error = await expect_error(attempt(db, name, f"bot0-{unique}"), ErrorKind.THROTTLED)
    assert error.detail["retry_after"] == 1
    counts = await attempt(db, name, f"owner-{unique}")
    assert (counts.pair_failures, counts.key_failures) == (1, THROTTLE.slowdown_after + 1)
    # The wait doubles with every failure, up to slowdown_max.
    await db.execute(
        "UPDATE accounts.login_attempts SET attempted_at = attempted_at - interval '1 second'"
        " WHERE username = $1",
        name,
    )
    error = await expect_error(attempt(db, name, f"bot1-{unique}"), ErrorKind.THROTTLED)
    assert error.detail["retry_after"] == 1  # 2^1 s after a failure 1 s ago


async def test_failures_are_counted_per_client_across_usernames(
    db: asyncpg.Connection, unique: str
) -> None:
    client = f"client-{unique}"
    for i in range(5):
        counts = await attempt(db, f"name{i}{unique}", client)
        assert counts.client_failures == i + 1
    await expect_error(attempt(db, f"fresh{unique}", client), ErrorKind.THROTTLED)
    # Another client may still try that username.
    counts = await attempt(db, f"fresh{unique}", f"else-{unique}")
    assert (counts.key_failures, counts.client_failures) == (1, 1)


async def test_scopes_are_counted_apart(db: asyncpg.Connection, unique: str) -> None:
    client = f"scoped-{unique}"
    for _ in range(3):
        await attempt(db, f"x{unique}", client)
    await expect_error(attempt(db, f"x{unique}", client), ErrorKind.THROTTLED)
    other = repo.Throttle(
        scope="reset",
        max_per_pair=THROTTLE.max_per_pair,
        max_per_client=THROTTLE.max_per_client,
        slowdown_after=THROTTLE.slowdown_after,
        slowdown_max=THROTTLE.slowdown_max,
        key_window=THROTTLE.key_window,
        client_window=THROTTLE.client_window,
        message="Too many requests.",
    )
    counts = await repo.throttle_attempt(db, other, f"x{unique}", client)
    assert counts.pair_failures == 1


async def test_clearing_forgets_the_pair_only(db: asyncpg.Connection, unique: str) -> None:
    client = f"client-{unique}"
    await attempt(db, f"victim{unique}", client)
    await attempt(db, f"Own{unique}", client)
    await attempt(db, f"own{unique}", f"attacker-{unique}")

    assert await repo.clear_attempts(db, "login", f"OWN{unique}", client) == 1

    counts = await attempt(db, f"own{unique}", client)
    assert (counts.pair_failures, counts.key_failures, counts.client_failures) == (1, 2, 2)


async def test_old_attempts_age_out_and_are_pruned(db: asyncpg.Connection, unique: str) -> None:
    name = f"old{unique}"
    await db.executemany(
        "INSERT INTO accounts.login_attempts (username, client_ip, attempted_at)"
        " VALUES ($1, $2, now() - interval '2 minutes')",
        [(name, f"c-{unique}")] * 3,
    )
    counts = await attempt(db, name, f"c-{unique}")
    assert (counts.pair_failures, counts.client_failures) == (1, 1)
    left = await db.fetchval(
        "SELECT count(*) FROM accounts.login_attempts WHERE username = $1", name
    )
    assert left == 1, "rows older than the window are deleted by the same call"


async def test_parallel_attempts_cannot_outrun_the_limit(pool: asyncpg.Pool, unique: str) -> None:
    name = f"race{unique}"

    async def one() -> ErrorKind | None:
        try:
            await attempt(pool, name, f"c-{unique}")
        except DomainError as error:
            return error.kind
        return None

    results = await asyncio.gather(*(one() for _ in range(12)))
    assert results.count(None) == THROTTLE.max_per_pair
    assert results.count(ErrorKind.THROTTLED) == 12 - THROTTLE.max_per_pair


# Sessions and refresh tokens --------------------------------------------------------


async def rotate(
    db: asyncpg.Connection, old_hash: bytes, new_hash: bytes | None = None, grace: int = 0
) -> repo.Rotation:
    return await repo.refresh_session(
        db,
        old_hash,
        new_hash or token()[1],
        os.urandom(32),
        ttl=TTL,
        grace=grace,
        client_address="192.0.2.2",
    )


async def session_end(db: asyncpg.Connection, family_id: uuid.UUID) -> str | None:
    reason: str | None = await db.fetchval(
        "SELECT end_reason FROM accounts.sessions WHERE id = $1", family_id
    )
    return reason


async def test_rotation_marks_the_token_used_and_issues_its_successor_in_the_session(
    db: asyncpg.Connection, unique: str
) -> None:
    user_id = await make_user(db, unique)
    _, first_hash = token()
    first = await repo.issue_refresh_token(db, user_id, first_hash, family_id=None, ttl=TTL)
    _, second_hash = token()

    rotation = await rotate(db, first_hash, second_hash)

    assert rotation.outcome == "rotated"
    assert (rotation.user_id, rotation.roles, rotation.session_id) == (
        user_id, [], first.family_id,
    )  # fmt: skip
    states = await token_states(db, user_id)
    assert [(s["used"], s["revoked"]) for s in states] == [(True, False), (False, False)]
    assert {s["family_id"] for s in states} == {first.family_id}


async def test_reusing_a_used_token_after_the_grace_ends_the_session(
    db: asyncpg.Connection, unique: str
) -> None:
    user_id = await make_user(db, unique)
    _, first_hash = token()
    first = await repo.issue_refresh_token(db, user_id, first_hash, family_id=None, ttl=TTL)
    _, second_hash = token()
    await rotate(db, first_hash, second_hash)
    # Another session of the same user, untouched by the reuse.
    _, other_hash = token()
    other = await repo.issue_refresh_token(db, user_id, other_hash, family_id=None, ttl=TTL)

    reused = await rotate(db, first_hash)
    assert (reused.outcome, reused.end_reason) == ("reused", "reuse_detected")

    ended = await rotate(db, second_hash)
    assert (ended.outcome, ended.end_reason) == ("ended", "reuse_detected")
    assert await session_end(db, first.family_id) == "reuse_detected"
    assert await session_end(db, other.family_id) is None
    assert (await rotate(db, other_hash)).outcome == "rotated"


async def test_within_the_grace_a_used_token_answers_its_sealed_successor(
    db: asyncpg.Connection, unique: str
) -> None:
    user_id = await make_user(db, unique)
    _, first_hash = token()
    await repo.issue_refresh_token(db, user_id, first_hash, family_id=None, ttl=TTL)
    seal = os.urandom(32)
    await repo.refresh_session(
        db, first_hash, token()[1], seal, ttl=TTL, grace=10, client_address=None
    )

    again = await repo.refresh_session(
        db, first_hash, token()[1], os.urandom(32), ttl=TTL, grace=10, client_address=None
    )

    assert (again.outcome, again.successor_seal, again.user_id) == ("grace", seal, user_id)
    assert len(await token_states(db, user_id)) == 2, "no third token was issued"


async def test_unknown_and_expired_tokens_are_refused(db: asyncpg.Connection, unique: str) -> None:
    user_id = await make_user(db, unique)
    assert (await rotate(db, token()[1])).outcome == "unknown"
    _, old_hash = token()
    await repo.issue_refresh_token(db, user_id, old_hash, family_id=None, ttl=TTL)
    await db.execute(
        "UPDATE accounts.refresh_tokens SET expires_at = now() - interval '1 second'"
        " WHERE token_hash = $1",
        old_hash,
    )
    assert (await rotate(db, old_hash)).outcome == "expired"


async def test_a_deactivated_user_cannot_refresh_or_get_a_token(
    db: asyncpg.Connection, unique: str
) -> None:
    user_id = await make_user(db, unique)
    _, token_hash = token()
    issued = await repo.issue_refresh_token(db, user_id, token_hash, family_id=None, ttl=TTL)
    await users.deactivate_user(db, user_id)

    rotation = await rotate(db, token_hash)

    assert (rotation.outcome, rotation.end_reason) == ("inactive", "deactivated")
    assert all(s["revoked"] for s in await token_states(db, user_id))
    assert await session_end(db, issued.family_id) == "deactivated"
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


async def test_logout_ends_the_session_of_any_of_its_tokens(
    db: asyncpg.Connection, unique: str
) -> None:
    user_id = await make_user(db, unique)
    _, first_hash = token()
    issued = await repo.issue_refresh_token(db, user_id, first_hash, family_id=None, ttl=TTL)
    _, second_hash = token()
    await rotate(db, first_hash, second_hash)

    assert await repo.logout(db, first_hash) is True
    assert await repo.logout(db, second_hash) is False, "already ended"
    assert await repo.logout(db, token()[1]) is False, "unknown"
    ended = await rotate(db, second_hash)
    assert (ended.outcome, ended.end_reason) == ("ended", "logged_out")
    events = await db.fetch(
        "SELECT event_type, payload->'session'->>'end_reason' AS reason FROM accounts.outbox"
        " WHERE aggregate_id = $1 AND event_type = 'session.revoked'",
        user_id,
    )
    assert [(e["event_type"], e["reason"]) for e in events] == [("session.revoked", "logged_out")]
    assert issued.family_id == ended.session_id


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
        db,
        user_id,
        PASSWORDS.hash("new password"),
        new_hash,
        ttl=TTL,
        caller=CALLER,
        actor_id=user_id,
    )

    found = await repo.credentials_for_user(db, user_id)
    assert found is not None
    assert PASSWORDS.verify(found.password_hash, "new password")
    live = [s for s in await token_states(db, user_id) if not s["revoked"]]
    assert [s["id"] for s in live] == [session.id]
    for old_hash in old_hashes:
        ended = await rotate(db, old_hash)
        assert (ended.outcome, ended.end_reason) == ("ended", "password_changed")
    assert (await rotate(db, new_hash)).outcome == "rotated"


async def test_login_succeeded_clears_the_pair_and_opens_a_described_session(
    db: asyncpg.Connection, unique: str
) -> None:
    user_id = await make_user(db, unique)
    await attempt(db, f"U{unique}", "192.0.2.1")
    await attempt(db, f"u{unique}", "192.0.2.9")
    _, token_hash = token()

    row = await repo.login_succeeded(db, user_id, f"u{unique}", token_hash, ttl=TTL, caller=CALLER)

    assert row.user_id == user_id
    counts = await attempt(db, f"u{unique}", "192.0.2.1")
    assert (counts.pair_failures, counts.key_failures) == (1, 2)
    described = await db.fetchrow(
        "SELECT user_agent, client_address FROM accounts.sessions WHERE id = $1", row.family_id
    )
    assert tuple(described) == ("tests", "192.0.2.1")
