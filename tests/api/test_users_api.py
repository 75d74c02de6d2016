"""User mutations over GraphQL: each success, each typed error, and that a failed
mutation leaves the user as it was and records no event."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from accounts_gql.api.ids import encode_id
from tests.api.conftest import GraphQL

MakeUser = Callable[..., Awaitable[uuid.UUID]]
ADMIN = ("admin",)

OUTCOME = """
    __typename
    ... on UserPayloadSuccess {
      user { id username displayName roles version status profile }
    }
    ... on Error { message }
    ... on ValidationError { field }
"""
CONFLICT = "... on VersionConflict { currentVersion }"

CREATE = f"""mutation($input: CreateUserInput!) {{ createUser(input: $input) {{ {OUTCOME} }} }}"""
UPDATE = f"""mutation($input: UpdateUserInput!) {{
  updateUser(input: $input) {{ {OUTCOME} {CONFLICT} }}
}}"""
PROFILE = f"""mutation($input: UpdateUserProfileInput!) {{
  updateUserProfile(input: $input) {{ {OUTCOME} {CONFLICT} }}
}}"""
DEACTIVATE = (
    f"""mutation($input: UserIdInput!) {{ deactivateUser(input: $input) {{ {OUTCOME} }} }}"""
)
REACTIVATE = (
    f"""mutation($input: UserIdInput!) {{ reactivateUser(input: $input) {{ {OUTCOME} }} }}"""
)
DELETE = """mutation($input: UserIdInput!) {
  deleteUser(input: $input) {
    __typename
    ... on DeleteUserSuccess { deletedUserId }
    ... on Error { message }
    ... on ValidationError { field }
    ... on VersionConflict { currentVersion }
  }
}"""


def gid(user_id: uuid.UUID) -> str:
    return encode_id("User", user_id)


async def events(pool: asyncpg.Pool, user_id: uuid.UUID) -> list[str]:
    """The event types recorded for the user's aggregate, oldest first."""
    rows = await pool.fetch(
        "SELECT event_type FROM accounts.outbox"
        " WHERE aggregate_type = 'user' AND aggregate_id = $1 ORDER BY sequence",
        user_id,
    )
    return [row["event_type"] for row in rows]


async def stored(pool: asyncpg.Pool, user_id: uuid.UUID) -> dict[str, Any] | None:
    """The user's row as stored (None once deleted)."""
    row = await pool.fetchrow(
        "SELECT username, display_name, profile, status, roles, version, updated_at"
        " FROM accounts.users WHERE id = $1",
        user_id,
    )
    return dict(row) if row is not None else None


class Unchanged:
    """Remembers a user's row and events; `check()` asserts neither moved."""

    def __init__(self, pool: asyncpg.Pool, user_id: uuid.UUID) -> None:
        self.pool = pool
        self.user_id = user_id
        self.row: dict[str, Any] | None = None
        self.events: list[str] = []

    async def __aenter__(self) -> Unchanged:
        self.row = await stored(self.pool, self.user_id)
        self.events = await events(self.pool, self.user_id)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if exc[0] is None:
            assert await stored(self.pool, self.user_id) == self.row
            assert await events(self.pool, self.user_id) == self.events


async def mutate(
    gql: GraphQL,
    document: str,
    field: str,
    input: dict[str, Any],
    *,
    as_user: uuid.UUID | None = None,
    roles: tuple[str, ...] = (),
) -> dict[str, Any]:
    body = await gql(document, {"input": input}, as_user=as_user, roles=roles)
    assert "errors" not in body, body
    result: dict[str, Any] = body["data"][field]
    return result


# createUser ------------------------------------------------------------------


async def test_an_admin_creates_a_user(
    gql: GraphQL, make_user: MakeUser, pool: asyncpg.Pool, unique: str
) -> None:
    admin = await make_user(roles=ADMIN)
    result = await mutate(
        gql,
        CREATE,
        "createUser",
        {
            "username": f"New.{unique}",
            "displayName": "New Person",
            "profile": {"bio": "hi", "tags": ["a"]},
            "roles": ["admin"],
        },
        as_user=admin,
        roles=ADMIN,
    )
    assert result["__typename"] == "UserPayloadSuccess"
    user = result["user"]
    assert user["username"] == f"New.{unique}"
    assert user["displayName"] == "New Person"
    assert user["profile"] == {"bio": "hi", "tags": ["a"]}
    assert user["roles"] == ["admin"]
    assert user["status"] == "ACTIVE"
    assert user["version"] == 1
    user_id = await pool.fetchval(
        "SELECT id FROM accounts.users WHERE username = $1", f"New.{unique}"
    )
    assert user["id"] == gid(user_id)
    assert await events(pool, user_id) == ["user.created"]
    actor = await pool.fetchval(
        "SELECT actor_id FROM accounts.outbox WHERE aggregate_id = $1", user_id
    )
    assert actor == admin


async def _no_user_named(pool: asyncpg.Pool, username: str) -> bool:
    count = await pool.fetchval(
        "SELECT count(*) FROM accounts.users WHERE lower(username) = lower($1)", username
    )
    created = await pool.fetchval(
        "SELECT count(*) FROM accounts.outbox WHERE event_type = 'user.created'"
        " AND lower(payload -> 'user' ->> 'username') = lower($1)",
        username,
    )
    return bool(count == 0 and created == 0)


async def test_only_admins_create_users(
    gql: GraphQL, make_user: MakeUser, pool: asyncpg.Pool, unique: str
) -> None:
    user = await make_user()
    name = f"nope{unique}"
    refused = await mutate(gql, CREATE, "createUser", {"username": name}, as_user=user)
    assert refused["__typename"] == "Forbidden"
    anonymous = await mutate(gql, CREATE, "createUser", {"username": name})
    assert anonymous["__typename"] == "Forbidden"
    assert await _no_user_named(pool, name)


async def test_create_user_validation_errors_name_their_field(
    gql: GraphQL, make_user: MakeUser, pool: asyncpg.Pool, unique: str
) -> None:
    admin = await make_user(roles=ADMIN)
    cases = [
        ({"username": "x"}, ["input", "username"]),
        ({"username": f"bad name {unique}"}, ["input", "username"]),
        ({"username": f"ok{unique}", "displayName": "d" * 101}, ["input", "displayName"]),
        ({"username": f"ok{unique}", "profile": [1, 2]}, ["input", "profile"]),
        ({"username": f"ok{unique}", "roles": ["superuser"]}, ["input", "roles"]),
    ]
    for input, field in cases:
        result = await mutate(gql, CREATE, "createUser", input, as_user=admin, roles=ADMIN)
        assert result["__typename"] == "ValidationError", input
        assert result["field"] == field, input
        assert result["message"]
    assert await _no_user_named(pool, f"ok{unique}")


async def test_a_taken_username_is_username_taken_regardless_of_case(
    gql: GraphQL, make_user: MakeUser, pool: asyncpg.Pool, unique: str
) -> None:
    admin = await make_user(roles=ADMIN)
    existing = await make_user(f"taken{unique}")
    async with Unchanged(pool, existing):
        result = await mutate(
            gql, CREATE, "createUser", {"username": f"TAKEN{unique}"}, as_user=admin, roles=ADMIN
        )
    assert result["__typename"] == "UsernameTaken"
    assert result["message"]
    count = await pool.fetchval(
        "SELECT count(*) FROM accounts.users WHERE lower(username) = $1", f"taken{unique}"
    )
    assert count == 1


# updateUser ------------------------------------------------------------------


async def test_a_user_renames_themself(
    gql: GraphQL, make_user: MakeUser, pool: asyncpg.Pool, unique: str
) -> None:
    user = await make_user()
    result = await mutate(
        gql,
        UPDATE,
        "updateUser",
        {
            "id": gid(user),
            "username": f"renamed{unique}",
            "displayName": "Renamed",
            "expectedVersion": 1,
        },
        as_user=user,
    )
    assert result["__typename"] == "UserPayloadSuccess"
    assert result["user"]["username"] == f"renamed{unique}"
    assert result["user"]["displayName"] == "Renamed"
    assert result["user"]["version"] == 2
    assert (await stored(pool, user) or {})["username"] == f"renamed{unique}"
    assert await events(pool, user) == ["user.created", "user.updated"]
    payload = await pool.fetchval(
        "SELECT payload FROM accounts.outbox WHERE aggregate_id = $1"
        " AND event_type = 'user.updated'",
        user,
    )
    assert payload["after"]["username"] == f"renamed{unique}"


async def test_an_admin_changes_roles(
    gql: GraphQL, make_user: MakeUser, pool: asyncpg.Pool
) -> None:
    admin, user = await make_user(roles=ADMIN), await make_user()
    result = await mutate(
        gql,
        UPDATE,
        "updateUser",
        {"id": gid(user), "roles": ["admin"]},
        as_user=admin,
        roles=ADMIN,
    )
    assert result["user"]["roles"] == ["admin"]
    assert await events(pool, user) == ["user.created", "user.updated"]


async def test_update_user_errors_change_nothing(
    gql: GraphQL, make_user: MakeUser, pool: asyncpg.Pool, unique: str
) -> None:
    user, other = await make_user(), await make_user(f"other{unique}")
    admin = await make_user(roles=ADMIN)
    me = gid(user)
    cases: list[tuple[dict[str, Any], uuid.UUID, tuple[str, ...], str]] = [
        ({"id": me, "username": "a"}, user, (), "ValidationError"),
        ({"id": me, "displayName": "d" * 101}, user, (), "ValidationError"),
        ({"id": me, "username": f"OTHER{unique}"}, user, (), "UsernameTaken"),
        ({"id": me, "displayName": "x", "expectedVersion": 7}, user, (), "VersionConflict"),
        ({"id": me, "displayName": "x"}, other, (), "Forbidden"),
        ({"id": me, "roles": ["admin"]}, user, (), "Forbidden"),
        ({"id": encode_id("Group", user), "displayName": "x"}, user, (), "ValidationError"),
        ({"id": "%%%", "displayName": "x"}, user, (), "ValidationError"),
    ]
    for input, caller, roles, expected in cases:
        async with Unchanged(pool, user), Unchanged(pool, other):
            result = await mutate(gql, UPDATE, "updateUser", input, as_user=caller, roles=roles)
        assert result["__typename"] == expected, (input, result)
        assert result["message"]
    fields = []
    for input in (
        {"id": me, "username": "a"},
        {"id": me, "displayName": "d" * 101},
        {"id": encode_id("Group", user)},
    ):
        result = await mutate(gql, UPDATE, "updateUser", input, as_user=user)
        fields.append(result["field"])
    assert fields == [["input", "username"], ["input", "displayName"], ["input", "id"]]

    conflict = await mutate(
        gql,
        UPDATE,
        "updateUser",
        {"id": me, "displayName": "x", "expectedVersion": 7},
        as_user=user,
    )
    assert conflict["currentVersion"] == 1

    missing = uuid.uuid4()
    absent = await mutate(
        gql,
        UPDATE,
        "updateUser",
        {"id": gid(missing), "displayName": "x"},
        as_user=admin,
        roles=ADMIN,
    )
    assert absent["__typename"] == "NotFound"
    assert await events(pool, missing) == []


# updateUserProfile -----------------------------------------------------------


async def test_a_profile_is_merge_patched(
    gql: GraphQL, make_user: MakeUser, pool: asyncpg.Pool
) -> None:
    user = await make_user()
    first = await mutate(
        gql,
        PROFILE,
        "updateUserProfile",
        {"id": gid(user), "patch": {"bio": "hello", "links": {"site": "a", "blog": "b"}}},
        as_user=user,
    )
    assert first["user"]["profile"] == {"bio": "hello", "links": {"site": "a", "blog": "b"}}
    second = await mutate(
        gql,
        PROFILE,
        "updateUserProfile",
        {"id": gid(user), "patch": {"bio": None, "links": {"blog": "c"}}, "expectedVersion": 2},
        as_user=user,
    )
    assert second["__typename"] == "UserPayloadSuccess"
    assert second["user"]["profile"] == {"links": {"site": "a", "blog": "c"}}
    assert second["user"]["version"] == 3
    assert await events(pool, user) == [
        "user.created",
        "user.profile_updated",
        "user.profile_updated",
    ]


async def test_an_admin_patches_anyones_profile(gql: GraphQL, make_user: MakeUser) -> None:
    admin, user = await make_user(roles=ADMIN), await make_user()
    result = await mutate(
        gql,
        PROFILE,
        "updateUserProfile",
        {"id": gid(user), "patch": {"note": "x"}},
        as_user=admin,
        roles=ADMIN,
    )
    assert result["user"]["profile"] == {"note": "x"}


async def test_update_profile_errors_change_nothing(
    gql: GraphQL, make_user: MakeUser, pool: asyncpg.Pool
) -> None:
    user, other, admin = await make_user(), await make_user(), await make_user(roles=ADMIN)
    me = gid(user)
    cases: list[tuple[dict[str, Any], uuid.UUID, tuple[str, ...], str, list[str] | None]] = [
        ({"id": me, "patch": [1]}, user, (), "ValidationError", ["input", "patch"]),
        ({"id": me, "patch": "text"}, user, (), "ValidationError", ["input", "patch"]),
        (
            {"id": me, "patch": {"big": "x" * 17000}},
            user,
            (),
            "ValidationError",
            ["input", "patch"],
        ),
        ({"id": me, "patch": {"a": 1}, "expectedVersion": 9}, user, (), "VersionConflict", None),
        ({"id": me, "patch": {"a": 1}}, other, (), "Forbidden", None),
        (
            {"id": encode_id("Contact", user), "patch": {"a": 1}},
            user,
            (),
            "ValidationError",
            ["input", "id"],
        ),
    ]
    for input, caller, roles, expected, field in cases:
        async with Unchanged(pool, user):
            result = await mutate(
                gql, PROFILE, "updateUserProfile", input, as_user=caller, roles=roles
            )
        assert result["__typename"] == expected, (input, result)
        if field is not None:
            assert result["field"] == field
        if expected == "VersionConflict":
            assert result["currentVersion"] == 1
    missing = uuid.uuid4()
    absent = await mutate(
        gql,
        PROFILE,
        "updateUserProfile",
        {"id": gid(missing), "patch": {"a": 1}},
        as_user=admin,
        roles=ADMIN,
    )
    assert absent["__typename"] == "NotFound"


# deactivateUser / reactivateUser ---------------------------------------------


async def test_an_admin_deactivates_and_reactivates(
    gql: GraphQL, make_user: MakeUser, pool: asyncpg.Pool
) -> None:
    admin, user = await make_user(roles=ADMIN), await make_user()
    off = await mutate(
        gql, DEACTIVATE, "deactivateUser", {"id": gid(user)}, as_user=admin, roles=ADMIN
    )
    assert off["__typename"] == "UserPayloadSuccess"
    assert off["user"]["status"] == "DEACTIVATED"
    assert (await stored(pool, user) or {})["status"] == "deactivated"

    async with Unchanged(pool, user):
        again = await mutate(
            gql, DEACTIVATE, "deactivateUser", {"id": gid(user)}, as_user=admin, roles=ADMIN
        )
    assert again["__typename"] == "InvalidState"

    on = await mutate(
        gql, REACTIVATE, "reactivateUser", {"id": gid(user)}, as_user=admin, roles=ADMIN
    )
    assert on["user"]["status"] == "ACTIVE"
    async with Unchanged(pool, user):
        again = await mutate(
            gql, REACTIVATE, "reactivateUser", {"id": gid(user)}, as_user=admin, roles=ADMIN
        )
    assert again["__typename"] == "InvalidState"
    assert await events(pool, user) == ["user.created", "user.deactivated", "user.reactivated"]


async def test_status_changes_are_for_admins_only(
    gql: GraphQL, make_user: MakeUser, pool: asyncpg.Pool
) -> None:
    user, admin = await make_user(), await make_user(roles=ADMIN)
    for document, field in ((DEACTIVATE, "deactivateUser"), (REACTIVATE, "reactivateUser")):
        async with Unchanged(pool, user):
            self_service = await mutate(gql, document, field, {"id": gid(user)}, as_user=user)
            anonymous = await mutate(gql, document, field, {"id": gid(user)})
            wrong_type = await mutate(
                gql,
                document,
                field,
                {"id": encode_id("Group", user)},
                as_user=admin,
                roles=ADMIN,
            )
        assert self_service["__typename"] == "Forbidden"
        assert anonymous["__typename"] == "Forbidden"
        assert wrong_type["__typename"] == "ValidationError"
        assert wrong_type["field"] == ["input", "id"]
        missing = await mutate(
            gql, document, field, {"id": gid(uuid.uuid4())}, as_user=admin, roles=ADMIN
        )
        assert missing["__typename"] == "NotFound"


# deleteUser ------------------------------------------------------------------


async def test_a_user_deletes_themself(
    gql: GraphQL, make_user: MakeUser, pool: asyncpg.Pool
) -> None:
    user, admin = await make_user(), await make_user(roles=ADMIN)
    result = await mutate(
        gql, DELETE, "deleteUser", {"id": gid(user), "expectedVersion": 1}, as_user=user
    )
    assert result == {"__typename": "DeleteUserSuccess", "deletedUserId": gid(user)}
    assert await stored(pool, user) is None
    assert await events(pool, user) == ["user.created", "user.deleted"]
    read = await gql(
        "query($id: ID!) { user(id: $id) { id } }", {"id": gid(user)}, as_user=admin, roles=ADMIN
    )
    assert read["data"]["user"] is None


async def test_an_admin_deletes_anyone(
    gql: GraphQL, make_user: MakeUser, pool: asyncpg.Pool
) -> None:
    user, admin = await make_user(), await make_user(roles=ADMIN)
    result = await mutate(gql, DELETE, "deleteUser", {"id": gid(user)}, as_user=admin, roles=ADMIN)
    assert result["__typename"] == "DeleteUserSuccess"
    assert await stored(pool, user) is None


async def test_delete_user_errors_change_nothing(
    gql: GraphQL, make_user: MakeUser, pool: asyncpg.Pool
) -> None:
    user, other, admin = await make_user(), await make_user(), await make_user(roles=ADMIN)
    async with Unchanged(pool, user):
        forbidden = await mutate(gql, DELETE, "deleteUser", {"id": gid(user)}, as_user=other)
        anonymous = await mutate(gql, DELETE, "deleteUser", {"id": gid(user)})
        conflict = await mutate(
            gql, DELETE, "deleteUser", {"id": gid(user), "expectedVersion": 5}, as_user=user
        )
        malformed = await mutate(gql, DELETE, "deleteUser", {"id": "not-an-id"}, as_user=user)
    assert forbidden["__typename"] == "Forbidden"
    assert anonymous["__typename"] == "Forbidden"
    assert conflict["__typename"] == "VersionConflict"
    assert conflict["currentVersion"] == 1
    assert malformed["__typename"] == "ValidationError"
    assert malformed["field"] == ["input", "id"]
    missing = uuid.uuid4()
    absent = await mutate(
        gql, DELETE, "deleteUser", {"id": gid(missing)}, as_user=admin, roles=ADMIN
    )
    assert absent["__typename"] == "NotFound"
    assert await events(pool, missing) == []


async def test_user_and_group_need_exactly_one_way_to_name_them(
    gql: GraphQL, make_user: Callable[..., Awaitable[uuid.UUID]]
) -> None:
    viewer = await make_user()
    for query in (
        "{ user { id } }",
        '{ user(id: "x", username: "y") { id } }',
        "{ group { id } }",
        '{ group(id: "x", slug: "y") { id } }',
    ):
        body = await gql(query, as_user=viewer)
        assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"], query
        assert "exactly one" in body["errors"][0]["message"]


async def test_a_malformed_id_in_nodes_is_that_entrys_error(
    gql: GraphQL, make_user: Callable[..., Awaitable[uuid.UUID]]
) -> None:
    """The schema promises null for what is absent: one bad id nulls its own entry,
    with an error at its path, and the others are answered."""
    viewer = await make_user()
    ids = [encode_id("User", viewer), "not an id", encode_id("User", uuid.uuid4())]
    body = await gql(
        "query($ids: [ID!]!) { nodes(ids: $ids) { id } }", {"ids": ids}, as_user=viewer
    )
    assert body["data"] == {"nodes": [{"id": ids[0]}, None, None]}
    assert [(e["path"], e["extensions"]["code"]) for e in body["errors"]] == [
        (["nodes", 1], "INVALID_ID")
    ]
