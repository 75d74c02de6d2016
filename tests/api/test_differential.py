"""Differential tests: hypothesis-generated queries, run through the planned path
(`compiled_execution=True`) and graphql-core's standard execution on a fixed
seeded dataset; both must answer with the same status and the same bytes.

The documents come from a hand-written description of the query schema (below,
checked against schema.graphql): random sub-selections, aliases, fields that
merge, named and inline fragments (also on `Node`), `__typename`, variables,
`@skip`/`@include`, and erroneous arguments (page sizes, cursors, ids), seen by
an anonymous caller, plain users and an admin.
"""

from __future__ import annotations

import base64
import json
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from accounts_gql.api.ids import encode_cursor, encode_id
from accounts_gql.core.settings import Settings
from tests.api.conftest import (
    DIFFERENTIAL,
    difference,
    planned_outcomes,
    post_both,
    token_for,
)

# The dataset -------------------------------------------------------------------------

USERS = ("alice", "bob", "carol", "dave", "erin")


@dataclass
class Seed:
    token: str
    admin: uuid.UUID
    users: dict[str, uuid.UUID]
    groups: dict[str, uuid.UUID]
    slugs: dict[str, str]
    contacts: list[uuid.UUID]
    contact_types: list[uuid.UUID]
    cursors: list[str] = field(default_factory=list)

    def user_gid(self, name: str) -> str:
        return encode_id("User", self.admin if name == "admin" else self.users[name])

    def username(self, name: str) -> str:
        return f"{name}_{self.token}"


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


async def _seed(pool: asyncpg.Pool, token: str) -> Seed:
    async def create_user(name: str, roles: list[str], profile: dict[str, Any]) -> uuid.UUID:
        user_id: uuid.UUID = await pool.fetchval(
            "SELECT id FROM accounts.create_user($1, $2, $3, $4, NULL)",
            f"{name}_{token}",
            name.title() if name != "erin" else "",
            profile,
            roles,
        )
        return user_id

    admin = await create_user("admin", ["admin"], {})
    users = {
        name: await create_user(name, [], {"city": "Berlin", "n": i} if i % 2 == 0 else {})
        for i, name in enumerate(USERS)
    }
    number = int(token, 16) % 10**9

    async def add_contact(user: str, code: str, value: str, primary: bool = False) -> uuid.UUID:
        contact_id: uuid.UUID = await pool.fetchval(
            "SELECT id FROM accounts.add_contact($1, $2, $3, $4, $5, NULL)",
            users[user],
            code,
            value,
            primary,
            code == "email",
        )
        return contact_id

    contacts = [
        await add_contact("alice", "email", f"alice.{token}@example.com"),
        await add_contact("alice", "email", f"alice2.{token}@example.com"),
        await add_contact("alice", "phone", f"+1{number:09d}1"),
        await add_contact("bob", "email", f"bob.{token}@example.com"),
        await add_contact("bob", "phone", f"+1{number:09d}2"),
        await add_contact("bob", "phone", f"+1{number:09d}3", primary=True),
        await add_contact("carol", "phone", f"+1{number:09d}4"),
        await add_contact("dave", "email", f"dave.{token}@example.com"),
    ]
    # Retired contacts: bob's first phone, alice's second email.
    for retired in (contacts[4], contacts[1]):
        await pool.execute("SELECT 1 FROM accounts.deactivate_contact($1, NULL)", retired)

    slugs = {name: f"{name}-{token}" for name in ("core", "ops", "empty")}
    owners = {"core": "alice", "ops": "bob", "empty": "carol"}
    groups: dict[str, uuid.UUID] = {}
    for name, slug in slugs.items():
        owner = users[owners[name]]
        groups[name] = await pool.fetchval(
            "SELECT id FROM accounts.create_group($1, $2, $3, $4, $4)",
            slug,
            name.title(),
            f"The {name} group" if name != "empty" else "",
            owner,
        )
    memberships = [
        ("core", "bob", "manager", "alice"),
        ("core", "carol", "member", "bob"),
        ("core", "dave", "member", "alice"),
        ("core", "erin", "owner", "alice"),
        ("ops", "alice", "member", "bob"),
        ("ops", "erin", "manager", "bob"),
    ]
    for group, user, role, actor in memberships:
        await pool.execute(
            "SELECT 1 FROM accounts.add_group_member($1, $2, $3, $4)",
            groups[group],
            users[user],
            role,
            users[actor],
        )
    await pool.execute(
        "SELECT 1 FROM accounts.add_group_member($1, $2, 'member', NULL)", groups["ops"], admin
    )
    # Deactivated users: dave, and erin (after joining her groups).
    for name in ("dave", "erin"):
        await pool.execute("SELECT 1 FROM accounts.deactivate_user($1, NULL, NULL)", users[name])
    contact_types = [row["id"] for row in await pool.fetch("SELECT id FROM accounts.contact_types")]
    return Seed(token, admin, users, groups, slugs, contacts, contact_types)


CURSORS = """query($s: String!, $o: UserOrder!, $g: GroupOrder!, $core: String!) {
  users(first: 100, filter: {search: $s}, orderBy: $o) { edges { cursor } }
  groups(first: 100, search: $s, orderBy: $g) { edges { cursor } }
  group(slug: $core) { members(first: 100) { edges { cursor } } }
}"""


@pytest.fixture(scope="module")
async def seed(pool: asyncpg.Pool, standard_client: httpx.AsyncClient, settings: Settings) -> Seed:
    """The dataset, once per module, and real cursors of its connections."""
    token = uuid.uuid4().hex[:8]
    data = await _seed(pool, token)
    headers = {"authorization": f"Bearer {token_for(settings, data.admin, ('admin',))}"}
    for user_order, group_order in (("CREATED_AT_ASC", "SLUG_DESC"), ("USERNAME_DESC", "")):
        variables = {
            "s": token,
            "o": user_order,
            "g": group_order or "CREATED_AT_ASC",
            "core": data.slugs["core"],
        }
        response = await standard_client.post(
            "/graphql", json={"query": CURSORS, "variables": variables}, headers=headers
        )
        body = response.json()
        assert "errors" not in body, body
        found = body["data"]
        for connection in (found["users"], found["groups"], found["group"]["members"]):
            data.cursors += [edge["cursor"] for edge in connection["edges"]]
    assert len(data.cursors) >= 20
    return data


# Values for arguments ----------------------------------------------------------------


class Enum(str):
    """An enum value: a bare name in a document, a string in variables."""


def literal(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Enum):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(literal(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {literal(v)}" for k, v in value.items()) + "}"
    raise TypeError(value)


def pools(seed: Seed) -> dict[str, st.SearchStrategy[Any]]:
    """What each kind of argument may be given: mostly good values, some bad ones."""
    user_ids = [seed.user_gid(name) for name in (*USERS, "admin")]
    group_ids = [encode_id("Group", group) for group in seed.groups.values()]
    contact_ids = [encode_id("Contact", contact) for contact in seed.contacts]
    type_ids = [encode_id("ContactType", t) for t in seed.contact_types]
    bad_ids = [
        "nope",
        "",
        _b64("User:not-a-uuid"),
        _b64("Spaceship:" + str(uuid.UUID(int=7))),
        encode_id("User", uuid.UUID(int=1)),
        encode_id("Group", uuid.UUID(int=2)),
        "%%%",
    ]
    bad_cursors = [
        "bm9wZQ",
        "",
        "!!",
        _b64("key\x1fnot-a-uuid"),
        _b64("2020-01-01\x1f" + str(uuid.UUID(int=3))),
    ]
    names = [seed.username(name) for name in (*USERS, "admin")]
    return {
        "user_id": st.sampled_from(user_ids + bad_ids[:1] + group_ids[:1] + bad_ids[1:]),
        "group_id": st.sampled_from(group_ids + user_ids[:1] + bad_ids),
        "any_id": st.sampled_from(user_ids + group_ids + contact_ids + type_ids + bad_ids),
        "ids": st.lists(
            st.sampled_from(user_ids + group_ids + contact_ids + type_ids + bad_ids), max_size=5
        ),
        "username": st.sampled_from(
            [*names, names[0].upper(), "nobody_" + seed.token, "", "x" * 40]
        ),
        "slug": st.sampled_from([*seed.slugs.values(), "no-such-group", ""]),
        "size": st.sampled_from([2, 1, 3, 0, 5, 100, 101, -1, None]),
        "cursor": st.sampled_from(seed.cursors + bad_cursors),
        "search": st.sampled_from(
            [seed.token, seed.username("alice"), "Carol", "", "zz-no-match", "%", "_", "core"]
        ),
        "status": st.sampled_from([Enum("ACTIVE"), Enum("DEACTIVATED")]),
        "role": st.sampled_from(["admin", "nobody"]),
        "member_role": st.sampled_from([Enum("MEMBER"), Enum("MANAGER"), Enum("OWNER")]),
        "user_order": st.sampled_from(
            [
                Enum(o)
                for o in ("CREATED_AT_ASC", "CREATED_AT_DESC", "USERNAME_ASC", "USERNAME_DESC")
            ]
        ),
        "group_order": st.sampled_from(
            [Enum(o) for o in ("CREATED_AT_ASC", "CREATED_AT_DESC", "SLUG_ASC", "SLUG_DESC")]
        ),
        "contact_type": st.sampled_from(["email", "phone", "telegram", ""]),
        "boolean": st.booleans(),
    }


# GraphQL type of each kind of argument, for variable definitions.
VARIABLE_TYPES = {
    "user_id": "ID",
    "group_id": "ID",
    "any_id": "ID!",
    "ids": "[ID!]!",
    "username": "String",
    "slug": "String",
    "size": "Int",
    "cursor": "String",
    "search": "String",
    "status": "UserStatus",
    "role": "String",
    "member_role": "MembershipRole",
    "user_order": "UserOrder!",
    "group_order": "GroupOrder!",
    "contact_type": "String",
    "contact_type!": "String!",
    "boolean": "Boolean!",
}


# The query schema ---------------------------------------------------------------------

SCALARS = {
    "Query": [],
    "User": [
        "id",
        "username",
        "displayName",
        "status",
        "roles",
        "version",
        "createdAt",
        "updatedAt",
        "profile",
    ],
    "Contact": [
        "id",
        "value",
        "isPrimary",
        "isVerified",
        "isActive",
        "createdAt",
        "updatedAt",
        "deactivatedAt",
    ],
    "ContactType": ["id", "code", "name", "validationPattern", "isUnique", "isActive", "version"],
    "Membership": ["role", "joinedAt"],
    "Group": [
        "id",
        "slug",
        "name",
        "description",
        "version",
        "createdAt",
        "updatedAt",
        "memberCount",
    ],
    "PageInfo": ["hasNextPage", "hasPreviousPage", "startCursor", "endCursor"],
    "UserConnection": ["totalCount"],
    "GroupConnection": ["totalCount"],
    "MemberConnection": [],
    "UserEdge": ["cursor"],
    "GroupEdge": ["cursor"],
    "MemberEdge": ["cursor"],
    "AuthSettings": ["signUpAllowed", "passwordMinLength", "passwordMaxLength"],
    "Node": ["id"],
}

NODE_TYPES = ("User", "Group", "Contact", "ContactType")

# (field, type, arguments, whether it costs depth): arguments name a generator below.
OBJECTS: dict[str, list[tuple[str, str, str, bool]]] = {
    "Query": [
        ("user", "User", "user", True),
        ("users", "UserConnection", "users", True),
        ("group", "Group", "group", True),
        ("groups", "GroupConnection", "groups", True),
        ("me", "User", "", True),
        ("contactTypes", "ContactType", "contact_types", True),
        ("node", "Node", "node", True),
        ("nodes", "Node", "nodes", True),
        ("authSettings", "AuthSettings", "", True),
    ],
    "User": [
        ("contacts", "Contact", "contacts", True),
        ("primaryContact", "Contact", "primary_contact", True),
        ("memberships", "Membership", "", True),
        ("groups", "GroupConnection", "page", True),
    ],
    "Contact": [("type", "ContactType", "", True), ("user", "User", "", True)],
    "ContactType": [],
    "Membership": [
        ("user", "User", "", True),
        ("group", "Group", "", True),
        ("addedBy", "User", "", True),
    ],
    "Group": [("members", "MemberConnection", "members", True)],
    "PageInfo": [],
    "UserConnection": [
        ("edges", "UserEdge", "", False),
        ("nodes", "User", "", False),
        ("pageInfo", "PageInfo", "", False),
    ],
    "GroupConnection": [
        ("edges", "GroupEdge", "", False),
        ("nodes", "Group", "", False),
        ("pageInfo", "PageInfo", "", False),
    ],
    "MemberConnection": [
        ("edges", "MemberEdge", "", False),
        ("nodes", "Membership", "", False),
        ("pageInfo", "PageInfo", "", False),
    ],
    "UserEdge": [("node", "User", "", False)],
    "GroupEdge": [("node", "Group", "", False)],
    "MemberEdge": [("node", "Membership", "", False)],
    "AuthSettings": [],
    "Node": [],
}


@dataclass
class Variable:
    name: str
    type: str  # with its default value, if any
    value: Any
    has_default: bool
    # The pool of its values (for UserFilter: of each of its fields, by field).
    kind: str | dict[str, str]


@dataclass
class Operation:
    document: str
    # The values of its variables for each request of the document: its plan
    # (if cached per document) must serve them all.
    variables: list[dict[str, Any]]
    operation_name: str | None


OTHER_OPERATIONS = [
    "query Other { me { id username } }",
    'mutation Other { logout(input: {refreshToken: "x"}) { __typename } }',
]
FILTER_KINDS = {"search": "search", "status": "status", "role": "role", "groupId": "group_id"}


class Builder:
    """Draws one operation: its selections, fragments and variables."""

    def __init__(self, draw: Callable[..., Any], seed: Seed) -> None:
        self.draw = draw
        self.pools = pools(seed)
        self.variables: list[Variable] = []
        self.fragments: dict[str, tuple[str, str]] = {}  # name -> (type, selection)
        self.aliases = 0
        self.fragment_names = 0
        # Selections left to draw before the document stops growing.
        self.budget = draw(st.integers(6, 50))
        self.misspell = self.chance(5)  # an invalid document now and then

    def chance(self, percent: int) -> bool:
        # Shrinks towards 0: towards leaving the option out.
        return bool(self.draw(st.integers(0, 99)) >= 100 - percent)

    def alias(self) -> str:
        self.aliases += 1
        return f"a{self.aliases}"

    # Values and variables

    def value(self, kind: str, value: Any = ...) -> str:
        """An argument value of `kind`: a literal, or a variable holding it."""
        pool = self.pools[kind.rstrip("!")]
        if value is ...:
            value = self.draw(pool)
        type_name = VARIABLE_TYPES[kind]
        if not self.chance(30):
            return literal(value)
        if self.variables and self.chance(20):
            same = [v.name for v in self.variables if v.type == type_name]
            if same:
                return "$" + self.draw(st.sampled_from(same))
        name = f"v{len(self.variables) + 1}"
        has_default = value is not None and self.chance(15)
        if has_default:
            type_name += f" = {literal(value)}"
        elif kind == "size" and self.chance(5):
            value = "ten"  # cannot be coerced: the request fails before execution
        self.variables.append(Variable(name, type_name, value, has_default, kind.rstrip("!")))
        return "$" + name

    def boolean(self) -> str:
        return self.value("boolean")

    # Arguments

    def page(self, first: bool = True) -> list[str]:
        args = []
        if self.chance(45 if first else 15):
            args.append(f"first: {self.value('size')}")
        if self.chance(15):
            args.append(f"last: {self.value('size')}")
        if self.chance(20):
            args.append(f"after: {self.value('cursor')}")
        if self.chance(10):
            args.append(f"before: {self.value('cursor')}")
        return args

    def arguments(self, kind: str) -> str:
        args: list[str] = []
        if kind == "user":
            which = self.draw(st.sampled_from(["id", "username", "both", "none"]))
            if which in ("id", "both"):
                args.append(f"id: {self.value('user_id')}")
            if which in ("username", "both"):
                args.append(f"username: {self.value('username')}")
        elif kind == "group":
            which = self.draw(st.sampled_from(["id", "slug", "both", "none"]))
            if which in ("id", "both"):
                args.append(f"id: {self.value('group_id')}")
            if which in ("slug", "both"):
                args.append(f"slug: {self.value('slug')}")
        elif kind == "users":
            args = self.page()
            if self.chance(80):
                args.append(f"filter: {self.user_filter()}")
            if self.chance(40):
                args.append(f"orderBy: {self.value('user_order')}")
        elif kind == "groups":
            args = self.page()
            if self.chance(70):
                args.append(f"search: {self.value('search')}")
            if self.chance(40):
                args.append(f"orderBy: {self.value('group_order')}")
        elif kind == "page":
            args = self.page(first=False)
        elif kind == "members":
            args = self.page(first=False)
            if self.chance(30):
                args.append(f"role: {self.value('member_role')}")
        elif kind == "contact_types":
            if self.chance(50):
                args.append(f"includeInactive: {self.boolean()}")
        elif kind == "contacts":
            if self.chance(40):
                args.append(f"type: {self.value('contact_type')}")
            if self.chance(40):
                args.append(f"includeInactive: {self.boolean()}")
        elif kind == "primary_contact":
            args.append(f"type: {self.value('contact_type!')}")
        elif kind == "node":
            args.append(f"id: {self.value('any_id')}")
        elif kind == "nodes":
            args.append(f"ids: {self.value('ids')}")
        return f"({', '.join(args)})" if args else ""

    def user_filter(self) -> str:
        pool = self.pools
        fields: dict[str, Any] = {}
        if self.chance(85):
            fields["search"] = self.draw(pool["search"])
        if self.chance(25):
            fields["status"] = self.draw(pool["status"])
        if self.chance(15):
            fields["role"] = self.draw(pool["role"])
        if self.chance(20):
            fields["groupId"] = self.draw(pool["group_id"])
        if self.chance(15):  # the whole filter as one variable
            name = f"v{len(self.variables) + 1}"
            kinds = {k: FILTER_KINDS[k] for k in fields}
            self.variables.append(Variable(name, "UserFilter", dict(fields), False, kinds))
            return "$" + name
        kinds = FILTER_KINDS
        inner = [f"{k}: {self.value(kinds[k], v)}" for k, v in fields.items()]
        return "{" + ", ".join(inner) + "}"

    # Selections

    def directive(self) -> str:
        if not self.chance(12):
            return ""
        name = self.draw(st.sampled_from(["skip", "include"]))
        return f" @{name}(if: {self.boolean()})"

    def selection(self, type_name: str, depth: int) -> str:
        count = self.draw(st.integers(1, 4)) if self.budget > 0 else 1
        items = [self.item(type_name, depth) for _ in range(count)]
        return "{ " + " ".join(items) + " }"

    def item(self, type_name: str, depth: int) -> str:
        self.budget -= 1
        growing = self.budget > 0
        objects = [f for f in OBJECTS[type_name] if (depth > 0 and growing) or not f[3]]
        scalars = SCALARS[type_name]
        kinds = []
        if scalars:
            kinds += ["scalar"] * 3
        if objects:
            kinds += ["object"] * 3
        kinds += ["typename"]
        if growing and type_name in (*NODE_TYPES, "Node"):
            kinds += ["inline", "fragment", "node_fragment"]
        if objects and growing:
            kinds += ["merge"]
        kind = self.draw(st.sampled_from(kinds))
        if kind == "scalar":
            name = self.draw(st.sampled_from(scalars))
            if self.misspell:
                self.misspell, name = False, "noSuchField"
            alias = f"{self.alias()}: " if self.chance(15) else ""
            return f"{alias}{name}{self.directive()}"
        if kind == "typename":
            alias = f"{self.alias()}: " if self.chance(15) else ""
            return f"{alias}__typename{self.directive()}"
        if kind in ("object", "merge"):
            name, child, arguments, costs = self.draw(st.sampled_from(objects))
            args = self.arguments(arguments)
            alias = f"{self.alias()}: " if args or self.chance(15) else ""
            below = depth - 1 if costs else depth
            first = f"{alias}{name}{args}{self.directive()} {self.selection(child, below)}"
            if kind == "object":
                return first
            # The same response key again, same arguments, another selection: they merge.
            return f"{first} {alias}{name}{args}{self.directive()} {self.selection(child, below)}"
        if kind == "inline":
            if type_name == "Node":
                target = self.draw(st.sampled_from([*NODE_TYPES, "Node"]))
            else:
                target = self.draw(st.sampled_from([type_name, "Node"]))
            condition = "" if target == type_name and self.chance(30) else f" on {target}"
            return f"...{condition}{self.directive()} {self.selection(target, depth)}"
        # A named fragment: an existing one of a type that fits, or a new one.
        if kind == "node_fragment":
            target = "Node"
        elif type_name == "Node":
            target = self.draw(st.sampled_from(NODE_TYPES))
        else:
            target = type_name
        existing = [name for name, (on, _) in self.fragments.items() if on == target]
        if existing and self.chance(50):
            name = self.draw(st.sampled_from(existing))
        else:
            # Registered once complete, so that it cannot spread itself.
            self.fragment_names += 1
            name = f"F{self.fragment_names}"
            selection = self.selection(target, depth)
            self.fragments[name] = (target, selection)
        return f"...{name}{self.directive()}"

    def operation(self) -> Operation:
        depth = self.draw(st.integers(1, 4))
        root = self.selection("Query", depth)
        definitions = [f"${v.name}: {v.type}" for v in self.variables]
        values = [{v.name: v.value for v in self.variables if not v.has_default}]
        if self.variables:
            values += [self.redraw() for _ in range(self.draw(st.integers(0, 2)))]
        # Now and then another operation beside it, chosen out by operationName.
        other = self.draw(st.sampled_from(OTHER_OPERATIONS)) if self.chance(8) else None
        named = bool(definitions) or other is not None or self.chance(30)
        name = "Q" if other is not None or (named and self.chance(70)) else None
        head = ""
        if named:
            head = "query" + (f" {name}" if name else "")
            if definitions:
                head += "(" + ", ".join(definitions) + ")"
            head += " "
        fragments = [f"fragment {n} on {on} {sel}" for n, (on, sel) in self.fragments.items()]
        document = "\n".join([head + root, *fragments, *([other] if other else [])])
        if other is not None:
            operation_name = "Q" if not self.chance(10) else None
        else:
            operation_name = name if name and self.chance(50) else None
        return Operation(document, values, operation_name)

    def redraw(self) -> dict[str, Any]:
        """Other values for the variables (those with defaults left out or given)."""
        values: dict[str, Any] = {}
        for variable in self.variables:
            if variable.has_default and not self.chance(50):
                continue
            if isinstance(variable.kind, dict):
                values[variable.name] = {
                    key: self.draw(self.pools[kind]) for key, kind in variable.kind.items()
                }
            else:
                values[variable.name] = self.draw(self.pools[variable.kind])
        return values


@st.composite
def operations(draw: Callable[..., Any], seed: Seed) -> Operation:
    return Builder(draw, seed).operation()


VIEWERS = ("anonymous", "alice", "carol", "dave", "admin")


def headers_for(settings: Settings, seed: Seed, viewer: str) -> dict[str, str]:
    headers = {"accept": "application/graphql-response+json"}
    if viewer == "admin":
        token = token_for(settings, seed.admin, ("admin",))
        headers["authorization"] = f"Bearer {token}"
    elif viewer != "anonymous":
        headers["authorization"] = f"Bearer {token_for(settings, seed.users[viewer])}"
    return headers


def outcome(response: httpx.Response) -> str:
    """A short description of an answer, to show what the generated operations reach."""
    try:
        body = response.json()
    except ValueError:
        return f"{response.status_code} not JSON"
    if not isinstance(body, dict):
        return f"{response.status_code} batch"
    parts = [key for key in ("data", "errors") if body.get(key) is not None]
    codes = {
        (error.get("extensions") or {}).get("code", "-")
        for error in body.get("errors") or []
        if isinstance(error, dict)
    }
    return f"{response.status_code} {'+'.join(parts) or 'null'}" + (
        f" [{','.join(sorted(codes))}]" if codes and response.status_code == 200 else ""
    )


def fail(kind: str, message: str) -> None:
    """Raised from a line per kind, so that hypothesis reports each kind of difference."""
    if kind == "status":
        raise AssertionError(message)
    if "another order" in message:
        raise AssertionError(message)
    raise AssertionError(message)


@hypothesis_settings(
    # DIFFERENTIAL_EXAMPLES=3000 for a longer hunt.
    max_examples=int(os.environ.get("DIFFERENTIAL_EXAMPLES", "300")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_generated_queries_answer_the_same_on_both_paths(
    client: httpx.AsyncClient,
    standard_client: httpx.AsyncClient,
    settings: Settings,
    seed: Seed,
    data: st.DataObject,
) -> None:
    operation = data.draw(operations(seed), label="operation")
    for variables in operation.variables:
        viewer = data.draw(st.sampled_from(VIEWERS), label="viewer")
        await compare(client, standard_client, settings, seed, operation, variables, viewer)


async def compare(
    client: httpx.AsyncClient,
    standard_client: httpx.AsyncClient,
    settings: Settings,
    seed: Seed,
    operation: Operation,
    variables: dict[str, Any],
    viewer: str,
) -> None:
    body: dict[str, Any] = {"query": operation.document, "variables": variables}
    if operation.operation_name is not None:
        body["operationName"] = operation.operation_name
    paths = planned_outcomes()
    planned, standard = await post_both(
        client, standard_client, body, headers_for(settings, seed, viewer)
    )
    DIFFERENTIAL.generated_paths.update(planned_outcomes() - paths)
    DIFFERENTIAL.generated_compared += 1
    DIFFERENTIAL.generated_outcomes[outcome(planned)] += 1
    differs = difference(planned, standard)
    if differs is None and "INTERNAL_SERVER_ERROR" in planned.text:
        # The same on both paths, and wrong on both: a fault is never the answer.
        differs = "an internal error"
    if differs is None:
        return
    DIFFERENTIAL.generated_differences += 1
    DIFFERENTIAL.generated_failing.add(json.dumps([body, viewer], sort_keys=True))
    kind = "status" if planned.status_code != standard.status_code else "body"
    fail(
        kind,
        f"{differs}\nviewer: {viewer}\ndocument:\n{operation.document}\n"
        f"variables: {json.dumps(variables)}\noperationName: {operation.operation_name}",
    )


async def test_a_plan_that_gives_up_answers_as_graphql_core_alone(
    client: httpx.AsyncClient,
    standard_client: httpx.AsyncClient,
    settings: Settings,
    seed: Seed,
) -> None:
    """A case a longer hunt found: `a1` fails and nulls the data while `a2.a3` fails
    too. graphql-core alone reports `a1`'s error only, as `a2` still waits for its
    user; the rerun after the plan gave up, with that user cached, reported both."""
    cursor = encode_cursor(f"ops-{seed.token}", uuid.uuid4())  # of neither connection
    document = (
        "query($v1: String) { a1: users(after: $v1) { edges { node { id } } } "
        f'a2: user(id: "{seed.user_gid("alice")}") {{ a3: groups(after: "{cursor}") '
        "{ totalCount } id } }"
    )
    operation = Operation(document, [{"v1": cursor}], None)
    for _ in range(3):
        await compare(client, standard_client, settings, seed, operation, {"v1": cursor}, "alice")


def test_a_difference_shows_both_bodies_and_names_a_reordering() -> None:
    """The comparison itself: equal bytes pass; reordered errors are still a difference."""
    one = b'{"errors":[{"message":"a"},{"message":"b"}],"data":null}'
    other = b'{"errors":[{"message":"b"},{"message":"a"}],"data":null}'
    assert difference(httpx.Response(200, content=one), httpx.Response(200, content=one)) is None
    reordered = difference(httpx.Response(200, content=one), httpx.Response(200, content=other))
    assert reordered is not None
    assert "another order" in reordered
    assert one.decode() in reordered
    assert other.decode() in reordered
    spaced = difference(
        httpx.Response(200, content=b'{"data":1}'), httpx.Response(200, content=b'{"data": 1}')
    )
    assert spaced is not None
    assert "other bytes" in spaced
    status = difference(httpx.Response(200, content=one), httpx.Response(400, content=one))
    assert status is not None
    assert "400" in status
