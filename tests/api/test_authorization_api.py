"""Who may do what over GraphQL (PRODUCT §6): a test per rule."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import pytest

from accounts_gql.api.ids import encode_id
from tests.api.conftest import GraphQL

MakeUser = Callable[..., Awaitable[uuid.UUID]]
ADMIN = ("admin",)

PRIVATE = """profile contacts { value } primaryContact(type: "email") { value }"""
USER = f"id username displayName status version {PRIVATE}"


def user_gid(user_id: uuid.UUID) -> str:
    return encode_id("User", user_id)


def group_gid(group_id: uuid.UUID) -> str:
    return encode_id("Group", group_id)


async def prepared_user(pool: asyncpg.Pool, make_user: MakeUser) -> uuid.UUID:
    """A user with a profile and a primary email."""
    user = await make_user()
    await pool.execute(
        "SELECT 1 FROM accounts.update_user_profile($1, $2, NULL, $1)", user, {"bio": "secret"}
    )
    await pool.execute(
        "SELECT 1 FROM accounts.add_contact($1, 'email', $2, true, false, $1)",
        user,
        f"p{user.hex[:10]}@example.com",
    )
    return user


async def new_group(
    pool: asyncpg.Pool, owner: uuid.UUID, members: dict[uuid.UUID, str] | None = None
) -> uuid.UUID:
    slug = f"authz-{uuid.uuid4().hex[:10]}"
    group_id: uuid.UUID = await pool.fetchval(
        "SELECT id FROM accounts.create_group($1, $2, '', $3, $3)", slug, slug, owner
    )
    for user_id, role in (members or {}).items():
        await pool.execute(
            "SELECT 1 FROM accounts.add_group_member($1, $2, $3, $4)",
            group_id,
            user_id,
            role,
            owner,
        )
    return group_id


async def role_of(pool: asyncpg.Pool, group_id: uuid.UUID, user_id: uuid.UUID) -> str | None:
    role: str | None = await pool.fetchval(
        "SELECT role FROM accounts.user_group_memberships WHERE group_id = $1 AND user_id = $2",
        group_id,
        user_id,
    )
    return role


# Each mutation's input type.
INPUTS = {
    "createUser": "CreateUserInput",
    "updateUser": "UpdateUserInput",
    "updateUserProfile": "UpdateUserProfileInput",
    "deactivateUser": "UserIdInput",
    "reactivateUser": "UserIdInput",
    "deleteUser": "UserIdInput",
    "createGroup": "CreateGroupInput",
    "updateGroup": "UpdateGroupInput",
    "deleteGroup": "DeleteGroupInput",
    "addGroupMember": "AddGroupMemberInput",
    "changeMemberRole": "ChangeMemberRoleInput",
    "removeGroupMember": "RemoveGroupMemberInput",
}


def error_codes(body: dict[str, Any]) -> list[str]:
    return [error["extensions"]["code"] for error in body.get("errors", [])]


async def typename(
    gql: GraphQL,
    mutation: str,
    input: dict[str, Any],
    *,
    as_user: uuid.UUID | None = None,
    roles: tuple[str, ...] = (),
) -> str:
    """The payload's __typename of a one-field mutation `mutation(input:)`."""
    body = await gql(
        f"mutation($input: {INPUTS[mutation]}!) {{ {mutation}(input: $input) {{ __typename }} }}",
        {"input": input},
        as_user=as_user,
        roles=roles,
    )
    assert "errors" not in body, body
    name: str = body["data"][mutation]["__typename"]
    return name


# Anonymous callers ------------------------------------------------------------


async def test_anonymous_callers_read_contact_types_only(
    gql: GraphQL, make_user: MakeUser, pool: asyncpg.Pool
) -> None:
    user = await make_user()
    group = await new_group(pool, user)
    slug = await pool.fetchval("SELECT slug FROM accounts.user_groups WHERE id = $1", group)
    username = await pool.fetchval("SELECT username FROM accounts.users WHERE id = $1", user)

    types = await gql("{ contactTypes { code } }")
    assert "errors" not in types
    assert {"email", "phone"} <= {item["code"] for item in types["data"]["contactTypes"]}

    me = await gql("{ me { id } }")
    assert me == {"data": {"me": None}}

    refused = {
        "user by id": ("query($v: ID!) { user(id: $v) { id } }", user_gid(user), "user"),
        "user by name": ("query($v: String!) { user(username: $v) { id } }", username, "user"),
        "users": ("query($v: String) { users(filter: {search: $v}) { totalCount } }", None, None),
        "group by id": ("query($v: ID!) { group(id: $v) { id } }", group_gid(group), "group"),
        "group by slug": ("query($v: String!) { group(slug: $v) { id } }", slug, "group"),
        "groups": ("query($v: String) { groups(search: $v) { totalCount } }", None, None),
        "node": ("query($v: ID!) { node(id: $v) { id } }", user_gid(user), "node"),
    }
    for name, (query, value, field) in refused.items():
        body = await gql(query, {"v": value})
        assert error_codes(body) == ["UNAUTHENTICATED"], name
        if field is not None:
            assert body["data"] == {field: None}, name
        else:
            assert body["data"] is None, name


# Oneself -----------------------------------------------------------------------


async def test_a_user_reads_their_own_account_profile_and_contacts(
    gql: GraphQL, make_user: MakeUser, pool: asyncpg.Pool
) -> None:
    user = await prepared_user(pool, make_user)
    email = f"p{user.hex[:10]}@example.com"
    body = await gql(
        f"query($id: ID!) {{ me {{ {USER} }} user(id: $id) {{ {USER} }} }}",
        {"id": user_gid(user)},
        as_user=user,
    )
    assert "errors" not in body
    for seen in (body["data"]["me"], body["data"]["user"]):
        assert seen["id"] == user_gid(user)
        assert seen["profile"] == {"bio": "secret"}
        assert seen["contacts"] == [{"value": email}]
        assert seen["primaryContact"] == {"value": email}


async def test_a_user_edits_their_own_account_and_profile(
    gql: GraphQL, make_user: MakeUser, pool: asyncpg.Pool, unique: str
) -> None:
    user = await make_user()
    assert (
        await typename(
            gql, "updateUser", {"id": user_gid(user), "displayName": "Me Myself"}, as_user=user
        )
        == "UserPayloadSuccess"
    )
    assert (
        await typename(
            gql,
            "updateUserProfile",
            {"id": user_gid(user), "patch": {"city": "Oslo"}},
            as_user=user,
        )
        == "UserPayloadSuccess"
    )
    row = await pool.fetchrow(
        "SELECT display_name, profile FROM accounts.users WHERE id = $1", user
    )
    assert row is not None
    assert row["display_name"] == "Me Myself"
    assert row["profile"] == {"city": "Oslo"}


# Other users --------------------------------------------------------------------


async def test_another_user_sees_public_fields_only(
    gql: GraphQL, make_user: MakeUser, pool: asyncpg.Pool
) -> None:
    owner = await prepared_user(pool, make_user)
    other = await make_user()
    group = await new_group(pool, owner, {other: "member"})
    username = await pool.fetchval("SELECT username FROM accounts.users WHERE id = $1", owner)
    body = await gql(
        f"""query($id: ID!, $name: String!, $group: ID!) {{
          byId: user(id: $id) {{ {USER} }}
          byName: user(username: $name) {{ {USER} }}
          node(id: $id) {{ ... on User {{ {USER} }} }}
          users(filter: {{search: $name}}) {{ nodes {{ {USER} }} }}
          group(id: $group) {{ members {{ nodes {{ user {{ {USER} }} }} }} }}
        }}""",
        {"id": user_gid(owner), "name": username, "group": group_gid(group)},
        as_user=other,
    )
    assert "errors" not in body, body
    data = body["data"]
    seen = [data["byId"], data["byName"], data["node"], *data["users"]["nodes"]]
    seen += [
        m["user"] for m in data["group"]["members"]["nodes"] if m["user"]["username"] == username
    ]
    assert len(seen) == 5
    for user in seen:
        assert user["id"] == user_gid(owner)
        assert user["username"] == username
        assert user["status"] == "ACTIVE"
        assert user["profile"] is None
        assert user["contacts"] is None
        assert user["primaryContact"] is None


async def test_another_user_cannot_change_an_account(
    gql: GraphQL, make_user: MakeUser, pool: asyncpg.Pool
) -> None:
    owner, other = await make_user(), await make_user()
    before = await pool.fetchrow("SELECT * FROM accounts.users WHERE id = $1", owner)
    attempts = [
        ("updateUser", {"id": user_gid(owner), "displayName": "Hacked"}),
        ("updateUserProfile", {"id": user_gid(owner), "patch": {"x": 1}}),
        ("deleteUser", {"id": user_gid(owner)}),
        ("deactivateUser", {"id": user_gid(owner)}),
    ]
    for mutation, input in attempts:
        assert await typename(gql, mutation, input, as_user=other) == "Forbidden", mutation
    assert await pool.fetchrow("SELECT * FROM accounts.users WHERE id = $1", owner) == before


async def test_only_admins_change_roles(gql: GraphQL, make_user: MakeUser) -> None:
    user = await make_user()
    result = await typename(
        gql, "updateUser", {"id": user_gid(user), "roles": ["admin"]}, as_user=user
    )
    assert result == "Forbidden"


# Groups ---------------------------------------------------------------------------


async def test_a_manager_manages_their_group_but_not_another(
    gql: GraphQL, make_user: MakeUser, pool: asyncpg.Pool
) -> None:
    owner, manager, alice, bob = (
        await make_user(),
        await make_user(),
        await make_user(),
        await make_user(),
    )
    group_a = await new_group(pool, owner, {manager: "manager"})
    group_b = await new_group(pool, owner, {alice: "member"})
    in_a = {"groupId": group_gid(group_a), "userId": user_gid(alice)}
    in_b = {"groupId": group_gid(group_b), "userId": user_gid(bob)}

    assert await typename(gql, "addGroupMember", in_a, as_user=manager) == (
        "MembershipPayloadSuccess"
    )
    assert await typename(gql, "changeMemberRole", in_a | {"role": "MANAGER"}, as_user=manager) == (
        "MembershipPayloadSuccess"
    )
    assert await typename(gql, "removeGroupMember", in_a, as_user=manager) == (
        "RemoveGroupMemberSuccess"
    )
    assert (
        await typename(gql, "updateGroup", {"id": group_gid(group_a), "name": "A"}, as_user=manager)
        == "GroupPayloadSuccess"
    )
    assert await role_of(pool, group_a, alice) is None

    alice_in_b = {"groupId": group_gid(group_b), "userId": user_gid(alice)}
    assert await typename(gql, "addGroupMember", in_b, as_user=manager) == "Forbidden"
    assert (
        await typename(gql, "changeMemberRole", alice_in_b | {"role": "MANAGER"}, as_user=manager)
        == "Forbidden"
    )
    assert await typename(gql, "removeGroupMember", alice_in_b, as_user=manager) == "Forbidden"
    assert (
        await typename(gql, "updateGroup", {"id": group_gid(group_b), "name": "B"}, as_user=manager)
        == "Forbidden"
    )
    assert await typename(gql, "deleteGroup", {"id": group_gid(group_a)}, as_user=manager) == (
        "Forbidden"
    )
    assert await role_of(pool, group_b, alice) == "member"
    assert await role_of(pool, group_b, bob) is None


async def test_a_plain_member_manages_nobody_but_may_leave(
    gql: GraphQL, make_user: MakeUser, pool: asyncpg.Pool
) -> None:
    owner, member, other, outsider = (
        await make_user(),
        await make_user(),
        await make_user(),
        await make_user(),
    )
    group = await new_group(pool, owner, {member: "member", other: "member"})
    gid = group_gid(group)
    add = {"groupId": gid, "userId": user_gid(outsider)}
    assert await typename(gql, "addGroupMember", add, as_user=member) == "Forbidden"
    other_in = {"groupId": gid, "userId": user_gid(other)}
    assert await typename(gql, "removeGroupMember", other_in, as_user=member) == "Forbidden"
    me_in = {"groupId": gid, "userId": user_gid(member)}
    assert await typename(gql, "changeMemberRole", me_in | {"role": "MANAGER"}, as_user=member) == (
        "Forbidden"
    )
    assert await typename(gql, "removeGroupMember", me_in, as_user=member) == (
        "RemoveGroupMemberSuccess"
    )
    assert await role_of(pool, group, member) is None


async def test_only_owners_grant_and_revoke_ownership(
    gql: GraphQL, make_user: MakeUser, pool: asyncpg.Pool
) -> None:
    owner, manager, member, newcomer = (
        await make_user(),
        await make_user(),
        await make_user(),
        await make_user(),
    )
    group = await new_group(pool, owner, {manager: "manager", member: "member"})
    gid = group_gid(group)

    def on(user: uuid.UUID, role: str | None = None) -> dict[str, Any]:
        return {"groupId": gid, "userId": user_gid(user)} | ({"role": role} if role else {})

    # A manager neither grants ownership nor touches an owner.
    assert await typename(gql, "changeMemberRole", on(member, "OWNER"), as_user=manager) == (
        "Forbidden"
    )
    assert await typename(gql, "addGroupMember", on(newcomer, "OWNER"), as_user=manager) == (
        "Forbidden"
    )
    assert await typename(gql, "changeMemberRole", on(owner, "MEMBER"), as_user=manager) == (
        "Forbidden"
    )
    assert await typename(gql, "removeGroupMember", on(owner), as_user=manager) == "Forbidden"
    assert await role_of(pool, group, member) == "member"
    assert await role_of(pool, group, owner) == "owner"
    assert await role_of(pool, group, newcomer) is None

    # An owner grants ownership, and revokes it.
    assert await typename(gql, "changeMemberRole", on(member, "OWNER"), as_user=owner) == (
        "MembershipPayloadSuccess"
    )
    assert await typename(gql, "addGroupMember", on(newcomer, "OWNER"), as_user=owner) == (
        "MembershipPayloadSuccess"
    )
    assert await role_of(pool, group, member) == "owner"
    assert await role_of(pool, group, newcomer) == "owner"
    assert await typename(gql, "changeMemberRole", on(member, "MANAGER"), as_user=owner) == (
        "MembershipPayloadSuccess"
    )
    assert await typename(gql, "removeGroupMember", on(newcomer), as_user=owner) == (
        "RemoveGroupMemberSuccess"
    )
    assert await role_of(pool, group, member) == "manager"
    assert await role_of(pool, group, newcomer) is None


async def test_an_admin_does_everything(
    gql: GraphQL, make_user: MakeUser, pool: asyncpg.Pool, unique: str
) -> None:
    admin = await make_user(roles=ADMIN)
    owner = await prepared_user(pool, make_user)
    member, newcomer = await make_user(), await make_user()
    group = await new_group(pool, owner, {member: "member"})
    gid = group_gid(group)

    body = await gql(
        f"query($id: ID!) {{ user(id: $id) {{ {USER} }} }}",
        {"id": user_gid(owner)},
        as_user=admin,
        roles=ADMIN,
    )
    assert body["data"]["user"]["profile"] == {"bio": "secret"}
    assert body["data"]["user"]["contacts"] == [{"value": f"p{owner.hex[:10]}@example.com"}]

    steps: list[tuple[str, dict[str, Any], str]] = [
        ("createUser", {"username": f"made{unique}"}, "UserPayloadSuccess"),
        ("updateUser", {"id": user_gid(member), "roles": ["admin"]}, "UserPayloadSuccess"),
        ("updateUserProfile", {"id": user_gid(owner), "patch": {"x": 1}}, "UserPayloadSuccess"),
        ("updateGroup", {"id": gid, "name": "Admin was here"}, "GroupPayloadSuccess"),
        (
            "addGroupMember",
            {"groupId": gid, "userId": user_gid(newcomer), "role": "OWNER"},
            "MembershipPayloadSuccess",
        ),
        (
            "changeMemberRole",
            {"groupId": gid, "userId": user_gid(owner), "role": "MEMBER"},
            "MembershipPayloadSuccess",
        ),
        (
            "removeGroupMember",
            {"groupId": gid, "userId": user_gid(member)},
            "RemoveGroupMemberSuccess",
        ),
        ("deactivateUser", {"id": user_gid(member)}, "UserPayloadSuccess"),
        ("reactivateUser", {"id": user_gid(member)}, "UserPayloadSuccess"),
        ("deleteGroup", {"id": gid}, "DeleteGroupSuccess"),
        ("deleteUser", {"id": user_gid(member)}, "DeleteUserSuccess"),
    ]
    for mutation, input, expected in steps:
        assert await typename(gql, mutation, input, as_user=admin, roles=ADMIN) == expected, (
            mutation
        )
    assert await pool.fetchval("SELECT count(*) FROM accounts.users WHERE id = $1", member) == 0
    assert (
        await pool.fetchval("SELECT count(*) FROM accounts.user_groups WHERE id = $1", group) == 0
    )


# Ids --------------------------------------------------------------------------------


async def test_an_id_of_another_type_is_a_wrong_id_type_error(
    gql: GraphQL, make_user: MakeUser, pool: asyncpg.Pool
) -> None:
    user = await make_user()
    group = await new_group(pool, user)
    as_user = await gql(
        "query($id: ID!) { user(id: $id) { id } }", {"id": group_gid(group)}, as_user=user
    )
    assert error_codes(as_user) == ["WRONG_ID_TYPE"]
    assert as_user["data"] == {"user": None}
    assert as_user["errors"][0]["path"] == ["user"]
    as_group = await gql(
        "query($id: ID!) { group(id: $id) { id } }", {"id": user_gid(user)}, as_user=user
    )
    assert error_codes(as_group) == ["WRONG_ID_TYPE"]


@pytest.mark.parametrize("bad_id", ["not-an-id", "%%%", "VXNlcjpub3QtYS11dWlk", ""])
async def test_a_malformed_id_is_an_invalid_id_error(
    gql: GraphQL, make_user: MakeUser, bad_id: str
) -> None:
    user = await make_user()
    body = await gql("query($id: ID!) { user(id: $id) { id } }", {"id": bad_id}, as_user=user)
    assert error_codes(body) == ["INVALID_ID"]
    assert body["data"] == {"user": None}
    node = await gql("query($id: ID!) { node(id: $id) { id } }", {"id": bad_id}, as_user=user)
    assert error_codes(node) == ["INVALID_ID"]


async def test_anonymous_reads_are_unauthenticated_before_any_input_error(gql: GraphQL) -> None:
    """Signing in comes first: a bad cursor or page size of an anonymous caller is
    still UNAUTHENTICATED (docs/errors.md), not FORBIDDEN nor an input error."""
    for query in (
        '{ users(after: "n") { totalCount } }',
        "{ users(first: 1000) { totalCount } }",
        '{ groups(before: "n") { totalCount } }',
        '{ user(id: "not an id") { id } }',
        "{ user { id } }",
    ):
        body = await gql(query)
        assert error_codes(body) == ["UNAUTHENTICATED"], query
        assert body["errors"][0]["message"] == "Sign in to do this.", query
