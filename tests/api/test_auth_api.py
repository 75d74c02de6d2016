"""Sign-up, login, refresh, logout and password change over GraphQL, and the access
tokens the endpoint refuses (PRODUCT §6)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import statistics
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import jwt
import orjson
import pytest

from accounts_gql.app import create_app
from accounts_gql.core.errors import DomainError, ErrorKind
from accounts_gql.core.passwords import Passwords
from accounts_gql.core.security import issue_access_token, viewer_from_authorization
from accounts_gql.core.settings import Settings
from accounts_gql.services.auth import create_admin, refresh_token_hash
from tests.api.conftest import GraphQL

# The address httpx's ASGI transport reports for the test client.
CLIENT_IP = "127.0.0.1"
PASSWORD = "correct horse battery"

SESSION_FIELDS = """
    __typename
    ... on AuthPayload { accessToken refreshToken expiresIn tokenType user { id username } }
    ... on Error { message }
"""
FIELD = "... on ValidationError { field }"
RETRY = "... on TooManyAttempts { retryAfterSeconds }"
SIGN_UP = (
    f"mutation($input: SignUpInput!) {{ signUp(input: $input) {{ {SESSION_FIELDS} {FIELD} }} }}"
)
LOGIN = f"mutation($input: LoginInput!) {{ login(input: $input) {{ {SESSION_FIELDS} {RETRY} }} }}"
REASON = "... on SessionRevoked { reason }"
REFRESH = (
    "mutation($input: RefreshTokenInput!) "
    f"{{ refreshToken(input: $input) {{ {SESSION_FIELDS} {REASON} }} }}"
)
CHANGE_PASSWORD = (
    "mutation($input: ChangePasswordInput!) "
    f"{{ changePassword(input: $input) {{ {SESSION_FIELDS} {FIELD} {RETRY} }} }}"
)
LOGOUT = """mutation($input: LogoutInput!) { logout(input: $input) {
    __typename ... on LogoutSuccess { revoked } ... on ValidationError { message field } } }"""
ME = "{ me { id username } }"


async def post(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    token: str | None = None,
) -> httpx.Response:
    headers = {"accept": "application/graphql-response+json"}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    return await client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )


async def me(client: httpx.AsyncClient, token: str) -> dict[str, Any] | None:
    response = await post(client, ME, token=token)
    assert response.status_code == 200, response.text
    result: dict[str, Any] | None = response.json()["data"]["me"]
    return result


async def sign_up(gql: GraphQL, username: str, password: str = PASSWORD) -> dict[str, Any]:
    body = await gql(SIGN_UP, {"input": {"username": username, "password": password}})
    result: dict[str, Any] = body["data"]["signUp"]
    return result


async def login(gql: GraphQL, username: str, password: str = PASSWORD) -> dict[str, Any]:
    body = await gql(LOGIN, {"input": {"username": username, "password": password}})
    result: dict[str, Any] = body["data"]["login"]
    return result


async def refresh(gql: GraphQL, token: str) -> dict[str, Any]:
    body = await gql(REFRESH, {"input": {"refreshToken": token}})
    result: dict[str, Any] = body["data"]["refreshToken"]
    return result


async def age_rotations(pool: asyncpg.Pool, settings: Settings, refresh_token: str) -> None:
    """Moves the rotation of `refresh_token` back past the grace window, as if the
    token were presented again a while later."""
    await pool.execute(
        "UPDATE accounts.refresh_tokens SET used_at = used_at - make_interval(secs => $2)"
        " WHERE token_hash = $1",
        refresh_token_hash(refresh_token),
        settings.refresh_grace_seconds + 1,
    )


@pytest.fixture
async def no_recent_failures(pool: asyncpg.Pool) -> AsyncIterator[None]:
    """Forgets the failed logins of the test client's address before and after a test
    that fails logins on purpose, so that tests do not throttle each other."""
    forget = "DELETE FROM accounts.login_attempts WHERE client_ip = $1"
    await pool.execute(forget, CLIENT_IP)
    yield
    await pool.execute(forget, CLIENT_IP)


# The whole session lifecycle --------------------------------------------------


async def test_sign_up_login_refresh_reuse_and_logout(
    gql: GraphQL, client: httpx.AsyncClient, pool: asyncpg.Pool, settings: Settings, unique: str
) -> None:
    signed_up = await sign_up(gql, f"Life{unique}")
    assert signed_up["__typename"] == "AuthPayload", signed_up
    assert signed_up["user"]["username"] == f"Life{unique}"
    assert (signed_up["expiresIn"], signed_up["tokenType"]) == (settings.access_token_ttl, "Bearer")
    assert (await me(client, signed_up["accessToken"])) == signed_up["user"]

    # Login without regard to the username's case.
    session = await login(gql, f"life{unique}")
    assert session["__typename"] == "AuthPayload", session
    assert (await me(client, session["accessToken"])) == signed_up["user"]

    rotated = await refresh(gql, session["refreshToken"])
    assert rotated["__typename"] == "AuthPayload", rotated
    assert rotated["refreshToken"] != session["refreshToken"]
    assert rotated["user"] == signed_up["user"]
    assert (await me(client, rotated["accessToken"])) == signed_up["user"]

    # The old refresh token again, after the grace window: refused, and the
    # session is revoked with it; its other tokens say why.
    await age_rotations(pool, settings, session["refreshToken"])
    reused = await refresh(gql, session["refreshToken"])
    assert (reused["__typename"], reused["reason"]) == ("SessionRevoked", "REUSE_DETECTED")
    assert "already used" in reused["message"]
    after_reuse = await refresh(gql, rotated["refreshToken"])
    assert (after_reuse["__typename"], after_reuse["reason"]) == (
        "SessionRevoked",
        "REUSE_DETECTED",
    )
    assert "used twice" in after_reuse["message"]

    # The sign-up's own session was not touched by that reuse.
    still = await refresh(gql, signed_up["refreshToken"])
    assert still["__typename"] == "AuthPayload", still

    logged_out = await gql(LOGOUT, {"input": {"refreshToken": still["refreshToken"]}})
    assert logged_out["data"]["logout"] == {"__typename": "LogoutSuccess", "revoked": True}
    ended = await refresh(gql, still["refreshToken"])
    assert (ended["__typename"], ended["reason"]) == ("SessionRevoked", "LOGGED_OUT")
    assert ended["message"] == "This session was logged out; sign in again."
    assert "already used" not in ended["message"]
    again = await gql(LOGOUT, {"input": {"refreshToken": still["refreshToken"]}})
    assert again["data"]["logout"] == {"__typename": "LogoutSuccess", "revoked": False}


async def test_sign_up_records_user_created(gql: GraphQL, pool: asyncpg.Pool, unique: str) -> None:
    signed_up = await sign_up(gql, f"evt{unique}")
    user_id = await pool.fetchval(
        "SELECT id FROM accounts.users WHERE username = $1", f"evt{unique}"
    )
    rows = await pool.fetch(
        "SELECT event_type, payload::text AS payload FROM accounts.outbox WHERE aggregate_id = $1",
        user_id,
    )
    assert [row["event_type"] for row in rows] == ["user.created"]
    assert PASSWORD not in rows[0]["payload"]
    assert "argon2" not in rows[0]["payload"]
    assert signed_up["__typename"] == "AuthPayload"


async def test_sign_up_errors(gql: GraphQL, pool: asyncpg.Pool, unique: str) -> None:
    short = await sign_up(gql, f"short{unique}", "1234567")
    assert short["__typename"] == "ValidationError"
    assert short["field"] == ["input", "password"]
    same = await sign_up(gql, f"same{unique}", f"SAME{unique}")
    assert same["__typename"] == "ValidationError"
    bad_name = await sign_up(gql, f"no spaces {unique}")
    assert (bad_name["__typename"], bad_name["field"]) == ("ValidationError", ["input", "username"])
    names = [f"short{unique}", f"same{unique}"]
    assert (
        await pool.fetchval("SELECT count(*) FROM accounts.users WHERE username = ANY($1)", names)
        == 0
    )

    assert (await sign_up(gql, f"taken{unique}"))["__typename"] == "AuthPayload"
    taken = await sign_up(gql, f"TAKEN{unique}")
    assert taken["__typename"] == "UsernameTaken"


async def test_sign_up_is_forbidden_when_switched_off(
    settings: Settings, database_url: str, unique: str
) -> None:
    closed = settings.model_copy(update={"allow_signup": False})
    app = create_app(closed, database_url)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http,
    ):
        response = await post(
            http, SIGN_UP, {"input": {"username": f"closed{unique}", "password": PASSWORD}}
        )
        options = await post(http, "{ authSettings { signUpAllowed passwordMinLength } }")
    result = response.json()["data"]["signUp"]
    assert result["__typename"] == "Forbidden"
    assert options.json()["data"]["authSettings"] == {
        "signUpAllowed": False,
        "passwordMinLength": settings.password_min_length,
    }


# Login failures -------------------------------------------------------------------


async def test_unknown_username_and_wrong_password_look_the_same(
    gql: GraphQL, pool: asyncpg.Pool, unique: str, no_recent_failures: None
) -> None:
    assert (await sign_up(gql, f"known{unique}"))["__typename"] == "AuthPayload"
    forget = "DELETE FROM accounts.login_attempts WHERE client_ip = $1"
    times: dict[str, list[float]] = {"unknown username": [], "wrong password": []}
    answers: dict[str, set[tuple[str, str]]] = {key: set() for key in times}
    for i in range(50):
        for case, username in (
            ("unknown username", f"nobody{i}{unique}"),
            ("wrong password", f"known{unique}"),
        ):
            await pool.execute(forget, CLIENT_IP)  # stay below the throttle
            started = time.perf_counter()
            result = await login(gql, username, "not the password")
            times[case].append(time.perf_counter() - started)
            answers[case].add((result["__typename"], result["message"]))

    assert answers["unknown username"] == answers["wrong password"]
    assert answers["wrong password"] == {("InvalidCredentials", "Wrong username or password.")}
    for case, samples in times.items():
        print(f"login, {case}: median {statistics.median(samples) * 1000:.1f} ms over 50")


async def test_the_next_login_after_too_many_failures_is_refused_even_when_right(
    gql: GraphQL, settings: Settings, unique: str, no_recent_failures: None
) -> None:
    assert (await sign_up(gql, f"guess{unique}"))["__typename"] == "AuthPayload"
    limit = settings.login_max_failures_per_pair
    for _ in range(limit):
        assert (await login(gql, f"guess{unique}", "wrong guess"))["__typename"] == (
            "InvalidCredentials"
        )

    refused = await login(gql, f"GUESS{unique}")

    assert refused["__typename"] == "TooManyAttempts"
    assert 0 < refused["retryAfterSeconds"] <= settings.login_username_window
    # Unknown usernames are throttled alike, so throttling reveals nothing either.
    for _ in range(limit):
        await login(gql, f"ghost{unique}", "wrong guess")
    assert (await login(gql, f"ghost{unique}", "x"))["__typename"] == "TooManyAttempts"
    # Another account from the same address is still open.
    assert (await sign_up(gql, f"other{unique}"))["__typename"] == "AuthPayload"
    assert (await login(gql, f"other{unique}"))["__typename"] == "AuthPayload"


async def test_logins_are_throttled_per_client_address(
    gql: GraphQL, pool: asyncpg.Pool, settings: Settings, unique: str, no_recent_failures: None
) -> None:
    assert (await sign_up(gql, f"addr{unique}"))["__typename"] == "AuthPayload"
    # Earlier failures from this address, each at another username.
    await pool.executemany(
        "INSERT INTO accounts.login_attempts (username, client_ip) VALUES ($1, $2)",
        [(f"spray{i}{unique}", CLIENT_IP) for i in range(settings.login_max_failures_per_client)],
    )
    refused = await login(gql, f"addr{unique}")
    assert refused["__typename"] == "TooManyAttempts"


async def test_a_successful_login_forgets_earlier_failures(
    gql: GraphQL, settings: Settings, unique: str, no_recent_failures: None
) -> None:
    assert (await sign_up(gql, f"forgive{unique}"))["__typename"] == "AuthPayload"
    for _ in range(settings.login_max_failures_per_pair - 1):
        await login(gql, f"forgive{unique}", "typo typo")
    assert (await login(gql, f"forgive{unique}"))["__typename"] == "AuthPayload"
    for _ in range(settings.login_max_failures_per_pair - 1):
        await login(gql, f"forgive{unique}", "typo typo")
    assert (await login(gql, f"forgive{unique}"))["__typename"] == "AuthPayload"


async def test_a_deactivated_user_can_neither_log_in_nor_refresh(
    gql: GraphQL, unique: str, make_user: Any, no_recent_failures: None
) -> None:
    signed_up = await sign_up(gql, f"gone{unique}")
    admin = await make_user(roles=("admin",))
    deactivated = await gql(
        "mutation($id: ID!) { deactivateUser(input: {id: $id}) { __typename } }",
        {"id": signed_up["user"]["id"]},
        as_user=admin,
        roles=("admin",),
    )
    assert deactivated["data"]["deactivateUser"]["__typename"] == "UserPayloadSuccess"

    refused = await login(gql, f"gone{unique}")
    assert (refused["__typename"], refused["message"]) == (
        "Forbidden",
        "This account is deactivated.",
    )
    # Without the password nothing is said about the account.
    wrong = await login(gql, f"gone{unique}", "not it at all")
    assert wrong["__typename"] == "InvalidCredentials"
    ended = await refresh(gql, signed_up["refreshToken"])
    assert (ended["__typename"], ended["reason"]) == ("SessionRevoked", "DEACTIVATED")


async def test_login_upgrades_a_hash_made_with_old_parameters(
    gql: GraphQL, pool: asyncpg.Pool, settings: Settings, unique: str, no_recent_failures: None
) -> None:
    assert (await sign_up(gql, f"old{unique}"))["__typename"] == "AuthPayload"
    weak = Passwords(time_cost=1, memory_cost=64, parallelism=1).hash(PASSWORD)
    await pool.execute(
        "UPDATE accounts.credentials c SET password_hash = $2 FROM accounts.users u"
        " WHERE u.id = c.user_id AND u.username = $1",
        f"old{unique}",
        weak,
    )

    assert (await login(gql, f"old{unique}"))["__typename"] == "AuthPayload"

    stored: str = await pool.fetchval(
        "SELECT password_hash FROM accounts.credentials_for_login($1)", f"old{unique}"
    )
    assert stored.startswith("$argon2id$")
    assert f"m={settings.argon2_memory_cost},t={settings.argon2_time_cost}," in stored
    assert (await login(gql, f"old{unique}"))["__typename"] == "AuthPayload"


# Password change ------------------------------------------------------------------


async def test_change_password_ends_every_other_session(
    gql: GraphQL, client: httpx.AsyncClient, unique: str, no_recent_failures: None
) -> None:
    first = await sign_up(gql, f"chg{unique}")
    second = await login(gql, f"chg{unique}")
    new_password = "a brand new password"

    response = await post(
        client,
        CHANGE_PASSWORD,
        {"input": {"currentPassword": PASSWORD, "newPassword": new_password}},
        token=second["accessToken"],
    )
    changed = response.json()["data"]["changePassword"]

    assert changed["__typename"] == "AuthPayload", changed
    assert changed["user"] == first["user"]
    for old in (first, second):
        ended = await refresh(gql, old["refreshToken"])
        assert (ended["__typename"], ended["reason"]) == ("SessionRevoked", "PASSWORD_CHANGED")
    assert (await refresh(gql, changed["refreshToken"]))["__typename"] == "AuthPayload"
    assert (await login(gql, f"chg{unique}"))["__typename"] == "InvalidCredentials"
    assert (await login(gql, f"chg{unique}", new_password))["__typename"] == "AuthPayload"


async def test_change_password_errors(
    gql: GraphQL, client: httpx.AsyncClient, unique: str, no_recent_failures: None
) -> None:
    session = await sign_up(gql, f"chgerr{unique}")

    async def change(current: str, new: str, token: str | None) -> dict[str, Any]:
        response = await post(
            client,
            CHANGE_PASSWORD,
            {"input": {"currentPassword": current, "newPassword": new}},
            token=token,
        )
        result: dict[str, Any] = response.json()["data"]["changePassword"]
        return result

    wrong = await change("not the password", "another password", session["accessToken"])
    assert wrong["__typename"] == "InvalidCredentials"
    short = await change(PASSWORD, "short", session["accessToken"])
    assert (short["__typename"], short["field"]) == ("ValidationError", ["input", "newPassword"])
    same = await change(PASSWORD, PASSWORD, session["accessToken"])
    assert (same["__typename"], same["field"]) == ("ValidationError", ["input", "newPassword"])
    anonymous = await change(PASSWORD, "another password", None)
    assert anonymous["__typename"] == "Forbidden"
    # Nothing changed: the old password and session still work.
    assert (await refresh(gql, session["refreshToken"]))["__typename"] == "AuthPayload"
    assert (await login(gql, f"chgerr{unique}"))["__typename"] == "AuthPayload"


async def test_logout_needs_a_token(gql: GraphQL) -> None:
    body = await gql(LOGOUT, {"input": {"refreshToken": ""}})
    assert body["data"]["logout"]["__typename"] == "ValidationError"
    assert body["data"]["logout"]["field"] == ["input", "refreshToken"]


async def test_create_admin(
    gql: GraphQL, settings: Settings, database_url: str, unique: str, no_recent_failures: None
) -> None:
    admin = await create_admin(settings, database_url, f"root{unique}", PASSWORD)
    assert admin.roles == ["admin"]
    session = await login(gql, f"root{unique}")
    assert session["__typename"] == "AuthPayload"
    claims = jwt.decode(session["accessToken"], options={"verify_signature": False})
    assert claims["roles"] == ["admin"]
    with pytest.raises(DomainError) as caught:
        await create_admin(settings, database_url, f"ROOT{unique}", PASSWORD)
    assert caught.value.kind is ErrorKind.USERNAME_TAKEN


# Access tokens the endpoint refuses ---------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims_for(settings: Settings, user_id: uuid.UUID, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "sub": str(user_id),
        "iat": now,
        "exp": now + 300,
        "jti": uuid.uuid4().hex,
        "roles": [],
    }
    claims.update(changes)
    return claims


def hand_made(header: dict[str, Any], claims: dict[str, Any], secret: str | None) -> str:
    """A token assembled by hand: any header, HMAC-SHA256 signed with `secret` (or unsigned)."""
    signing_input = f"{_b64(orjson.dumps(header))}.{_b64(orjson.dumps(claims))}"
    if secret is None:
        return signing_input + "."
    signature = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


async def status_of(client: httpx.AsyncClient, token: str) -> int:
    return (await post(client, ME, token=token)).status_code


async def test_a_token_minted_by_the_rules_is_accepted(
    client: httpx.AsyncClient, settings: Settings, make_user: Any
) -> None:
    """The control for the refusals below: the same minting, nothing wrong."""
    user_id = await make_user()
    secret = settings.jwt_secret
    assert secret is not None
    token = jwt.encode(
        claims_for(settings, user_id), secret, algorithm="HS256", headers={"kid": "default"}
    )
    assert (await me(client, token) or {}).get("id") is not None
    manual = hand_made(
        {"alg": "HS256", "typ": "JWT", "kid": "default"}, claims_for(settings, user_id), secret
    )
    assert await status_of(client, manual) == 200


@pytest.mark.parametrize(
    "case",
    [
        "alg none",
        "alg HS512",
        "alg RS256 signed with the secret",
        "wrong signature",
        "wrong aud",
        "wrong iss",
        "expired",
        "unknown kid",
        "no kid",
        "no jti",
    ],
)
async def test_bad_access_tokens_are_refused(
    client: httpx.AsyncClient, settings: Settings, make_user: Any, case: str
) -> None:
    user_id = await make_user()
    secret = settings.jwt_secret
    assert secret is not None
    good = claims_for(settings, user_id)
    header = {"alg": "HS256", "typ": "JWT", "kid": "default"}

    def hs(
        claims: dict[str, Any], key: str = secret, alg: str = "HS256", kid: str | None = "default"
    ) -> str:
        return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid} if kid else None)

    now = int(time.time())
    token = {
        "alg none": lambda: hand_made({**header, "alg": "none"}, good, None),
        "alg HS512": lambda: hs(good, secret * 2, "HS512"),
        "alg RS256 signed with the secret": lambda: hand_made(
            {**header, "alg": "RS256"}, good, secret
        ),
        "wrong signature": lambda: hs(good, secret + "x"),
        "wrong aud": lambda: hs(claims_for(settings, user_id, aud="elsewhere")),
        "wrong iss": lambda: hs(claims_for(settings, user_id, iss="someone-else")),
        "expired": lambda: hs(claims_for(settings, user_id, iat=now - 600, exp=now - 60)),
        "unknown kid": lambda: hs(good, kid="retired"),
        "no kid": lambda: hs(good, kid=None),
        "no jti": lambda: hs({k: v for k, v in good.items() if k != "jti"}),
    }[case]()

    response = await post(client, ME, token=token)

    assert response.status_code == 401, response.text
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert "data" not in response.json()


def test_signing_keys_rotate_by_kid() -> None:
    old_secret, new_secret = "o" * 40, "n" * 40
    before = Settings(jwt_secret=old_secret)
    during = Settings(jwt_keys=f"new:{new_secret},default:{old_secret}")
    after = Settings(jwt_keys=f"new:{new_secret}")
    user_id = uuid.uuid4()

    old_token = issue_access_token(before, user_id, ["admin"])
    new_token = issue_access_token(during, user_id, [])

    assert jwt.get_unverified_header(old_token)["kid"] == "default"
    assert jwt.get_unverified_header(new_token)["kid"] == "new"
    assert viewer_from_authorization(during, f"Bearer {old_token}").user_id == user_id
    assert viewer_from_authorization(during, f"Bearer {new_token}").user_id == user_id
    assert viewer_from_authorization(after, f"Bearer {new_token}").user_id == user_id
    with pytest.raises(DomainError) as caught:
        viewer_from_authorization(after, f"Bearer {old_token}")
    assert caught.value.kind is ErrorKind.UNAUTHENTICATED


def test_malformed_key_lists_and_weak_production_keys_are_refused() -> None:
    for spec in ("no-colon", "a:1,a:2", ":secret"):
        with pytest.raises(RuntimeError):
            issue_access_token(Settings(jwt_keys=spec), uuid.uuid4(), [])
    weak = Settings(app_env="production", jwt_keys=f"a:{'s' * 40},b:short")
    with pytest.raises(RuntimeError):
        issue_access_token(weak, uuid.uuid4(), [])
