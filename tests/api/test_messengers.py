"""Messenger contact types (sql/0011_messenger_contact_types.sql): listed for
anyone, and values normalised and checked as a user would type them."""

from __future__ import annotations

import random
import uuid
from collections.abc import Awaitable, Callable

import pytest

from accounts_gql.api.ids import encode_id
from tests.api.conftest import GraphQL
from tests.api.test_contacts_api import ADD

MakeUser = Callable[..., Awaitable[uuid.UUID]]


async def test_anyone_sees_the_messenger_types(gql: GraphQL) -> None:
    body = await gql("{ contactTypes { code name isUnique isActive } }")
    types = {t["code"]: t for t in body["data"]["contactTypes"]}
    assert {code: types[code]["name"] for code in ("telegram", "whatsapp", "signal")} == {
        "telegram": "Telegram",
        "whatsapp": "WhatsApp",
        "signal": "Signal",
    }
    assert all(types[code]["isUnique"] for code in ("telegram", "whatsapp", "signal"))
    assert all(types[code]["isActive"] for code in ("telegram", "whatsapp", "signal"))


def _number() -> tuple[str, str]:
    """A phone number as a user types it, and its E.164 form."""
    digits = "".join(random.choices("0123456789", k=8))
    return f"0049 (30) {digits[:4]}-{digits[4:]}", f"+4930{digits}"


def _handle(unique: str) -> str:
    return "m" + "".join(chr(97 + int(c, 16) % 26) for c in unique)


@pytest.mark.parametrize(
    ("code", "typed", "stored"),
    [
        ("telegram", "  @{handle}_Bot ", "@{handle}_bot"),
        ("telegram", "https://t.me/{handle}", "@{handle}"),
        ("telegram", "{handle}", "@{handle}"),
        ("whatsapp", "number", "number"),
        ("signal", "number", "number"),
    ],
)
async def test_a_messenger_value_is_stored_normalised(
    gql: GraphQL, make_user: MakeUser, unique: str, code: str, typed: str, stored: str
) -> None:
    user = await make_user()
    if typed == "number":
        typed, stored = _number()
    else:
        handle = _handle(unique)
        typed, stored = typed.format(handle=handle), stored.format(handle=handle)
    body = await gql(
        ADD,
        {"input": {"userId": encode_id("User", user), "type": code, "value": typed}},
        as_user=user,
    )
    result = body["data"]["addContact"]
    assert result["__typename"] == "ContactPayloadSuccess", result
    assert (result["contact"]["value"], result["contact"]["type"]) == (stored, {"code": code})


@pytest.mark.parametrize(
    ("code", "value"),
    [
        ("telegram", "@abc"),  # too short
        ("telegram", "@1abcdef"),  # a digit first
        ("telegram", "@abcdef_"),  # an underscore last
        ("telegram", "@abc def"),
        ("whatsapp", "030 1234567"),  # not international
        ("signal", "+49 30 12"),  # too short
    ],
)
async def test_a_malformed_messenger_value_is_a_validation_error(
    gql: GraphQL, make_user: MakeUser, code: str, value: str
) -> None:
    user = await make_user()
    body = await gql(
        ADD,
        {"input": {"userId": encode_id("User", user), "type": code, "value": value}},
        as_user=user,
    )
    result = body["data"]["addContact"]
    assert (result["__typename"], result["field"]) == ("ValidationError", ["input", "value"])
