"""The per-request context every resolver receives (and the reads' Scope)."""

from __future__ import annotations

from dataclasses import dataclass

from accounts_gql.core.settings import Settings
from accounts_gql.core.viewer import Viewer
from accounts_gql.db.pool import Database
from accounts_gql.services.reads.loaders import Loaders


@dataclass(slots=True)
class Context:
    db: Database
    viewer: Viewer
    request_id: str
    loaders: Loaders
    # The caller's address (login throttling) and the service's settings; the
    # HTTP endpoint fills both, resolvers fall back to get_settings().
    client_ip: str | None = None
    settings: Settings | None = None
    user_agent: str | None = None
