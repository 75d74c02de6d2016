"""The per-request context every resolver receives."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from accounts_gql.core.viewer import Viewer
from accounts_gql.db.pool import Database

if TYPE_CHECKING:
    from accounts_gql.api.loaders import Loaders


@dataclass(slots=True)
class Context:
    db: Database
    viewer: Viewer
    request_id: str
    loaders: Loaders
