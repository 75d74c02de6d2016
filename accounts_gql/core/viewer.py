"""Who is calling: decided once per request, consulted by the services."""

from __future__ import annotations

import uuid
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Viewer:
    user_id: uuid.UUID | None = None
    roles: frozenset[str] = frozenset()
    # The session (refresh-token family) the access token was issued for, if any.
    session_id: uuid.UUID | None = None

    @property
    def is_anonymous(self) -> bool:
        return self.user_id is None

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles


ANONYMOUS = Viewer()
