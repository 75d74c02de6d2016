"""Memberships: calls of the stored functions in sql/0004_groups.sql."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from accounts_gql.db.pool import Executor
from accounts_gql.repositories.errors import domain_errors
from accounts_gql.repositories.pages import Cursor, cursor_args


@dataclass(frozen=True, slots=True)
class MembershipRow:
    user_id: uuid.UUID
    group_id: uuid.UUID
    role: str
    joined_at: datetime
    added_by: uuid.UUID | None


@dataclass(frozen=True, slots=True)
class MemberPageRow:
    """One row of a group's member page; has_more is per group."""

    group_id: uuid.UUID
    membership: MembershipRow
    has_more: bool


def _row(record: asyncpg.Record) -> MembershipRow:
    return MembershipRow(*record)


async def memberships_by_user_ids(db: Executor, user_ids: list[uuid.UUID]) -> list[MembershipRow]:
    records = await db.fetch("SELECT * FROM accounts.memberships_by_user_ids($1)", user_ids)
    return [_row(record) for record in records]


async def member_pages(
    db: Executor,
    group_ids: list[uuid.UUID],
    *,
    first: int | None = None,
    last: int | None = None,
    after: Cursor | None = None,
    before: Cursor | None = None,
    role: str | None = None,
) -> list[MemberPageRow]:
    """A page of members for each group, in one statement."""
    async with domain_errors():
        records = await db.fetch(
            "SELECT * FROM accounts.member_pages($1, $2, $3, $4, $5, $6, $7, $8)",
            group_ids,
            first,
            last,
            *cursor_args(after, before),
            role,
        )
    return [
        MemberPageRow(
            group_id=record["group_id"],
            membership=MembershipRow(
                record["user_id"],
                record["group_id"],
                record["role"],
                record["joined_at"],
                record["added_by"],
            ),
            has_more=record["has_more"],
        )
        for record in records
    ]


async def _write(db: Executor, call: str, *args: object) -> MembershipRow:
    async with domain_errors():
        record = await db.fetchrow(f"SELECT * FROM {call}", *args)
    assert record is not None, call
    return _row(record)


async def add_group_member(
    db: Executor,
    group_id: uuid.UUID,
    user_id: uuid.UUID,
    role: str = "member",
    *,
    actor_id: uuid.UUID | None = None,
) -> MembershipRow:
    return await _write(
        db, "accounts.add_group_member($1, $2, $3, $4)", group_id, user_id, role, actor_id
    )


async def change_member_role(
    db: Executor,
    group_id: uuid.UUID,
    user_id: uuid.UUID,
    role: str,
    *,
    actor_id: uuid.UUID | None = None,
) -> MembershipRow:
    return await _write(
        db, "accounts.change_member_role($1, $2, $3, $4)", group_id, user_id, role, actor_id
    )


async def remove_group_member(
    db: Executor, group_id: uuid.UUID, user_id: uuid.UUID, *, actor_id: uuid.UUID | None = None
) -> MembershipRow:
    return await _write(db, "accounts.remove_group_member($1, $2, $3)", group_id, user_id, actor_id)
