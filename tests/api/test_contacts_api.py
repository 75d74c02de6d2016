"""Contacts and contact types over GraphQL: mutations, typed errors, privacy."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from accounts_gql.api.ids import encode_id
from tests.api.conftest import GraphQL

MakeUser = Callable[..., Awaitable[uuid.UUID]]

ADD = """mutation($input: AddContactInput!) {
  addContact(input: $input) {
    __typename
    ... on ContactPayloadSuccess { contact { id value isPrimary isVerified type { code } } }
    ... on Error { message }
    ... on ValidationError { field }
  }
}"""

CONTACTS = """query($id: ID!) {
  user(id: $id) { username contacts { value isPrimary type { code } } profile
                  primaryContact(type: "email") { value } }
}"""


async def _outbox_count(pool: asyncpg.Pool, user_id: uuid.UUID) -> int:
    count: int = await pool.fetchval(
        "SELECT count(*) FROM accounts.outbox WHERE aggregate_id = $1", user_id
    )
    return count


def _add_input(user_id: uuid.UUID, value: str, **extra: Any) -> dict[str, Any]:
    return {
        "input": {"userId": encode_id("User", user_id), "type": "email", "value": value} | extra
    }


async def test_a_user_adds_their_own_contact_and_reads_it(
    gql: GraphQL, make_user: MakeUser
) -> None:
    user = await make_user()
    added = await gql(ADD, _add_input(user, f"  Me.{user.hex[:8]}@Example.COM "), as_user=user)
    contact = added["data"]["addContact"]
    assert contact["__typename"] == "ContactPayloadSuccess"
    assert contact["contact"]["value"] == f"me.{user.hex[:8]}@example.com"
    assert contact["contact"]["isPrimary"] is True
    assert contact["contact"]["type"] == {"code": "email"}

    read = await gql(CONTACTS, {"id": encode_id("User", user)}, as_user=user)
    me = read["data"]["user"]
    assert [c["value"] for c in me["contacts"]] == [contact["contact"]["value"]]
    assert me["primaryContact"]["value"] == contact["contact"]["value"]


async def test_another_user_sees_no_contacts_or_profile(gql: GraphQL, make_user: MakeUser) -> None:
    owner, other = await make_user(), await make_user()
    await gql(ADD, _add_input(owner, f"o{owner.hex[:8]}@example.com"), as_user=owner)
    read = await gql(CONTACTS, {"id": encode_id("User", owner)}, as_user=other)
    seen = read["data"]["user"]
    assert seen["username"]
    assert seen["contacts"] is None
    assert seen["profile"] is None
    assert seen["primaryContact"] is None


async def test_one_user_cannot_add_a_contact_to_another(
    gql: GraphQL, make_user: MakeUser, pool: asyncpg.Pool
) -> None:
    owner, other = await make_user(), await make_user()
    result = await gql(ADD, _add_input(owner, f"x{owner.hex[:8]}@example.com"), as_user=other)
    assert result["data"]["addContact"]["__typename"] == "Forbidden"
    assert await _outbox_count(pool, owner) == 1  # only user.created


async def test_an_admin_adds_a_verified_contact_to_anyone(
    gql: GraphQL, make_user: MakeUser
) -> None:
    owner, admin = await make_user(), await make_user(roles=("admin",))
    result = await gql(
        ADD,
        _add_input(owner, f"v{owner.hex[:8]}@example.com", isVerified=True),
        as_user=admin,
        roles=("admin",),
    )
    assert result["data"]["addContact"]["contact"]["isVerified"] is True


async def test_only_admins_verify(gql: GraphQL, make_user: MakeUser) -> None:
    owner = await make_user()
    result = await gql(
        ADD, _add_input(owner, f"n{owner.hex[:8]}@example.com", isVerified=True), as_user=owner
    )
    assert result["data"]["addContact"]["__typename"] == "Forbidden"


async def test_bad_value_is_a_validation_error_with_its_field(
    gql: GraphQL, make_user: MakeUser, pool: asyncpg.Pool
) -> None:
    user = await make_user()
    result = await gql(ADD, _add_input(user, "not-an-email"), as_user=user)
    error = result["data"]["addContact"]
    assert error["__typename"] == "ValidationError"
    assert error["field"] == ["input", "value"]
    assert await _outbox_count(pool, user) == 1


async def test_taken_value_is_contact_value_taken(gql: GraphQL, make_user: MakeUser) -> None:
    first, second = await make_user(), await make_user()
    value = f"shared{first.hex[:8]}@example.com"
    await gql(ADD, _add_input(first, value), as_user=first)
    result = await gql(ADD, _add_input(second, value), as_user=second)
    assert result["data"]["addContact"]["__typename"] == "ContactValueTaken"


async def test_a_group_id_as_user_id_is_a_validation_error(
    gql: GraphQL, make_user: MakeUser
) -> None:
    user = await make_user()
    variables = {"input": {"userId": encode_id("Group", user), "type": "email", "value": "a@b.co"}}
    result = await gql(ADD, variables, as_user=user)
    assert result["data"]["addContact"]["__typename"] == "ValidationError"
    assert result["data"]["addContact"]["field"] == ["input", "userId"]


async def test_set_primary_and_deactivate(gql: GraphQL, make_user: MakeUser) -> None:
    user = await make_user()
    first = await gql(ADD, _add_input(user, f"a{user.hex[:8]}@example.com"), as_user=user)
    second = await gql(ADD, _add_input(user, f"b{user.hex[:8]}@example.com"), as_user=user)
    second_id = second["data"]["addContact"]["contact"]["id"]
    set_primary = await gql(
        """mutation($id: ID!) { setPrimaryContact(input: {id: $id}) {
             ... on ContactPayloadSuccess { contact { value isPrimary } } } }""",
        {"id": second_id},
        as_user=user,
    )
    assert set_primary["data"]["setPrimaryContact"]["contact"]["isPrimary"] is True
    read = await gql(CONTACTS, {"id": encode_id("User", user)}, as_user=user)
    assert read["data"]["user"]["primaryContact"]["value"] == f"b{user.hex[:8]}@example.com"

    first_id = first["data"]["addContact"]["contact"]["id"]
    deactivated = await gql(
        """mutation($id: ID!) { deactivateContact(input: {id: $id}) {
             ... on ContactPayloadSuccess { contact { isActive } } } }""",
        {"id": first_id},
        as_user=user,
    )
    assert deactivated["data"]["deactivateContact"]["contact"]["isActive"] is False


async def test_another_users_contact_id_looks_absent(gql: GraphQL, make_user: MakeUser) -> None:
    owner, other = await make_user(), await make_user()
    added = await gql(ADD, _add_input(owner, f"p{owner.hex[:8]}@example.com"), as_user=owner)
    contact_id = added["data"]["addContact"]["contact"]["id"]
    result = await gql(
        "mutation($id: ID!) { deactivateContact(input: {id: $id}) { __typename } }",
        {"id": contact_id},
        as_user=other,
    )
    assert result["data"]["deactivateContact"]["__typename"] == "NotFound"
    node = await gql("query($id: ID!) { node(id: $id) { id } }", {"id": contact_id}, as_user=other)
    assert node["data"]["node"] is None


async def test_contact_types_are_managed_by_admins(gql: GraphQL, make_user: MakeUser) -> None:
    admin, user = await make_user(roles=("admin",)), await make_user()
    create = """mutation($code: String!) {
      createContactType(input: {code: $code, name: "Chat"}) {
        __typename ... on ContactTypePayloadSuccess { contactType { id code isActive } }
      }
    }"""
    code = f"chat_{user.hex[:6]}"
    refused = await gql(create, {"code": code}, as_user=user)
    assert refused["data"]["createContactType"]["__typename"] == "Forbidden"
    created = await gql(create, {"code": code}, as_user=admin, roles=("admin",))
    assert created["data"]["createContactType"]["contactType"]["code"] == code
    taken = await gql(create, {"code": code}, as_user=admin, roles=("admin",))
    assert taken["data"]["createContactType"]["__typename"] == "ContactTypeCodeTaken"

    anonymous = await gql("{ contactTypes { code } }")
    assert code in {item["code"] for item in anonymous["data"]["contactTypes"]}
