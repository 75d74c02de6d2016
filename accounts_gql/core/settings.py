"""Configuration from the environment and `.env` (PRODUCT §7; see .env.example)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    app_env: Literal["development", "production"] = "development"
    host: str = "127.0.0.1"
    port: int = 8000

    # The primary, for writes. Unset: an embedded PostgreSQL in DATA_DIR.
    database_url: str | None = None
    # An optional replica for queries; the primary serves them when unset.
    read_database_url: str | None = None
    data_dir: Path = Path("data")
    db_pool_min: int = Field(default=2, ge=0)
    db_pool_max: int = Field(default=20, ge=1)

    # Unset: events stay in the outbox (`accounts-gql events` shows them).
    rabbitmq_url: str | None = None
    events_exchange: str = "accounts.events"
    relay_enabled: bool = True

    log_dir: Path = Path("logs")
    log_level: str = "INFO"

    jwt_secret: str | None = None
    jwt_issuer: str = "accounts-gql"
    jwt_audience: str = "accounts"
    access_token_ttl: int = Field(default=900, gt=0)
    allow_signup: bool = True

    # GraphiQL and introspection: on in development, off in production unless set.
    graphiql: bool | None = None

    @property
    def graphiql_enabled(self) -> bool:
        return self.graphiql if self.graphiql is not None else not self.is_production

    @property
    def is_production(self) -> bool:
        return self.app_env == "production"


@lru_cache
def get_settings() -> Settings:
    return Settings()
