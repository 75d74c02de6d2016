"""The two database roles (PRODUCT §6): the owner runs migrations, the service
role may only execute the stored functions of schema `accounts`.

`DATABASE_URL` is the service's connection. `MIGRATION_DATABASE_URL`, when set,
is the owner's, used by `migrate` (and by the migration step of the other
commands); the service role is then the user named in `DATABASE_URL`. Without
it one role is both (development against a server of one's own).
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit


def role_of(url: str) -> str:
    """The role a connection URL logs in as: its user, else libpq's default."""
    user = urlsplit(url).username
    if user:
        return unquote(user)
    return os.environ.get("PGUSER") or getpass.getuser()


@dataclass(frozen=True, slots=True)
class DatabaseRoles:
    """Where the service connects and where migrations run."""

    service_url: str
    owner_url: str

    @classmethod
    def single(cls, url: str) -> DatabaseRoles:
        """One role for both: it owns the schema and is the service."""
        return cls(service_url=url, owner_url=url)

    @property
    def service_role(self) -> str | None:
        """The role to grant EXECUTE to; None when the owner is the service."""
        service = role_of(self.service_url)
        return None if service == role_of(self.owner_url) else service
