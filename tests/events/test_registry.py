"""The registry describes the payloads the stored functions really write (PRODUCT §5).

Every write function of sql/0002–0004 runs once; each outbox row it records must
name a registered type of the right aggregate, and its payload must satisfy the
type's JSON Schema (checked by a small validator of the keywords the registry uses).
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any

import asyncpg

from accounts_gql.events import outbox
from accounts_gql.events.registry import EVENT_TYPES, STATES

_TYPES = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "integer": int,
    "null": type(None),
}


def _errors(value: Any, schema: dict[str, Any], path: str = "data") -> list[str]:
    if "$ref" in schema:
        return _errors(value, STATES[schema["$ref"].rsplit("/", 1)[1]], path)
    problems: list[str] = []
    if "type" in schema:
        names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        ok = any(
            isinstance(value, _TYPES[n]) and not (n == "integer" and isinstance(value, bool))
            for n in names
        )
        if not ok:
            return [f"{path}: {value!r} is not {names}"]
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{path}: {value!r} not in {schema['enum']}")
    if isinstance(value, str):
        if schema.get("format") == "uuid":
            uuid.UUID(value)
        if schema.get("format") == "date-time":
            datetime.fromisoformat(value)
        if "pattern" in schema and not re.search(schema["pattern"], value):
            problems.append(f"{path}: {value!r} does not match {schema['pattern']}")
    if isinstance(value, dict) and "properties" in schema:
        for key in schema.get("required", []):
            if key not in value:
                problems.append(f"{path}: missing {key}")
        for key, item in value.items():
            if key in schema["properties"]:
                problems += _errors(item, schema["properties"][key], f"{path}.{key}")
            elif schema.get("additionalProperties") is False:
                problems.append(f"{path}: unexpected {key}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            problems += _errors(item, schema["items"], f"{path}[{i}]")
    return problems


async def test_every_write_emits_registered_events_with_valid_data(
    pool: asyncpg.Pool, unique: str
) -> None:
    async with pool.acquire() as db:
        admin = await db.fetchval(
            "SELECT (accounts.create_user($1, 'Admin', '{}', '{admin}', NULL)).id", f"adm_{unique}"
        )
        user = await db.fetchval(
            "SELECT (accounts.create_user($1, 'Reg', '{\"a\": 1}', '{}', $2)).id",
            f"reg_{unique}",
            admin,
        )
        await db.execute(
            "SELECT 1 FROM accounts.update_user($1, NULL, 'Reg Two', NULL, NULL, $2)", user, admin
        )
        await db.execute(
            'SELECT 1 FROM accounts.update_user_profile($1, \'{"a": null, "b": 2}\', NULL, $2)',
            user,
            admin,
        )
        await db.execute("SELECT 1 FROM accounts.deactivate_user($1, $2)", user, admin)
        await db.execute("SELECT 1 FROM accounts.reactivate_user($1, $2)", user, admin)
        first = await db.fetchval(
            "SELECT (accounts.add_contact($1, 'email', $2, true, false, $3)).id",
            user,
            f"a_{unique}@example.com",
            admin,
        )
        second = await db.fetchval(
            "SELECT (accounts.add_contact($1, 'email', $2, false, false, $3)).id",
            user,
            f"b_{unique}@example.com",
            admin,
        )
        await db.execute("SELECT 1 FROM accounts.update_contact($1, NULL, true, $2)", second, admin)
        await db.execute("SELECT 1 FROM accounts.set_primary_contact($1, $2)", second, admin)
        await db.execute("SELECT 1 FROM accounts.deactivate_contact($1, $2)", first, admin)
        kind = await db.fetchval(
            "SELECT (accounts.create_contact_type($1, 'Kind', NULL, false, $2)).id",
            f"k_{unique}",
            admin,
        )
        await db.execute(
            "SELECT 1 FROM accounts.update_contact_type($1, 'Kind 2', '^x', NULL, NULL, NULL, $2)",
            kind,
            admin,
        )
        group = await db.fetchval(
            "SELECT (accounts.create_group($1, 'Group', '', $2, $2)).id", f"g-{unique}", admin
        )
        await db.execute(
            "SELECT 1 FROM accounts.update_group($1, NULL, 'Group 2', 'about', NULL, $2)",
            group,
            admin,
        )
        await db.execute(
            "SELECT 1 FROM accounts.add_group_member($1, $2, 'member', $3)", group, user, admin
        )
        await db.execute(
            "SELECT 1 FROM accounts.change_member_role($1, $2, 'manager', $3)", group, user, admin
        )
        await db.execute(
            "SELECT 1 FROM accounts.remove_group_member($1, $2, $3)", group, user, admin
        )
        await db.execute("SELECT 1 FROM accounts.delete_group($1, NULL, $2)", group, admin)
        session = await db.fetchval(
            "SELECT (accounts.open_session($1, sha256($2::bytea), 3600, 'a browser', '192.0.2.1'))"
            ".family_id",
            user,
            unique.encode(),
        )
        await db.execute("SELECT 1 FROM accounts.end_session($1, 'revoked', $2)", session, admin)
        # One-time codes: contact verification and password recovery.
        unverified = await db.fetchval(
            "SELECT (accounts.add_contact($1, 'email', $2, false, false, $3)).id",
            user,
            f"v_{unique}@example.com",
            admin,
        )
        await db.execute(
            "SELECT accounts.request_contact_verification($1, '123456', 600, 5, 60, 5, $2)",
            unverified,
            admin,
        )
        await db.execute("SELECT accounts.verify_contact($1, '123456', $2)", unverified, admin)
        argon2 = "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g"
        await db.execute("SELECT accounts.set_password($1, $2, $3)", user, argon2, admin)
        await db.execute(
            "SELECT accounts.request_password_reset($1, '654321', 600, 5, 60, 5)", f"reg_{unique}"
        )
        await db.execute(
            "SELECT accounts.reset_password($1, '654321', $2)", f"reg_{unique}", argon2
        )
        # The erasure removes a membership and an active contact by cascade.
        kept = await db.fetchval(
            "SELECT (accounts.create_group($1, 'Kept', '', $2, $2)).id", f"k-{unique}", admin
        )
        await db.execute(
            "SELECT 1 FROM accounts.add_group_member($1, $2, 'member', $3)", kept, user, admin
        )
        await db.execute("SELECT 1 FROM accounts.delete_user($1, NULL, $2)", user, admin)

    mine = {user, admin, group, kind, kept}
    rows = [r for r in await outbox.list_rows(pool, "all", 100_000) if r.aggregate_id in mine]
    assert {r.event_type for r in rows} == set(EVENT_TYPES)
    for row in rows:
        event = EVENT_TYPES[row.event_type]
        assert row.aggregate_type == event.aggregate_type, row.event_type
        assert _errors(row.payload, event.data_schema) == [], row.event_type
        # Recovery acts for whoever holds the code: the system, then the user.
        actor = {"user.password_reset_requested": None, "user.password_reset": user}.get(
            row.event_type, None if row.aggregate_id == admin and row.sequence == 1 else admin
        )
        assert row.actor_id == actor, row.event_type
    reasons = {(r.event_type, r.payload.get("reason")) for r in rows}
    assert {
        ("contact.deactivated", "user_deleted"),
        ("membership.removed", "user_deleted"),
        ("membership.removed", "group_deleted"),
    } <= reasons
