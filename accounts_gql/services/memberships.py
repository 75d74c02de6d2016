"""Memberships: managers and owners manage members; only owners grant or take
ownership; a member may leave (PRODUCT §6)."""

from __future__ import annotations

import uuid

from accounts_gql.core.viewer import Viewer
from accounts_gql.db.pool import Executor
from accounts_gql.repositories import memberships as repository
from accounts_gql.repositories.memberships import MembershipRow
from accounts_gql.services.authorization import MANAGING_ROLES
from accounts_gql.services.groups import require_managing

OWNERS = frozenset({"owner"})


async def _require_may_assign(
    db: Executor, viewer: Viewer, group_id: uuid.UUID, roles: set[str]
) -> None:
    """Managers assign member/manager; owner is for owners to give or take."""
    await require_managing(db, viewer, group_id, OWNERS if "owner" in roles else MANAGING_ROLES)


async def add_group_member(
    db: Executor, viewer: Viewer, *, group_id: uuid.UUID, user_id: uuid.UUID, role: str
) -> MembershipRow:
    await _require_may_assign(db, viewer, group_id, {role})
    return await repository.add_group_member(db, group_id, user_id, role, actor_id=viewer.user_id)


async def change_member_role(
    db: Executor, viewer: Viewer, *, group_id: uuid.UUID, user_id: uuid.UUID, role: str
) -> MembershipRow:
    current = await _membership(db, group_id, user_id)
    roles = {role} | ({current.role} if current else set())
    await _require_may_assign(db, viewer, group_id, roles)
    return await repository.change_member_role(db, group_id, user_id, role, actor_id=viewer.user_id)


async def remove_group_member(
    db: Executor, viewer: Viewer, *, group_id: uuid.UUID, user_id: uuid.UUID
) -> MembershipRow:
    if viewer.user_id != user_id:
        current = await _membership(db, group_id, user_id)
        await _require_may_assign(db, viewer, group_id, {current.role} if current else set())
    return await repository.remove_group_member(db, group_id, user_id, actor_id=viewer.user_id)


async def _membership(
    db: Executor, group_id: uuid.UUID, user_id: uuid.UUID
) -> MembershipRow | None:
    for row in await repository.memberships_by_user_ids(db, [user_id]):
        if row.group_id == group_id:
            return row
    return None
