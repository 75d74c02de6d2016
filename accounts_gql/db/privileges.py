"""Least privilege, the last step of every `migrate` (docs/database.md, "Roles").

Every function of schema `accounts` runs as its owner (SECURITY DEFINER) with a
fixed search_path, PUBLIC may execute none of them, and the service role may
execute all of them and touch no table or sequence. The step looks at the
catalog and changes only what differs, so it is idempotent, cheap when nothing
changed, and covers functions that later migration files add.
"""

from __future__ import annotations

import asyncpg
from loguru import logger

# pg_catalog is searched first when unnamed; pg_temp last, so that a caller's
# temporary objects never shadow ours (PostgreSQL's advice for SECURITY DEFINER).
SEARCH_PATH = "accounts, pg_temp"

_FUNCTIONS = """
SELECT p.oid::regprocedure::text AS signature,
       p.proowner <> n.nspowner AS other_owner,
       NOT p.prosecdef
           OR NOT coalesce('search_path=' || $1 = ANY(p.proconfig), false) AS needs_definer,
       EXISTS (SELECT FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
               WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE') AS public_executes,
       $2::text IS NOT NULL AND NOT EXISTS (
           SELECT FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
           WHERE a.grantee = to_regrole($2) AND a.privilege_type = 'EXECUTE'
       ) AS needs_grant
FROM pg_proc p
JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = 'accounts'
  AND p.prokind IN ('f', 'p')
  -- functions of an extension installed in the schema belong to the extension
  AND NOT EXISTS (SELECT FROM pg_depend d
                  WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
ORDER BY 1
"""

# Relations of the schema (and the migration ledger) the service role or PUBLIC
# holds any privilege on.
_RELATIONS = """
SELECT c.oid::regclass::text AS name, c.relkind = 'S' AS is_sequence
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE (n.nspname = 'accounts' OR c.oid = to_regclass('public.schema_migrations'))
  AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
  AND EXISTS (
      SELECT FROM aclexplode(coalesce(c.relacl, acldefault(
                      CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END::"char", c.relowner))) a
      WHERE (a.grantee = 0 OR a.grantee = to_regrole($1))
        AND NOT (c.oid = to_regclass('public.schema_migrations')
                 AND a.grantee <> 0 AND a.privilege_type = 'SELECT')
  )
ORDER BY 1
"""


class RoleError(Exception):
    """The service role is missing, or could do more than execute the functions."""


async def secure_schema(connection: asyncpg.Connection, service_role: str | None) -> int:
    """Makes the schema's privileges what the module says; returns how many
    statements it took (0 when everything was in place). Runs as the owner of
    schema `accounts`, in one transaction."""
    statements: list[str] = []
    async with connection.transaction():
        owner: str = await connection.fetchval(
            "SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = 'accounts'"
        )
        if service_role is not None:
            await _check_service_role(connection, service_role)
        for row in await connection.fetch(_FUNCTIONS, SEARCH_PATH, service_role):
            routine = f"ROUTINE {row['signature']}"
            if row["other_owner"]:
                # A function left by a role that is not the schema's owner
                # (a superuser's manual fix) would run with that role's rights.
                statements.append(f"ALTER {routine} OWNER TO {owner}")
            if row["needs_definer"]:
                statements.append(
                    f"ALTER {routine} SECURITY DEFINER SET search_path = {SEARCH_PATH}"
                )
            if row["public_executes"]:
                statements.append(f"REVOKE EXECUTE ON {routine} FROM PUBLIC")
            if row["needs_grant"]:
                statements.append(f"GRANT EXECUTE ON {routine} TO {_ident(service_role)}")
        if service_role is not None:
            statements += await _schema_statements(connection, service_role)
            for row in await connection.fetch(_RELATIONS, service_role):
                kind = "SEQUENCE" if row["is_sequence"] else "TABLE"
                statements.append(
                    f"REVOKE ALL ON {kind} {row['name']} FROM PUBLIC, {_ident(service_role)}"
                )
            if not await connection.fetchval(
                "SELECT has_table_privilege($1, 'public.schema_migrations', 'SELECT')",
                service_role,
            ):
                # The ledger only: so that `serve` as the service role can check
                # that the database is migrated without being able to migrate it.
                statements.append(
                    f"GRANT SELECT ON public.schema_migrations TO {_ident(service_role)}"
                )
        for statement in statements:
            await connection.execute(statement)
    if statements:
        logger.info(
            "schema privileges set ({} change(s); service role {})",
            len(statements),
            service_role or "none: the owner serves",
        )
    return len(statements)


async def _check_service_role(connection: asyncpg.Connection, role: str) -> None:
    row = await connection.fetchrow(
        "SELECT rolsuper, rolbypassrls, pg_has_role(rolname, current_user, 'MEMBER') AS owns"
        " FROM pg_roles WHERE rolname = $1",
        role,
    )
    if row is None:
        raise RoleError(f"the service role {role} does not exist; create it first")
    if row["rolsuper"] or row["rolbypassrls"] or row["owns"]:
        raise RoleError(
            f"the service role {role} is a superuser or a member of the owner role: "
            "it must be a role of its own that may only execute the functions"
        )


async def _schema_statements(connection: asyncpg.Connection, role: str) -> list[str]:
    row = await connection.fetchrow(
        "SELECT has_schema_privilege($1, 'accounts', 'USAGE') AS usage,"
        " has_schema_privilege($1, 'accounts', 'CREATE') AS creates",
        role,
    )
    assert row is not None
    statements: list[str] = []
    if not row["usage"]:
        statements.append(f"GRANT USAGE ON SCHEMA accounts TO {_ident(role)}")
    if row["creates"]:
        statements.append(f"REVOKE CREATE ON SCHEMA accounts FROM PUBLIC, {_ident(role)}")
    return statements


def _ident(name: str | None) -> str:
    assert name is not None
    return '"' + name.replace('"', '""') + '"'
