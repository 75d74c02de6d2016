"""The `accounts-gql` command line (PRODUCT §7)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from loguru import logger
from pydantic import ValidationError

from accounts_gql.core.logging import configure_logging
from accounts_gql.core.settings import Settings, get_settings
from accounts_gql.db.embedded import EmbeddedPostgres, EmbeddedUnavailable
from accounts_gql.db.migrations import MigrationError, migrate
from accounts_gql.db.roles import DatabaseRoles

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schema.graphql"
ASYNCAPI_FILE = SCHEMA_FILE.with_name("asyncapi.yaml")


@contextmanager
def database_roles(settings: Settings) -> Iterator[DatabaseRoles]:
    """DATABASE_URL (and MIGRATION_DATABASE_URL), or an embedded PostgreSQL in
    DATA_DIR for as long as it is needed."""
    if settings.database_url:
        yield DatabaseRoles(
            service_url=settings.database_url,
            owner_url=settings.migration_database_url or settings.database_url,
        )
        return
    with EmbeddedPostgres(settings.data_dir) as roles:
        yield roles


async def migrate_as_owner(roles: DatabaseRoles) -> list[str]:
    """Migrates (or, without the owner's connection, checks) before a command runs."""
    return await migrate(roles.owner_url, service_role=roles.service_role)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    sys.exit(128 + signum)


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from accounts_gql.api.listeners import listening_socket
    from accounts_gql.app import create_app

    # uvicorn re-raises SIGTERM once it has drained; turning it into SystemExit
    # lets the embedded PostgreSQL stop cleanly too.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    with database_roles(settings) as roles:
        asyncio.run(migrate_as_owner(roles))
        config = uvicorn.Config(
            create_app(settings, roles.service_url),
            host=settings.host,
            port=settings.port,
            loop="uvloop",
            http="httptools",
            log_config=None,
            # Access lines are built per request even when their level is off.
            access_log=logging.getLevelNamesMapping().get(settings.log_level.upper(), 0)
            <= logging.INFO,
            timeout_graceful_shutdown=10,
        )
        # One server on both ports; the app tells them apart (api/listeners.py).
        addresses = [(settings.host, settings.port)]
        if settings.metrics_port is not None:
            addresses.append((settings.metrics_host, settings.metrics_port))
        try:
            sockets = [listening_socket(host, port) for host, port in addresses]
        except OSError as error:
            logger.error("cannot listen on {}: {}", addresses, error.strerror or error)
            return 1
        if settings.metrics_port is not None:
            logger.info("metrics on http://{}:{}/metrics", *addresses[1])
        uvicorn.Server(config).run(sockets=sockets)
    return 0


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    with database_roles(settings) as roles:
        applied = asyncio.run(migrate_as_owner(roles))
    logger.info("{} migration(s) applied", len(applied))
    return 0


def cmd_seed(settings: Settings, args: argparse.Namespace) -> int:
    import asyncpg

    from accounts_gql.repositories.demo import seed_demo

    async def seed(roles: DatabaseRoles) -> None:
        await migrate_as_owner(roles)
        connection = await asyncpg.connect(roles.service_url)
        try:
            counts = await seed_demo(connection, args.users, args.groups)
        finally:
            await connection.close()
        logger.info(
            "seeded {} users, {} contacts, {} groups, {} memberships",
            counts.users,
            counts.contacts,
            counts.groups,
            counts.memberships,
        )

    with database_roles(settings) as roles:
        asyncio.run(seed(roles))
    return 0


def cmd_relay(settings: Settings, args: argparse.Namespace) -> int:
    from accounts_gql.events.commands import run_relay

    with database_roles(settings) as roles:
        asyncio.run(migrate_as_owner(roles))
        asyncio.run(run_relay(settings, roles.service_url))
    return 0


def cmd_events(settings: Settings, args: argparse.Namespace) -> int:
    from accounts_gql.events.commands import list_events, tail_events

    if args.action == "tail":
        asyncio.run(tail_events(settings))
        return 0
    with database_roles(settings) as roles:
        asyncio.run(migrate_as_owner(roles))
        asyncio.run(list_events(settings, roles.service_url, args.status, args.limit))
    return 0


def cmd_export_asyncapi(settings: Settings, args: argparse.Namespace) -> int:
    from accounts_gql.events.commands import export_asyncapi

    if args.output == "-":
        sys.stdout.write(export_asyncapi())
    else:
        Path(args.output).write_text(export_asyncapi(), encoding="utf-8")
    return 0


def _read_password() -> str:
    """From a prompt (twice) on a terminal, else the first line of stdin; never an argument."""
    if sys.stdin.isatty():
        import getpass

        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            raise SystemExit("the passwords differ")
        return password
    return sys.stdin.readline().rstrip("\n")


def cmd_create_admin(settings: Settings, args: argparse.Namespace) -> int:
    """Creates an admin with a password, or gives an existing user the admin role."""
    import asyncpg

    from accounts_gql.core.errors import DomainError, ErrorKind
    from accounts_gql.repositories import users
    from accounts_gql.services.auth import create_admin

    async def run(database: DatabaseRoles) -> None:
        await migrate_as_owner(database)
        dsn = database.service_url
        connection = await asyncpg.connect(dsn)
        try:
            existing = await users.user_by_username(connection, args.username)
        finally:
            await connection.close()
        if existing is None:
            user = await create_admin(settings, dsn, args.username, _read_password())
            logger.info("created admin {} ({})", user.username, user.id)
            return
        connection = await asyncpg.connect(dsn)
        try:
            roles = sorted({*existing.roles, "admin"})
            await users.update_user(connection, existing.id, roles=roles)
        finally:
            await connection.close()
        logger.info("{} is now an admin (password unchanged)", existing.username)

    with database_roles(settings) as roles:
        try:
            asyncio.run(run(roles))
        except DomainError as error:
            if error.kind is ErrorKind.VALIDATION:
                logger.error("{}: {}", error.field, error.message)
                return 2
            raise
    return 0


def cmd_export_schema(settings: Settings, args: argparse.Namespace) -> int:
    from accounts_gql.api.schema import export_sdl

    if args.output == "-":
        sys.stdout.write(export_sdl())
    else:
        Path(args.output).write_text(export_sdl(), encoding="utf-8")
    return 0


def cmd_new_signing_key(settings: Settings, args: argparse.Namespace) -> int:
    from accounts_gql.core.keys import new_private_key_entry

    # Only to stdout, for the operator to put into JWT_PRIVATE_KEYS: never logged.
    sys.stdout.write(new_private_key_entry(args.kid) + "\n")
    return 0


def cmd_plan(settings: Settings, args: argparse.Namespace) -> int:
    """Prints the execution plan of a query (docs/architecture.md)."""
    import orjson

    from accounts_gql.api.engine.explain import explain
    from accounts_gql.api.schema import schema

    source = sys.stdin.read() if args.query == "-" else args.query
    variables = orjson.loads(args.variables) if args.variables else None
    print(explain(schema, source, variables, args.operation))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="accounts-gql", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="run the HTTP service (migrates first)")
    commands.add_parser("migrate", help="apply pending SQL migrations")
    seed = commands.add_parser("seed", help="generate demo users, contacts and groups")
    seed.add_argument("--users", type=int, default=1000, help="how many users (default 1000)")
    seed.add_argument("--groups", type=int, default=None, help="default: one per 100 users")
    admin = commands.add_parser(
        "create-admin", help="create an admin (password from a prompt or stdin) or promote a user"
    )
    admin.add_argument("username")
    commands.add_parser("relay", help="publish the outbox to RabbitMQ until stopped")
    events = commands.add_parser(
        "events", help="show the outbox; `events tail` follows the exchange"
    )
    events.add_argument("action", nargs="?", choices=["list", "tail"], default="list")
    events.add_argument(
        "--status", choices=["pending", "failed", "published", "all"], default="pending"
    )
    events.add_argument("--limit", type=int, default=50)
    asyncapi = commands.add_parser("export-asyncapi", help="write the AsyncAPI document")
    asyncapi.add_argument(
        "-o", "--output", default=str(ASYNCAPI_FILE), help="file, or - for stdout"
    )
    plan = commands.add_parser("plan", help="print the execution plan of a query")
    plan.add_argument("query", help="the document, or - for stdin")
    plan.add_argument("--variables", help="the variables, as JSON")
    plan.add_argument("--operation", help="the operation to plan, if the document has several")
    export = commands.add_parser("export-schema", help="write the GraphQL SDL")
    export.add_argument("-o", "--output", default=str(SCHEMA_FILE), help="file, or - for stdout")
    key = commands.add_parser(
        "new-signing-key", help="print a new Ed25519 'kid:key' entry for JWT_PRIVATE_KEYS"
    )
    key.add_argument("kid", help="the key's id, e.g. 2026-12")
    return parser


COMMANDS: dict[str, Callable[[Settings, argparse.Namespace], int]] = {
    "serve": cmd_serve,
    "migrate": cmd_migrate,
    "seed": cmd_seed,
    "create-admin": cmd_create_admin,
    "relay": cmd_relay,
    "events": cmd_events,
    "export-asyncapi": cmd_export_asyncapi,
    "export-schema": cmd_export_schema,
    "new-signing-key": cmd_new_signing_key,
    "plan": cmd_plan,
}


def configuration_problems(settings: Settings, command: str) -> list[str]:
    """What would make `command` fail with these settings, found before it
    touches the database (so that `serve` does not migrate, then refuse)."""
    problems = []
    if settings.db_pool_min > settings.db_pool_max:
        problems.append("DB_POOL_MIN may not exceed DB_POOL_MAX")
    if any(origin.strip() == "*" for origin in (settings.cors_origins or "").split(",")):
        problems.append(
            "CORS_ORIGINS lists origins; '*' would let any site call the API with a user's"
            " credentials"
        )
    if settings.metrics_port is not None and settings.metrics_port == settings.port:
        problems.append("METRICS_PORT must differ from PORT (metrics stay off the public port)")
    if command == "serve":
        from accounts_gql.core.security import signing_keys

        try:
            signing_keys(settings)
        except RuntimeError as error:
            problems.append(str(error))
    return problems


def load_settings() -> Settings | None:
    """The settings, or None after one line on stderr saying what is wrong (the
    variables by name; never their values, which may be secrets)."""
    try:
        return get_settings()
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in problem['loc']).upper()}: {problem['msg']}"
            for problem in error.errors(include_input=False, include_url=False)
        )
        print(f"accounts-gql: invalid configuration: {problems}", file=sys.stderr)
        return None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = load_settings()
    if settings is None:
        return 2
    configure_logging(settings)
    problems = configuration_problems(settings, args.command)
    if problems:
        logger.error("invalid configuration: {}", "; ".join(problems))
        return 2
    try:
        return COMMANDS[args.command](settings, args)
    except MigrationError as error:
        logger.error("migration refused: {}", error)
        return 2
    except EmbeddedUnavailable as error:
        logger.error("{}", error)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
