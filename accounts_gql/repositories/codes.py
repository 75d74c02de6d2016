"""One-time codes: contact verification and password recovery (calls of sql/0013).

The code itself is handed to the stored functions, which keep only its hash and
put the code in the outbox event for the notification service. It is never
logged.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from accounts_gql.db.pool import Executor
from accounts_gql.repositories.errors import domain_errors


@dataclass(frozen=True, slots=True)
class CodeLimits:
    ttl: int
    max_attempts: int
    resend_interval: int
    max_sends: int  # per hour


@dataclass(frozen=True, slots=True)
class CodeSent:
    """0 and when the code expires, or the seconds to wait (nothing sent)."""

    retry_after: int
    expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class CodeTried:
    outcome: str  # ok | invalid | expired | exhausted
    subject_id: uuid.UUID | None  # the contact (verification) or the user (reset, on ok)


async def request_contact_verification(
    db: Executor,
    contact_id: uuid.UUID,
    code: str,
    limits: CodeLimits,
    *,
    actor_id: uuid.UUID | None,
) -> CodeSent:
    async with domain_errors():
        record = await db.fetchrow(
            "SELECT * FROM accounts.request_contact_verification($1, $2, $3, $4, $5, $6, $7)",
            contact_id,
            code,
            limits.ttl,
            limits.max_attempts,
            limits.resend_interval,
            limits.max_sends,
            actor_id,
        )
    assert record is not None
    return CodeSent(record["retry_after"], record["expires_at"])


async def verify_contact(
    db: Executor, contact_id: uuid.UUID, code: str, *, actor_id: uuid.UUID | None
) -> CodeTried:
    async with domain_errors():
        record = await db.fetchrow(
            "SELECT * FROM accounts.verify_contact($1, $2, $3)", contact_id, code, actor_id
        )
    assert record is not None
    return CodeTried(record["outcome"], record["contact_id"])


async def request_password_reset(db: Executor, login: str, code: str, limits: CodeLimits) -> None:
    async with domain_errors():
        await db.execute(
            "SELECT accounts.request_password_reset($1, $2, $3, $4, $5, $6)",
            login,
            code,
            limits.ttl,
            limits.max_attempts,
            limits.resend_interval,
            limits.max_sends,
        )


async def reset_password(db: Executor, login: str, code: str, password_hash: str) -> CodeTried:
    async with domain_errors():
        record = await db.fetchrow(
            "SELECT * FROM accounts.reset_password($1, $2, $3)", login, code, password_hash
        )
    assert record is not None
    return CodeTried(record["outcome"], record["user_id"])
