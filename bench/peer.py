"""The bench's peer (PRODUCT §8): PostGraphile v5 over the same schema `accounts`.

`bench/postgraphile/` holds it (package.json and package-lock.json; `npm ci`
there brings PostGraphile and, as the `node` package, a Node ≥ 22 of its own):
the amber preset with simplify-inflection, nothing else configured. It connects
as the database's owner (the bench's DATABASE_URL): it introspects the schema
and reads the tables themselves, where the service may only execute functions.

The three bench shapes in PostGraphile's naming, and a check that both servers
answer them with the same rows before anything is timed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from accounts_gql.api.ids import decode_any_id

FOLDER = Path(__file__).resolve().parent / "postgraphile"
NODE = FOLDER / "node_modules" / ".bin" / "node"

# Contacts: the service's `contacts` lists active ones only. PostGraphile's
# condition argument covers indexed columns only, and every seeded contact is
# active, so the peer lists all and the row check below holds the two equal.
_USER_FIELDS = """rowId username displayName
      userContacts { nodes { rowId value isPrimary
        contactType: contactTypeByContactTypeIdAndTypeIsUnique { code } } }
      userGroupMemberships { nodes { role joinedAt group { rowId slug name } } }"""

Q1 = f"""query Q1($id: UUID!) {{
  user(rowId: $id) {{
      {_USER_FIELDS}
  }}
}}"""

# The service's users connection is ordered by creation time, then id;
# PostGraphile breaks ties by the primary key: the same 50 users.
Q2 = f"""query Q2 {{
  users(first: 50, orderBy: CREATED_AT_ASC) {{
    edges {{ node {{
      {_USER_FIELDS}
    }} }}
  }}
}}"""

# memberCount is the connection's totalCount; members in the service's order
# (joined_at, then user id, the primary key's first column).
Q3 = """query Q3($id: UUID!) {
  userGroup(rowId: $id) {
    rowId slug name
    members: userGroupMembershipsByGroupId(first: 100, orderBy: JOINED_AT_ASC) {
      totalCount
      edges { cursor node { role joinedAt user { rowId username displayName } } }
    }
  }
}"""

OPERATIONS = {"Q1": Q1, "Q2": Q2, "Q3": Q3}


def variables(service_variables: dict[str, dict[str, object]]) -> dict[str, dict[str, object]]:
    """The peer's variables: the uuids behind the service's global ids."""
    return {
        name: {key: str(decode_any_id(str(value))[1]) for key, value in given.items()}
        for name, given in service_variables.items()
        if name in OPERATIONS
    }


def install() -> None:
    """`npm ci` in bench/postgraphile when its node_modules is missing."""
    if NODE.exists():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("npm is needed for the PostGraphile peer (or pass --no-peer)")
    print("installing the PostGraphile peer (npm ci) …", flush=True)
    subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=FOLDER, check=True)


def start(port: int, database_url: str, log: Path) -> subprocess.Popen[bytes]:
    """PostGraphile on 127.0.0.1:`port`, pinned to core 0, once it answers."""
    install()
    command = [str(NODE), "server.mjs"]
    if shutil.which("taskset"):
        command = ["taskset", "-c", "0", *command]
    env = os.environ | {
        "DATABASE_URL": database_url,
        "PORT": str(port),
        "NODE_ENV": "production",
    }
    # Its schema build reports naming conflicts of the schema's own functions
    # (create_user against the table's createUser …) as recoverable: to a file.
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, env=env, cwd=FOLDER, stdout=output, stderr=subprocess.STDOUT
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"PostGraphile exited; see {log}")
        try:
            response = httpx.post(
                f"http://127.0.0.1:{port}/graphql", json={"query": "{ __typename }"}, timeout=2
            )
            if response.status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.3)
    process.terminate()
    raise SystemExit(f"PostGraphile did not start; see {log}")


# Rows of each answer, in one form for both servers: ids as uuids, roles in
# lower case, times parsed; contacts and memberships as sorted lists (neither
# API promises their order), users and members in their page's order.


def _uuid(value: str, global_id: bool) -> uuid.UUID:
    return decode_any_id(value)[1] if global_id else uuid.UUID(value)


def _user_rows(user: dict[str, Any] | None, served: bool) -> tuple[object, ...] | None:
    if user is None:
        return None
    if served:
        contacts, joined = user["contacts"], user["memberships"]
        key = "id"
    else:
        contacts, joined = user["userContacts"]["nodes"], user["userGroupMemberships"]["nodes"]
        key = "rowId"
    return (
        _uuid(user[key], served),
        user["username"],
        user["displayName"],
        sorted(
            (
                _uuid(c[key], served),
                c["value"],
                c["isPrimary"],
                c["contactType" if not served else "type"]["code"],
            )
            for c in contacts
        ),
        sorted(
            (
                m["role"].lower(),
                datetime.fromisoformat(m["joinedAt"]),
                _uuid(m["group"][key], served),
                m["group"]["slug"],
                m["group"]["name"],
            )
            for m in joined
        ),
    )


def _group_rows(group: dict[str, Any] | None, served: bool) -> tuple[object, ...] | None:
    if group is None:
        return None
    key = "id" if served else "rowId"
    members = group["members"]
    count = group["memberCount"] if served else members["totalCount"]
    return (
        _uuid(group[key], served),
        group["slug"],
        group["name"],
        count,
        [
            (
                edge["node"]["role"].lower(),
                datetime.fromisoformat(edge["node"]["joinedAt"]),
                _uuid(edge["node"]["user"][key], served),
                edge["node"]["user"]["username"],
                edge["node"]["user"]["displayName"],
            )
            for edge in members["edges"]
        ],
    )


def rows(name: str, data: dict[str, Any], served: bool) -> object:
    """The rows an answer to operation `name` holds (`served`: the service's answer)."""
    if name == "Q1":
        return _user_rows(data["user"], served)
    if name == "Q2":
        return [_user_rows(edge["node"], served) for edge in data["users"]["edges"]]
    return _group_rows(data["group" if served else "userGroup"], served)
