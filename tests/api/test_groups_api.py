"""Group and membership mutations over GraphQL: each success, each typed error,
and that a failed mutation leaves the group as it was and records no event."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from accounts_gql.api.ids import encode_id
from tests.api.conftest import GraphQL

MakeUser = Callable[..., Awaitable[uuid.UUID]]
ADMIN = ("admin",)

ERRORS = """
    ... on Error { message }
    ... on ValidationError { field }
"""
GROUP = "group { id slug name description version memberCount }"

CREATE = f"""mutation($input: CreateGroupInput!) {{
  createGroup(input: $input) {{ __typename ... on GroupPayloadSuccess {{ {GROUP} }} {ERRORS} }}
}}"""
UPDATE = f"""mutation($input: UpdateGroupInput!) {{
  updateGroup(input: $input) {{
    __typename ... on GroupPayloadSuccess {{ {GROUP} }} {ERRORS}
    ... on VersionConflict {{ currentVersion }}
  }}
}}"""
DELETE = f"""mutation($input: DeleteGroupInput!) {{
  deleteGroup(input: $input) {{
    __typename ... on DeleteGroupSuccess {{ deletedGroupId }} {ERRORS}
    ... on VersionConflict {{ currentVersion }}
  }}
}}"""
MEMBERSHIP = "membership { role user { id } group { id memberCount } addedBy { id } }"
ADD = f"""mutation($input: AddGroupMemberInput!) {{
  addGroupMember(input: $input) {{
    __typename ... on MembershipPayloadSuccess {{ {MEMBERSHIP} }} {ERRORS}
  }}
}}"""
CHANGE = f"""mutation($input: ChangeMemberRoleInput!) {{
  changeMemberRole(input: $input) {{
    __typename ... on MembershipPayloadSuccess {{ {MEMBERSHIP} }} {ERRORS}
  }}
}}"""
REMOVE = f"""mutation($input: RemoveGroupMemberInput!) {{
  removeGroupMember(input: $input) {{
    __typename
    ... on RemoveGroupMemberSuccess {{ group {{ id memberCount }} user {{ id }} }}
    {ERRORS}
  }}
}}"""


def user_gid(user_id: uuid.UUID) -> str:
    return encode_id("User", user_id)


def group_gid(group_id: uuid.UUID) -> str:
    return encode_id("Group", group_id)


async def events(pool: asyncpg.Pool, group_id: uuid.UUID) -> list[str]:
    rows = await pool.fetch(
        "SELECT event_type FROM accounts.outbox"
        " WHERE aggregate_type = 'group' AND aggregate_id = $1 ORDER BY sequence",
        group_id,
    )
    return [row["event_type"] for row in rows]


async def stored(pool: asyncpg.Pool, group_id: uuid.UUID) -> dict[str, Any] | None:
    """The group's row and its members' roles as stored (None once deleted)."""
    row = await pool.fetchrow(
        "SELECT slug, name, description, version, updated_at FROM accounts.user_groups"
        " WHERE id = $1",
        group_id,
    )
    if row is None:
        return None
    members = await pool.fetch(
        "SELECT user_id, role FROM accounts.user_group_memberships WHERE group_id = $1",
        group_id,
    )
    return dict(row) | {"members": {m["user_id"]: m["role"] for m in members}}


class Unchanged:
    """Remembers a group (row, members) and its events; asserts on exit that neither moved."""

    def __init__(self, pool: asyncpg.Pool, group_id: uuid.UUID) -> None:
        self.pool = pool
        self.group_id = group_id
        self.state: dict[str, Any] | None = None
        self.events: list[str] = []

    async def __aenter__(self) -> Unchanged:
        self.state = await stored(self.pool, self.group_id)
        self.events = await events(self.pool, self.group_id)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if exc[0] is None:
            assert await stored(self.pool, self.group_id) == self.state
            assert await events(self.pool, self.group_id) == self.events


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


async def new_group(
    pool: asyncpg.Pool, owner: uuid.UUID, unique: str, members: dict[uuid.UUID, str] | None = None
) -> uuid.UUID:
    """A group owned by `owner` with the given further members (set-up, in the database)."""
    slug = f"g-{unique}-{uuid.uuid4().hex[:6]}"
    group_id: uuid.UUID = await pool.fetchval(
        "SELECT id FROM accounts.create_group($1, $2, '', $3, $3)", slug, slug.title(), owner
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


# createGroup -----------------------------------------------------------------


async def test_a_user_creates_a_group_and_owns_it(
    gql: GraphQL, make_user: MakeUser, pool: asyncpg.Pool, unique: str
) -> None:
    user = await make_user()
    result = await mutate(
        gql,
        CREATE,
        "createGroup",
        {"slug": f"team-{unique}", "name": "  The Team ", "description": "We build."},
        as_user=user,
    )
    assert result["__typename"] == "GroupPayloadSuccess"
    group = result["group"]
    assert group["slug"] == f"team-{unique}"
    assert group["name"] == "The Team"
    assert group["description"] == "We build."
    assert group["version"] == 1
    assert group["memberCount"] == 1
    group_id = await pool.fetchval(
        "SELECT id FROM accounts.user_groups WHERE slug = $1", f"team-{unique}"
    )
    assert group["id"] == group_gid(group_id)
    assert (await stored(pool, group_id) or {})["members"] == {user: "owner"}
    assert await events(pool, group_id) == ["group.created", "membership.added"]


async def _no_group(pool: asyncpg.Pool, slug: str) -> bool:
    groups = await pool.fetchval("SELECT count(*) FROM accounts.user_groups WHERE slug = $1", slug)
    created = await pool.fetchval(
        "SELECT count(*) FROM accounts.outbox WHERE event_type = 'group.created'"
        " AND payload -> 'group' ->> 'slug' = $1",
        slug,
    )
    return bool(groups == 0 and created == 0)


async def test_create_group_errors_create_nothing(
    gql: GraphQL, make_user: MakeUser, pool: asyncpg.Pool, unique: str
) -> None:
    user = await make_user()
    cases = [
        ({"slug": f"Bad Slug {unique}", "name": "x"}, ["input", "slug"]),
        ({"slug": f"-{unique}", "name": "x"}, ["input", "slug"]),
        ({"slug": f"ok-{unique}", "name": "   "}, ["input", "name"]),
        ({"slug": f"ok-{unique}", "name": "n" * 101}, ["input", "name"]),
        (
            {"slug": f"ok-{unique}", "name": "x", "description": "d" * 1001},
            ["input", "description"],
        ),
    ]
    for input, field in cases:
        result = await mutate(gql, CREATE, "createGroup", input, as_user=user)
        assert result["__typename"] == "ValidationError", input
        assert result["field"] == field, input
    anonymous = await mutate(gql, CREATE, "createGroup", {"slug": f"ok-{unique}", "name": "x"})
    assert anonymous["__typename"] == "Forbidden"
    assert await _no_group(pool, f"ok-{unique}")

    existing = await new_group(pool, user, unique)
    slug = (await stored(pool, existing) or {})["slug"]
    async with Unchanged(pool, existing):
        taken = await mutate(gql, CREATE, "createGroup", {"slug": slug, "name": "x"}, as_user=user)
    assert taken["__typename"] == "SlugTaken"
    assert taken["message"]


# updateGroup -----------------------------------------------------------------


async def test_a_manager_updates_the_group(
    gql: GraphQL, make_user: MakeUser, pool: asyncpg.Pool, unique: str
) -> None:
    owner, manager = await make_user(), await make_user()
    group = await new_group(pool, owner, unique, {manager: "manager"})
    result = await mutate(
        gql,
        UPDATE,
        "updateGroup",
        {
            "id": group_gid(group),
            "slug": f"renamed-{unique}",
            "name": "Renamed",
            "description": "New words",
            "expectedVersion": 1,
        },
        as_user=manager,
    )
    assert result["__typename"] == "GroupPayloadSuccess"
    assert result["group"]["slug"] == f"renamed-{unique}"
    assert result["group"]["name"] == "Renamed"
    assert result["group"]["version"] == 2
    assert result["group"]["memberCount"] == 2
    assert (await stored(pool, group) or {})["description"] == "New words"
    assert (await events(pool, group))[-1] == "group.updated"


async def test_update_group_errors_change_nothing(
    gql: GraphQL, make_user: MakeUser, pool: asyncpg.Pool, unique: str
) -> None:
    owner, member, outsider = await make_user(), await make_user(), await make_user()
    admin = await make_user(roles=ADMIN)
    group = await new_group(pool, owner, unique, {member: "member"})
    other = await new_group(pool, owner, unique)
    other_slug = (await stored(pool, other) or {})["slug"]
    gid = group_gid(group)
    cases: list[tuple[dict[str, Any], uuid.UUID, str, list[str] | None]] = [
        ({"id": gid, "slug": "NOT OK"}, owner, "ValidationError", ["input", "slug"]),
        ({"id": gid, "name": ""}, owner, "ValidationError", ["input", "name"]),
        ({"id": user_gid(group), "name": "x"}, owner, "ValidationError", ["input", "id"]),
        ({"id": "???", "name": "x"}, owner, "ValidationError", ["input", "id"]),
        ({"id": gid, "slug": other_slug}, owner, "SlugTaken", None),
        ({"id": gid, "name": "x", "expectedVersion": 3}, owner, "VersionConflict", None),
        ({"id": gid, "name": "x"}, member, "Forbidden", None),
        ({"id": gid, "name": "x"}, outsider, "Forbidden", None),
    ]
    for input, caller, expected, field in cases:
        async with Unchanged(pool, group), Unchanged(pool, other):
            result = await mutate(gql, UPDATE, "updateGroup", input, as_user=caller)
        assert result["__typename"] == expected, (input, result)
        assert result["message"]
        if field is not None:
            assert result["field"] == field
        if expected == "VersionConflict":
            assert result["currentVersion"] == 1
    anonymous = await mutate(gql, UPDATE, "updateGroup", {"id": gid, "name": "x"})
    assert anonymous["__typename"] == "Forbidden"
    missing = uuid.uuid4()
    absent = await mutate(
        gql,
        UPDATE,
        "updateGroup",
        {"id": group_gid(missing), "name": "x"},
        as_user=admin,
        roles=ADMIN,
    )
    assert absent["__typename"] == "NotFound"
    assert await events(pool, missing) == []


# deleteGroup -----------------------------------------------------------------


async def test_an_owner_deletes_the_group(
    gql: GraphQL, make_user: MakeUser, pool: asyncpg.Pool, unique: str
) -> None:
    owner, member = await make_user(), await make_user()
    group = await new_group(pool, owner, unique, {member: "member"})
    result = await mutate(
        gql, DELETE, "deleteGroup", {"id": group_gid(group), "expectedVersion": 1}, as_user=owner
    )
    assert result == {"__typename": "DeleteGroupSuccess", "deletedGroupId": group_gid(group)}
    assert await stored(pool, group) is None
    assert (await events(pool, group))[-1] == "group.deleted"
    read = await gql(
        "query($id: ID!) { group(id: $id) { id } }", {"id": group_gid(group)}, as_user=owner
    )
    assert read["data"]["group"] is None
    me = await gql(
        "query($id: ID!) { user(id: $id) { memberships { role } } }",
        {"id": user_gid(member)},
        as_user=member,
    )
    assert me["data"]["user"]["memberships"] == []


async def test_delete_group_errors_change_nothing(
    gql: GraphQL, make_user: MakeUser, pool: asyncpg.Pool, unique: str
) -> None:
    owner, manager = await make_user(), await make_user()
    admin = await make_user(roles=ADMIN)
    group = await new_group(pool, owner, unique, {manager: "manager"})
    gid = group_gid(group)
    async with Unchanged(pool, group):
        by_manager = await mutate(gql, DELETE, "deleteGroup", {"id": gid}, as_user=manager)
        anonymous = await mutate(gql, DELETE, "deleteGroup", {"id": gid})
        conflict = await mutate(
            gql, DELETE, "deleteGroup", {"id": gid, "expectedVersion": 2}, as_user=owner
        )
        wrong = await mutate(gql, DELETE, "deleteGroup", {"id": user_gid(group)}, as_user=owner)
    assert by_manager["__typename"] == "Forbidden"
    assert anonymous["__typename"] == "Forbidden"
    assert conflict["__typename"] == "VersionConflict"
    assert conflict["currentVersion"] == 1
    assert wrong["__typename"] == "ValidationError"
    assert wrong["field"] == ["input", "id"]
    absent = await mutate(
        gql, DELETE, "deleteGroup", {"id": group_gid(uuid.uuid4())}, as_user=admin, roles=ADMIN
    )
    assert absent["__typename"] == "NotFound"


async def test_an_admin_deletes_any_group(
    gql: GraphQL, make_user: MakeUser, pool: asyncpg.Pool, unique: str
) -> None:
    owner, admin = await make_user(), await make_user(roles=ADMIN)
    group = await new_group(pool, owner, unique)
    result = await mutate(
        gql, DELETE, "deleteGroup", {"id": group_gid(group)}, as_user=admin, roles=ADMIN
    )
    assert result["__typename"] == "DeleteGroupSuccess"
    assert await stored(pool, group) is None


# addGroupMember --------------------------------------------------------------


async def test_a_manager_adds_a_member(
    gql: GraphQL, make_user: MakeUser, pool: asyncpg.Pool, unique: str
) -> None:
    owner, manager, newcomer = await make_user(), await make_user(), await make_user()
    group = await new_group(pool, owner, unique, {manager: "manager"})
    result = await mutate(
        gql,
        ADD,
        "addGroupMember",
        {"groupId": group_gid(group), "userId": user_gid(newcomer)},
        as_user=manager,
    )
    assert result["__typename"] == "MembershipPayloadSuccess"
    membership = result["membership"]
    assert membership["role"] == "MEMBER"
    assert membership["user"] == {"id": user_gid(newcomer)}
    assert membership["group"] == {"id": group_gid(group), "memberCount": 3}
    assert membership["addedBy"] == {"id": user_gid(manager)}
    assert (await stored(pool, group) or {})["members"][newcomer] == "member"
    assert (await events(pool, group))[-1] == "membership.added"


async def test_add_group_member_errors_change_nothing(
    gql: GraphQL, make_user: MakeUser, pool: asyncpg.Pool, unique: str
) -> None:
    owner, manager, member = await make_user(), await make_user(), await make_user()
    newcomer, retired = await make_user(), await make_user()
    admin = await make_user(roles=ADMIN)
    await pool.execute("SELECT 1 FROM accounts.deactivate_user($1, NULL)", retired)
    group = await new_group(pool, owner, unique, {manager: "manager", member: "member"})
    gid = group_gid(group)
    cases: list[tuple[dict[str, Any], uuid.UUID, str, list[str] | None]] = [
        ({"groupId": gid, "userId": user_gid(member)}, manager, "AlreadyMember", None),
        ({"groupId": gid, "userId": user_gid(uuid.uuid4())}, manager, "NotFound", None),
        ({"groupId": gid, "userId": user_gid(retired)}, manager, "InvalidState", None),
        ({"groupId": gid, "userId": user_gid(newcomer)}, member, "Forbidden", None),
        (
            {"groupId": gid, "userId": user_gid(newcomer), "role": "OWNER"},
            manager,
            "Forbidden",
            None,
        ),
        (
            {"groupId": gid, "userId": group_gid(newcomer)},
            manager,
            "ValidationError",
            ["input", "userId"],
        ),
        (
            {"groupId": user_gid(group), "userId": user_gid(newcomer)},
            manager,
            "ValidationError",
            ["input", "groupId"],
        ),
    ]
    for input, caller, expected, field in cases:
        async with Unchanged(pool, group):
            result = await mutate(gql, ADD, "addGroupMember", input, as_user=caller)
        assert result["__typename"] == expected, (input, result)
        assert result["message"]
        if field is not None:
            assert result["field"] == field
    missing = uuid.uuid4()
    absent = await mutate(
        gql,
        ADD,
        "addGroupMember",
        {"groupId": group_gid(missing), "userId": user_gid(newcomer)},
        as_user=admin,
        roles=ADMIN,
    )
    assert absent["__typename"] == "NotFound"
    assert await events(pool, missing) == []


# changeMemberRole ------------------------------------------------------------


async def test_a_manager_promotes_a_member_to_manager(
    gql: GraphQL, make_user: MakeUser, pool: asyncpg.Pool, unique: str
) -> None:
    owner, manager, member = await make_user(), await make_user(), await make_user()
    group = await new_group(pool, owner, unique, {manager: "manager", member: "member"})
    result = await mutate(
        gql,
        CHANGE,
        "changeMemberRole",
        {"groupId": group_gid(group), "userId": user_gid(member), "role": "MANAGER"},
        as_user=manager,
    )
    assert result["__typename"] == "MembershipPayloadSuccess"
    assert result["membership"]["role"] == "MANAGER"
    assert (await stored(pool, group) or {})["members"][member] == "manager"
    assert (await events(pool, group))[-1] == "membership.role_changed"


async def test_change_member_role_errors_change_nothing(
    gql: GraphQL, make_user: MakeUser, pool: asyncpg.Pool, unique: str
) -> None:
    owner, manager, member, outsider = (
        await make_user(),
        await make_user(),
        await make_user(),
        await make_user(),
    )
    group = await new_group(pool, owner, unique, {manager: "manager", member: "member"})
    gid = group_gid(group)
    cases: list[tuple[dict[str, Any], uuid.UUID, str, list[str] | None]] = [
        (
            {"groupId": gid, "userId": user_gid(outsider), "role": "MANAGER"},
            owner,
            "NotFound",
            None,
        ),
        (
            {"groupId": gid, "userId": user_gid(owner), "role": "MEMBER"},
            owner,
            "InvalidState",
            None,
        ),
        (
            {"groupId": gid, "userId": user_gid(member), "role": "MANAGER"},
            member,
            "Forbidden",
            None,
        ),
        ({"groupId": gid, "userId": user_gid(member), "role": "OWNER"}, manager, "Forbidden", None),
        ({"groupId": gid, "userId": user_gid(owner), "role": "MEMBER"}, manager, "Forbidden", None),
        (
            {"groupId": gid, "userId": "x", "role": "MEMBER"},
            owner,
            "ValidationError",
            ["input", "userId"],
        ),
    ]
    for input, caller, expected, field in cases:
        async with Unchanged(pool, group):
            result = await mutate(gql, CHANGE, "changeMemberRole", input, as_user=caller)
        assert result["__typename"] == expected, (input, result)
        assert result["message"]
        if field is not None:
            assert result["field"] == field


# removeGroupMember -----------------------------------------------------------


async def test_a_manager_removes_a_member_and_a_member_leaves(
    gql: GraphQL, make_user: MakeUser, pool: asyncpg.Pool, unique: str
) -> None:
    owner, manager, first, second = (
        await make_user(),
        await make_user(),
        await make_user(),
        await make_user(),
    )
    group = await new_group(
        pool, owner, unique, {manager: "manager", first: "member", second: "member"}
    )
    removed = await mutate(
        gql,
        REMOVE,
        "removeGroupMember",
        {"groupId": group_gid(group), "userId": user_gid(first)},
        as_user=manager,
    )
    assert removed == {
        "__typename": "RemoveGroupMemberSuccess",
        "group": {"id": group_gid(group), "memberCount": 3},
        "user": {"id": user_gid(first)},
    }
    left = await mutate(
        gql,
        REMOVE,
        "removeGroupMember",
        {"groupId": group_gid(group), "userId": user_gid(second)},
        as_user=second,
    )
    assert left["__typename"] == "RemoveGroupMemberSuccess"
    assert set((await stored(pool, group) or {})["members"]) == {owner, manager}
    assert (await events(pool, group))[-2:] == ["membership.removed", "membership.removed"]


async def test_remove_group_member_errors_change_nothing(
    gql: GraphQL, make_user: MakeUser, pool: asyncpg.Pool, unique: str
) -> None:
    owner, manager, member, outsider = (
        await make_user(),
        await make_user(),
        await make_user(),
        await make_user(),
    )
    group = await new_group(pool, owner, unique, {manager: "manager", member: "member"})
    gid = group_gid(group)
    cases: list[tuple[dict[str, Any], uuid.UUID, str, list[str] | None]] = [
        ({"groupId": gid, "userId": user_gid(outsider)}, owner, "NotFound", None),
        ({"groupId": gid, "userId": user_gid(owner)}, owner, "InvalidState", None),
        ({"groupId": gid, "userId": user_gid(manager)}, member, "Forbidden", None),
        ({"groupId": gid, "userId": user_gid(owner)}, manager, "Forbidden", None),
        ({"groupId": gid, "userId": user_gid(member)}, outsider, "Forbidden", None),
        (
            {"groupId": user_gid(group), "userId": user_gid(member)},
            owner,
            "ValidationError",
            ["input", "groupId"],
        ),
    ]
    for input, caller, expected, field in cases:
        async with Unchanged(pool, group):
            result = await mutate(gql, REMOVE, "removeGroupMember", input, as_user=caller)
        assert result["__typename"] == expected, (input, result)
        assert result["message"]
        if field is not None:
            assert result["field"] == field
