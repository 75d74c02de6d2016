"""Contact verification and password recovery by code through the whole service:
the API over HTTP, PostgreSQL, the relay `serve` runs, and RabbitMQ (issue 17, 1-2).

Each test binds queues of its own to the test's exchange, one per routing key
it reads, and receives the code as the notification service would."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aio_pika
import asyncpg
import httpx
import pytest
from aio_pika.abc import AbstractRobustConnection
from loguru import logger

from accounts_gql.app import create_app
from accounts_gql.core.security import issue_access_token
from accounts_gql.core.settings import Settings
from accounts_gql.events.commands import without_codes
from tests.events.conftest import Collector, relay_settings, wait_until

PASSWORD = "correct horse battery"
NEW_PASSWORD = "a whole new password"
ADDRESS = "192.0.2.60"
SIGN_UP = """mutation($input: SignUpInput!) { signUp(input: $input) { __typename
    ... on AuthPayload { accessToken refreshToken user { id } } } }"""
LOGIN = """mutation($input: LoginInput!) { login(input: $input) { __typename
    ... on AuthPayload { refreshToken } } }"""
REFRESH = """mutation($t: String!) { refreshToken(input: {refreshToken: $t}) { __typename
    ... on SessionRevoked { reason } } }"""
ADD_CONTACT = """mutation($input: AddContactInput!) { addContact(input: $input) {
    __typename ... on ContactPayloadSuccess { contact { id value isVerified } } } }"""
UPDATE_CONTACT = """mutation($input: UpdateContactInput!) { updateContact(input: $input) {
    __typename ... on ContactPayloadSuccess { contact { id value isVerified } } } }"""
REQUEST = """mutation($id: ID!) { requestContactVerification(input: {contactId: $id}) {
    __typename
    ... on RequestContactVerificationSuccess { expiresAt contact { id isVerified } }
    ... on TooManyAttempts { retryAfterSeconds }
    ... on Error { message } } }"""
VERIFY = """mutation($id: ID!, $code: String!) {
    verifyContact(input: {contactId: $id, code: $code}) {
    __typename
    ... on VerifyContactSuccess { contact { id value isVerified } }
    ... on TooManyAttempts { retryAfterSeconds }
    ... on Error { message } } }"""
REQUEST_RESET = """mutation($login: String!) { requestPasswordReset(input: {login: $login}) {
    __typename ... on RequestPasswordResetSuccess { message }
    ... on TooManyAttempts { retryAfterSeconds } ... on Error { message } } }"""
RESET = """mutation($input: ResetPasswordInput!) { resetPassword(input: $input) {
    __typename ... on ResetPasswordSuccess { message } ... on Error { message } } }"""


@dataclass
class Service:
    http: httpx.AsyncClient
    settings: Settings
    log: list[str]

    async def call(
        self, query: str, variables: dict[str, Any], token: str | None = None
    ) -> dict[str, Any]:
        headers = {"accept": "application/graphql-response+json"}
        if token:
            headers["authorization"] = f"Bearer {token}"
        response = await self.http.post(
            "/graphql", json={"query": query, "variables": variables}, headers=headers
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert "errors" not in body, body
        value: dict[str, Any] = next(iter(body["data"].values()))
        return value

    async def sign_up(self, username: str) -> dict[str, Any]:
        signed_up = await self.call(
            SIGN_UP, {"input": {"username": username, "password": PASSWORD}}
        )
        assert signed_up["__typename"] == "AuthPayload", signed_up
        return signed_up

    async def add_email(
        self, user: dict[str, Any], value: str, token: str | None = None, **extra: Any
    ) -> dict[str, Any]:
        added = await self.call(
            ADD_CONTACT,
            {"input": {"userId": user["user"]["id"], "type": "email", "value": value, **extra}},
            token or user["accessToken"],
        )
        assert added["__typename"] == "ContactPayloadSuccess", added
        contact: dict[str, Any] = added["contact"]
        return contact


@pytest.fixture
async def service(database_url: str, exchange_name: str) -> AsyncIterator[Service]:
    """The app with its relay publishing to the test's exchange; every log line kept."""
    settings = relay_settings(exchange_name).model_copy(
        update={
            "jwt_secret": "c" * 40,
            "db_pool_min": 1,
            "db_pool_max": 3,
            "argon2_memory_cost": 1024,
            "argon2_time_cost": 1,
        }
    )
    lines: list[str] = []
    sink = logger.add(lambda message: lines.append(str(message)), level="DEBUG")
    app = create_app(settings, database_url)
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app, client=(ADDRESS, 40000)),
                base_url="http://codes",
            ) as http,
        ):
            yield Service(http, settings, lines)
    finally:
        logger.remove(sink)


@pytest.fixture
async def queue_for(
    broker: AbstractRobustConnection, exchange_name: str, bind_queue: Any
) -> AsyncIterator[Any]:
    """`await queue_for("contact.verification_requested")`: a queue of the test's own,
    bound to the exchange with that routing key only. A catch-all queue (`#`) is
    bound too, as in every environment, so that no event is unroutable."""
    await bind_queue()
    channel = await broker.channel()
    queues: list[aio_pika.abc.AbstractQueue] = []

    async def bind(routing_key: str) -> Collector:
        exchange = await channel.declare_exchange(
            exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue(f"{exchange_name}.{routing_key}", auto_delete=False)
        await queue.bind(exchange, routing_key=routing_key)
        collector = Collector()
        await queue.consume(collector.on_message, no_ack=True)
        queues.append(queue)
        return collector

    yield bind
    for queue in queues:
        await queue.delete(if_unused=False, if_empty=False)
    await channel.exchange_delete(exchange_name)
    await channel.close()


async def received(collector: Collector, match: Any, what: str) -> dict[str, Any]:
    def mine() -> list[dict[str, Any]]:
        return [r.envelope for r in collector.received if match(r.envelope)]

    await wait_until(lambda: bool(mine()), within=10, what=what)
    return mine()[0]


async def test_a_contact_is_verified_by_the_code_its_event_carries(
    service: Service, queue_for: Any, pool: asyncpg.Pool, unique: str
) -> None:
    requested = await queue_for("contact.verification_requested")
    verified_events = await queue_for("contact.verified")
    user = await service.sign_up(f"verify{unique}")
    contact = await service.add_email(user, f"Verify.{unique}@Example.org")
    token = user["accessToken"]

    sent = await service.call(REQUEST, {"id": contact["id"]}, token)

    assert sent["__typename"] == "RequestContactVerificationSuccess", sent
    assert sent["contact"] == {"id": contact["id"], "isVerified": False}
    envelope = await received(
        requested,
        lambda e: e["data"]["contact"]["value"] == f"verify.{unique}@example.org",
        "contact.verification_requested",
    )
    code = envelope["data"]["code"]
    assert envelope["type"] == "contact.verification_requested"
    assert len(code) == 6
    assert code.isdigit()
    assert [r.routing_key for r in requested.received] == ["contact.verification_requested"]
    # Sending again at once is rate-limited.
    again = await service.call(REQUEST, {"id": contact["id"]}, token)
    assert again["__typename"] == "TooManyAttempts"
    assert 0 < again["retryAfterSeconds"] <= service.settings.verification_resend_interval

    wrong = "000000" if code != "000000" else "111111"
    refused = await service.call(VERIFY, {"id": contact["id"], "code": wrong}, token)
    assert refused["__typename"] == "InvalidCode"
    verified = await service.call(VERIFY, {"id": contact["id"], "code": code}, token)
    assert verified == {
        "__typename": "VerifyContactSuccess",
        "contact": {"id": contact["id"], "value": contact["value"], "isVerified": True},
    }
    event = await received(
        verified_events,
        lambda e: e["data"]["contact"]["value"] == contact["value"],
        "contact.verified",
    )
    assert event["data"]["contact"]["is_verified"] is True
    # The code works once.
    used = await service.call(VERIFY, {"id": contact["id"], "code": code}, token)
    assert used["__typename"] == "InvalidState"

    # Changing the verified value makes it unverified, and the old code is void.
    changed = await service.call(
        UPDATE_CONTACT,
        {"input": {"id": contact["id"], "value": f"new.{unique}@example.org"}},
        token,
    )
    assert changed["contact"]["isVerified"] is False
    assert (await service.call(VERIFY, {"id": contact["id"], "code": code}, token))[
        "__typename"
    ] == "InvalidCode"

    # Only a hash is stored; the outbox dropped the code once the broker had it.
    stored = await pool.fetchval(
        "SELECT code_hash FROM accounts.verification_codes WHERE target_id = $1",
        uuid.UUID(envelope["data"]["contact"]["id"]),
    )
    assert code.encode() not in stored
    outbox_payload = await pool.fetchval(
        "SELECT payload::text FROM accounts.outbox WHERE event_id = $1", uuid.UUID(envelope["id"])
    )
    assert '"code"' not in outbox_payload
    assert not [line for line in service.log if code in line], "the code reached a log line"


async def test_wrong_tries_and_old_codes_are_typed_errors_that_change_nothing(
    service: Service, queue_for: Any, pool: asyncpg.Pool, unique: str
) -> None:
    requested = await queue_for("contact.verification_requested")
    user = await service.sign_up(f"tries{unique}")
    contact = await service.add_email(user, f"tries.{unique}@example.org")
    token = user["accessToken"]
    await service.call(REQUEST, {"id": contact["id"]}, token)
    envelope = await received(
        requested, lambda e: e["data"]["contact"]["value"] == contact["value"], "the code"
    )
    code = envelope["data"]["code"]
    wrong = "000000" if code != "000000" else "111111"

    outcomes = [
        (await service.call(VERIFY, {"id": contact["id"], "code": wrong}, token))["__typename"]
        for _ in range(service.settings.verification_code_max_attempts)
    ]
    right_too_late = await service.call(VERIFY, {"id": contact["id"], "code": code}, token)

    assert outcomes == ["InvalidCode"] * (service.settings.verification_code_max_attempts - 1) + [
        "TooManyAttempts"
    ]
    assert right_too_late["__typename"] == "TooManyAttempts"
    assert right_too_late["retryAfterSeconds"] is None
    # A new code (after the resend interval) works; an expired one does not.
    await pool.execute(
        "UPDATE accounts.verification_codes SET last_sent_at = now() - interval '1 hour',"
        " sends_since = now() - interval '2 hours' WHERE target_id = $1",
        uuid.UUID(envelope["data"]["contact"]["id"]),
    )
    assert (await service.call(REQUEST, {"id": contact["id"]}, token))["__typename"] == (
        "RequestContactVerificationSuccess"
    )
    await wait_until(lambda: len(requested.received) == 2, within=10, what="a second code")
    fresh = requested.received[1].envelope["data"]["code"]
    await pool.execute(
        "UPDATE accounts.verification_codes SET expires_at = now() - interval '1 second'"
        " WHERE target_id = $1",
        uuid.UUID(envelope["data"]["contact"]["id"]),
    )
    expired = await service.call(VERIFY, {"id": contact["id"], "code": fresh}, token)
    assert expired["__typename"] == "CodeExpired"
    still = await pool.fetchval(
        "SELECT is_verified FROM accounts.user_contacts WHERE id = $1",
        uuid.UUID(envelope["data"]["contact"]["id"]),
    )
    assert still is False
    # Someone else's contact looks absent.
    other = await service.sign_up(f"other{unique}")
    absent = await service.call(REQUEST, {"id": contact["id"]}, other["accessToken"])
    assert absent["__typename"] == "NotFound"


async def test_a_password_is_reset_by_the_code_sent_to_the_verified_email(
    service: Service, queue_for: Any, pool: asyncpg.Pool, unique: str
) -> None:
    requests = await queue_for("user.password_reset_requested")
    username = f"lost{unique}"
    user = await service.sign_up(username)
    admin = issue_access_token(service.settings, uuid.uuid4(), ["admin"])
    email = f"lost.{unique}@example.org"
    await service.add_email(user, email, isVerified=True, token=admin)
    old_session = await service.call(LOGIN, {"input": {"username": username, "password": PASSWORD}})

    for_account = await service.call(REQUEST_RESET, {"login": email.upper()})
    for_nobody = await service.call(REQUEST_RESET, {"login": f"nobody{unique}@example.org"})

    assert for_account == for_nobody
    assert for_account["__typename"] == "RequestPasswordResetSuccess"
    envelope = await received(
        requests, lambda e: e["data"]["user"]["username"] == username, "the recovery code"
    )
    code = envelope["data"]["code"]
    assert envelope["data"]["contact"]["value"] == email
    wrong = "000000" if code != "000000" else "111111"
    reset = {"login": username, "newPassword": NEW_PASSWORD}
    refused = await service.call(RESET, {"input": {**reset, "code": wrong}})
    assert refused["__typename"] == "InvalidCode"
    unknown = await service.call(RESET, {"input": {**reset, "login": f"x{unique}", "code": code}})
    assert unknown["__typename"] == "InvalidCode"

    done = await service.call(RESET, {"input": {**reset, "code": code}})

    assert done["__typename"] == "ResetPasswordSuccess", done
    for session in (user, old_session):
        ended = await service.call(REFRESH, {"t": session["refreshToken"]})
        assert ended == {"__typename": "SessionRevoked", "reason": "PASSWORD_RESET"}
    old = await service.call(LOGIN, {"input": {"username": username, "password": PASSWORD}})
    assert old["__typename"] == "InvalidCredentials"
    new = await service.call(LOGIN, {"input": {"username": username, "password": NEW_PASSWORD}})
    assert new["__typename"] == "AuthPayload"
    # The code works once.
    again = await service.call(RESET, {"input": {**reset, "code": code, "newPassword": "x" * 12}})
    assert again["__typename"] == "InvalidCode"
    events = await pool.fetch(
        "SELECT event_type FROM accounts.outbox WHERE aggregate_id = $1 ORDER BY sequence",
        uuid.UUID(envelope["data"]["user"]["id"]),
    )
    kinds = [row["event_type"] for row in events]
    assert kinds[-1] == "user.password_reset"
    assert kinds.count("session.revoked") == 2
    assert not [line for line in service.log if code in line], "the code reached a log line"
    # A short new password follows changePassword's rules.
    short = await service.call(RESET, {"input": {**reset, "code": code, "newPassword": "short"}})
    assert short["__typename"] == "ValidationError"


async def test_recovery_requests_are_throttled_alike_for_every_login(
    service: Service, unique: str
) -> None:
    user = await service.sign_up(f"spam{unique}")
    assert user["__typename"] == "AuthPayload"
    outcomes = {}
    for login in (f"spam{unique}", f"ghost{unique}"):
        answers = [
            (await service.call(REQUEST_RESET, {"login": login}))["__typename"]
            for _ in range(service.settings.login_max_failures_per_pair + 1)
        ]
        outcomes[login] = answers
    expected = ["RequestPasswordResetSuccess"] * service.settings.login_max_failures_per_pair + [
        "TooManyAttempts"
    ]
    assert outcomes == {f"spam{unique}": expected, f"ghost{unique}": expected}


def test_events_tail_masks_the_code_of_sensitive_events() -> None:
    envelope = {"type": "contact.verification_requested", "data": {"code": "123456", "x": 1}}
    assert without_codes(envelope) == {
        "type": "contact.verification_requested",
        "data": {"code": "******", "x": 1},
    }
    other = {"type": "contact.verified", "data": {"code": "kept"}}
    assert without_codes(other) is other
