"""Sessions (one per refresh-token family): calls of sql/0012."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from accounts_gql.db.pool import Executor
from accounts_gql.repositories.batches import batch_call, fetch_rows
from accounts_gql.repositories.rows import maker

_COLUMNS = (
    "id, user_id, created_at, last_used_at, expires_at, user_agent, client_address,"
    " ended_at, end_reason"
)


@dataclass(frozen=True, slots=True)
class SessionRow:
    id: uuid.UUID
    user_id: uuid.UUID
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    user_agent: str | None
    client_address: str | None
    ended_at: datetime | None
    end_reason: str | None


_row = maker(SessionRow)


async def sessions_of_user(db: Executor, user_id: uuid.UUID) -> list[SessionRow]:
    """The user's live sessions, oldest first."""
    records = await db.fetch(f"SELECT {_COLUMNS} FROM accounts.sessions_of_user($1)", user_id)
    return list(map(_row, records))


async def sessions_by_ids(db: Executor, ids: list[uuid.UUID]) -> list[SessionRow]:
    records = await db.fetch(f"SELECT {_COLUMNS} FROM accounts.sessions_by_ids($1)", ids)
    return list(map(_row, records))


async def end_session(
    db: Executor, session_id: uuid.UUID, reason: str, *, actor_id: uuid.UUID | None
) -> SessionRow | None:
    """Ends a live session (session.revoked); None when it had ended or is unknown."""
    record = await db.fetchrow(
        f"SELECT {_COLUMNS} FROM accounts.end_session($1, $2, $3) WHERE id IS NOT NULL",
        session_id,
        reason,
        actor_id,
    )
    return _row(record) if record is not None else None


async def end_user_sessions(
    db: Executor,
    user_id: uuid.UUID,
    *,
    except_session: uuid.UUID | None,
    reason: str,
    actor_id: uuid.UUID | None,
) -> int:
    ended: int = await db.fetchval(
        "SELECT accounts.end_user_sessions($1, $2, $3, $4)",
        user_id,
        except_session,
        reason,
        actor_id,
    )
    return ended


# The live sessions of many users, each user's oldest first.
SESSIONS_OF_USERS = batch_call(
    "sessions_of_users($1)",
    "id uuid, user_id uuid, created_at timestamptz, last_used_at timestamptz,"
    " expires_at timestamptz, user_agent text, client_address text, ended_at timestamptz,"
    " end_reason text",
    SessionRow,
    key="user_id",
    unique="id",
)


async def sessions_of_users(db: Executor, user_ids: list[uuid.UUID]) -> list[SessionRow]:
    rows: list[SessionRow] = await fetch_rows(db, SESSIONS_OF_USERS, user_ids)
    return rows
