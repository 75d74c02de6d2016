"""The run's database roles: an owner that migrates and a service role that may
only execute the functions (docs/database.md, "Roles").

Roles belong to the whole server, and several runs share it: the names carry
the run's id, each role has a random password (so that the URLs work whatever
the server's authentication), and both are dropped at the end of the run.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg


@dataclass(frozen=True, slots=True)
class RunRole:
    name: str
    password: str

    def url(self, server_url: str, database: str) -> str:
        """`server_url` logged in as this role, on `database`."""
        parts = urlsplit(server_url)
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        netloc = f"{quote(self.name)}:{quote(self.password)}@{host}"
        if parts.port is not None:
            netloc += f":{parts.port}"
        return urlunsplit((parts.scheme, netloc, f"/{database}", parts.query, ""))


@dataclass(frozen=True, slots=True)
class RunRoles:
    owner: RunRole
    service: RunRole


async def create_roles(server_url: str, run_id: str) -> RunRoles:
    roles = RunRoles(
        owner=RunRole(f"accounts_test_{run_id}_owner", secrets.token_hex(16)),
        service=RunRole(f"accounts_test_{run_id}_service", secrets.token_hex(16)),
    )
    connection = await asyncpg.connect(server_url)
    try:
        for role in (roles.owner, roles.service):
            await connection.execute(
                f"CREATE ROLE \"{role.name}\" LOGIN PASSWORD '{role.password}'"
            )
        # Tests watch the app's sessions (the service role's) wait on locks
        # through the owner's pool; a role sees only its own sessions' waits.
        await connection.execute(f'GRANT pg_read_all_stats TO "{roles.owner.name}"')
    finally:
        await connection.close()
    return roles


async def drop_roles(server_url: str, roles: RunRoles) -> None:
    """Drops both roles; the databases they own or hold grants in are gone by now."""
    connection = await asyncpg.connect(server_url)
    try:
        for role in (roles.service, roles.owner):
            await connection.execute(f'DROP ROLE IF EXISTS "{role.name}"')
    finally:
        await connection.close()
