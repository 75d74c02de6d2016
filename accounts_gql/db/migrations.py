"""Applies the versioned SQL files of `sql/` in order (PRODUCT §1).

Each file runs in its own transaction and is recorded with its checksum. A file
that was changed after it was applied stops the run: a migration that has run
somewhere must never mean something else elsewhere. A session advisory lock
lets one replica migrate while the others wait, then find nothing to do.

Migrations run as the owner of schema `accounts`; after the files, every run
sets the schema's privileges (db/privileges.py). A role that does not own the
schema (the service role) only checks that nothing is pending.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from loguru import logger

from accounts_gql.db.privileges import RoleError, secure_schema

SQL_DIR = Path(__file__).resolve().parent.parent.parent / "sql"

# Any constant works; this one spells "accounts" and is used by nothing else.
_LOCK_KEY = 0x6163636F756E7473

_CREATE_LEDGER = """
CREATE TABLE IF NOT EXISTS public.schema_migrations (
    name       text        PRIMARY KEY,
    checksum   text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


class MigrationError(Exception):
    """The database's migration history disagrees with the files on disk."""


@dataclass(frozen=True, slots=True)
class Migration:
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations(directory: Path = SQL_DIR) -> list[Migration]:
    return [
        Migration(path.name, path.read_text(encoding="utf-8"))
        for path in sorted(directory.glob("*.sql"))
    ]


async def migrate(
    dsn: str, directory: Path = SQL_DIR, service_role: str | None = None
) -> list[str]:
    """Applies pending migrations and sets the privileges, granting EXECUTE to
    `service_role` (None: the owner is the service); returns the names of the
    migrations applied now. As a role that does not own the schema, only checks
    that none is pending."""
    migrations = load_migrations(directory)
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
        try:
            if not await _may_migrate(connection):
                await _check_current(connection, migrations)
                return []
            done = await _apply_pending(connection, migrations)
            await secure_schema(connection, service_role)
            return done
        except RoleError as error:
            raise MigrationError(str(error)) from error
        finally:
            await connection.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    finally:
        await connection.close()


async def _may_migrate(connection: asyncpg.Connection) -> bool:
    """Whether this role owns schema `accounts` (or it does not exist yet)."""
    owner = await connection.fetchval(
        "SELECT nspowner = (SELECT oid FROM pg_roles WHERE rolname = current_user)"
        " FROM pg_namespace WHERE nspname = 'accounts'"
    )
    return owner is not False


async def _applied(connection: asyncpg.Connection) -> dict[str, str]:
    rows = await connection.fetch("SELECT name, checksum FROM public.schema_migrations")
    return {row["name"]: row["checksum"] for row in rows}


async def _check_current(connection: asyncpg.Connection, migrations: list[Migration]) -> None:
    role = await connection.fetchval("SELECT current_user")
    try:
        applied = await _applied(connection)
    except asyncpg.PostgresError as error:
        raise MigrationError(
            f"{role} does not own schema accounts and cannot read the migration history "
            f"({type(error).__name__}); run `accounts-gql migrate` as the owner"
        ) from error
    _check_history(applied, migrations)
    pending = [migration.name for migration in migrations if migration.name not in applied]
    if pending:
        raise MigrationError(
            f"{len(pending)} migration(s) pending ({', '.join(pending)}) and {role} does not"
            " own schema accounts: run `accounts-gql migrate` with MIGRATION_DATABASE_URL"
            " (the owner's connection)"
        )


async def _apply_pending(connection: asyncpg.Connection, migrations: list[Migration]) -> list[str]:
    if await connection.fetchval("SELECT to_regclass('public.schema_migrations')") is None:
        await connection.execute(_CREATE_LEDGER)
    applied = await _applied(connection)
    _check_history(applied, migrations)
    done: list[str] = []
    for migration in migrations:
        if migration.name in applied:
            continue
        async with connection.transaction():
            await connection.execute(migration.sql)
            await connection.execute(
                "INSERT INTO public.schema_migrations (name, checksum) VALUES ($1, $2)",
                migration.name,
                migration.checksum,
            )
        logger.info("applied migration {}", migration.name)
        done.append(migration.name)
    return done


def _check_history(applied: dict[str, str], migrations: list[Migration]) -> None:
    on_disk = {migration.name: migration for migration in migrations}
    for name, checksum in sorted(applied.items()):
        migration = on_disk.get(name)
        if migration is None:
            raise MigrationError(f"applied migration {name} is missing from the sql folder")
        if migration.checksum != checksum:
            raise MigrationError(
                f"migration {name} was changed after it was applied "
                "(checksum differs); add a new migration instead of editing it"
            )
