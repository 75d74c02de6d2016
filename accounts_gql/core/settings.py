"""Configuration from the environment and `.env` (PRODUCT §7; see .env.example)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Secrets (URLs with passwords, signing keys) stay out of the repr, so that
    no traceback or log line that shows the settings shows them."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    app_env: Literal["development", "production"] = "development"
    host: str = "127.0.0.1"
    port: int = 8000
    # Prometheus metrics at /metrics on a port of their own (api/listeners.py),
    # never on the public port; unset: no metrics listener.
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    metrics_host: str = "127.0.0.1"
    # Origins a browser frontend may call from, comma-separated (api/cors.py);
    # unset: none in production, localhost on any port in development.
    cors_origins: str | None = None

    # The primary, for writes, as the service role (it may only execute the
    # functions of schema accounts). Unset: an embedded PostgreSQL in DATA_DIR.
    database_url: str | None = Field(default=None, repr=False)
    # The owner's connection, for migrations (db/roles.py); unset: DATABASE_URL's
    # role owns the schema and serves.
    migration_database_url: str | None = Field(default=None, repr=False)
    # An optional replica for queries; the primary serves them when unset.
    read_database_url: str | None = Field(default=None, repr=False)
    # Reads from the replica (accounts_gql/db/replica.py): past this lag (seconds)
    # queries go to the primary; a query carrying a consistency token the replica
    # has not replayed waits at most REPLICA_WAIT seconds for it (0: goes to the
    # primary at once); the replica's position and lag are sampled this often.
    replica_max_lag: float = Field(default=10.0, gt=0)
    replica_wait: float = Field(default=0.0, ge=0, le=5)
    replica_check_interval: float = Field(default=1.0, gt=0)
    data_dir: Path = Path("data")
    db_pool_min: int = Field(default=2, ge=0)
    db_pool_max: int = Field(default=20, ge=1)
    # Seconds a statement may run on the server (statement_timeout of every
    # connection of the pools and the relay, not of migrations). The client gives
    # up one second later (its command timeout), for a server that answers nothing.
    db_statement_timeout: float = Field(default=5.0, gt=0)
    # Seconds a request waits for a pool connection, a new connection's connect included.
    db_acquire_timeout: float = Field(default=2.0, gt=0)

    # Unset: events stay in the outbox (`accounts-gql events` shows them).
    rabbitmq_url: str | None = Field(default=None, repr=False)
    events_exchange: str = "accounts.events"
    relay_enabled: bool = True

    log_dir: Path = Path("logs")
    log_level: str = "INFO"

    jwt_secret: str | None = Field(default=None, repr=False)
    jwt_issuer: str = "accounts-gql"
    jwt_audience: str = "accounts"
    access_token_ttl: int = Field(default=900, gt=0)
    allow_signup: bool = True

    # GraphiQL, introspection and "did you mean" suggestions: on in development,
    # off in production unless set.
    graphiql: bool | None = None
    introspection: bool | None = None

    # Resource limits of one request (README, "Limits").
    max_query_depth: int = Field(default=12, ge=1)
    max_aliases: int = Field(default=30, ge=0)
    max_tokens: int = Field(default=4000, ge=10)
    max_query_cost: int = Field(default=20000, ge=1)
    max_batch_operations: int = Field(default=10, ge=1)
    max_body_bytes: int = Field(default=100_000, ge=1024)
    max_documents_cached: int = Field(default=1000, ge=0)
    # A manifest (JSON: sha256 -> document); when set, only those documents run.
    trusted_documents: Path | None = None

    # Freeze start-up objects and collect garbage less often (core/gc_tuning.py).
    gc_tuning: bool = True
    # Run queries through cached execution plans (api/engine/); off: graphql-core only.
    compiled_execution: bool = True

    @property
    def graphiql_enabled(self) -> bool:
        return self.graphiql if self.graphiql is not None else not self.is_production

    @property
    def introspection_enabled(self) -> bool:
        if self.introspection is not None:
            return self.introspection
        return not self.is_production

    @property
    def is_production(self) -> bool:
        return self.app_env == "production"

    @property
    def db_command_timeout(self) -> float:
        """The client's bound on a statement: the server's, and a second to answer."""
        return self.db_statement_timeout + 1.0

    def db_server_settings(self, application_name: str) -> dict[str, str]:
        """Session settings of every serving connection (pools, relay)."""
        return {
            "application_name": application_name,
            "statement_timeout": str(int(self.db_statement_timeout * 1000)),
        }

    # The outbox relay (accounts_gql/events/relay.py): polling when no NOTIFY
    # arrives, rows per claim, retry backoff (seconds, exponential with jitter)
    # and how long published rows are kept before pruning.
    relay_poll_interval: float = Field(default=1.0, gt=0)
    relay_batch_size: int = Field(default=500, ge=1)
    relay_backoff_base: float = Field(default=0.5, gt=0)
    relay_backoff_max: float = Field(default=60.0, gt=0)
    relay_retention: float = Field(default=7 * 24 * 3600.0, ge=0)

    # Password accounts and sessions (PRODUCT §6; accounts_gql/services/auth.py).
    # JWT_KEYS rotates signing keys: "kid1:secret1,kid2:secret2", the first signs
    # and all verify; unset, JWT_SECRET is the one key, with kid "default".
    jwt_keys: str | None = Field(default=None, repr=False)
    # EdDSA (Ed25519, published at /.well-known/jwks.json) or HS256 (shared
    # secrets); unset: EdDSA unless only JWT_SECRET/JWT_KEYS are configured.
    jwt_algorithm: Literal["EdDSA", "HS256"] | None = None
    # Ed25519 private keys, "kid:<base64 of 32 bytes>" or "kid:@<PEM file>",
    # comma-separated; the first signs, all verify and are published. Unset,
    # outside production: a key pair generated once into DATA_DIR.
    jwt_private_keys: str | None = Field(default=None, repr=False)
    # Cache-Control max-age of /.well-known/jwks.json, in seconds.
    jwks_max_age: int = Field(default=300, ge=0)
    refresh_token_ttl: int = Field(default=30 * 24 * 3600, gt=0)
    password_min_length: int = Field(default=8, ge=1)
    password_max_length: int = Field(default=128, ge=8)
    # argon2id parameters; the defaults are OWASP's recommendation (19 MiB, t=2, p=1).
    argon2_time_cost: int = Field(default=2, ge=1)
    argon2_memory_cost: int = Field(default=19 * 1024, ge=8)  # KiB
    argon2_parallelism: int = Field(default=1, ge=1)
    # Login throttling (README "Accounts and tokens"; sql/0012): failures of one
    # username from one client address within the username window refuse that
    # pair; failures from one address within the client window refuse the
    # address; once a username has `login_slowdown_after` failures from any
    # addresses, an address that has itself failed on it waits 2^(n - that)
    # seconds (at most `login_slowdown_max`) after its last failure. An address
    # that has not failed on the username is never slowed.
    login_max_failures_per_pair: int = Field(default=5, ge=1)
    login_slowdown_after: int = Field(default=10, ge=1)
    login_slowdown_max: int = Field(default=60, ge=0)
    login_username_window: int = Field(default=15 * 60, gt=0)
    login_max_failures_per_client: int = Field(default=100, ge=1)
    login_client_window: int = Field(default=15 * 60, gt=0)
    # Seconds in which a second use of a just-rotated refresh token answers the
    # same successor (two tabs refreshing at once) instead of ending the session.
    refresh_grace_seconds: int = Field(default=10, ge=0)
    # One-time codes (contact verification, password recovery): lifetime in
    # seconds, tries per code, and per target the seconds between two sends and
    # the sends per hour.
    verification_code_ttl: int = Field(default=10 * 60, ge=1)
    verification_code_max_attempts: int = Field(default=5, ge=1)
    verification_resend_interval: int = Field(default=60, ge=0)
    verification_max_sends_per_hour: int = Field(default=5, ge=1)
    # requestPasswordReset answers no sooner than this many seconds after it
    # began, so that sending a code (or not) cannot be told by the time taken.
    password_reset_min_response: float = Field(default=0.15, ge=0)


@lru_cache
def get_settings() -> Settings:
    return Settings()
