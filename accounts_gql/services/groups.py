"""Groups: anyone signed in reads and creates them; managers and owners edit,
owners delete (PRODUCT §6)."""

from __future__ import annotations

import uuid

from accounts_gql.core.viewer import Viewer
from accounts_gql.db.pool import Executor
from accounts_gql.repositories import groups as repository
from accounts_gql.repositories import memberships
from accounts_gql.repositories.groups import GroupPage, GroupRow
from accounts_gql.services.authorization import (
    MANAGING_ROLES,
    require_group_role,
    require_signed_in,
)


def require_reader(viewer: Viewer) -> None:
    require_signed_in(viewer)


async def viewer_role(db: Executor, viewer: Viewer, group_id: uuid.UUID) -> str | None:
    """The viewer's role in the group, or None when not a member."""
    if viewer.user_id is None:
        return None
    for row in await memberships.memberships_by_user_ids(db, [viewer.user_id]):
        if row.group_id == group_id:
            return row.role
    return None


async def require_managing(
    db: Executor, viewer: Viewer, group_id: uuid.UUID, allowed: frozenset[str] = MANAGING_ROLES
) -> None:
    require_signed_in(viewer)
    if not viewer.is_admin:
        require_group_role(viewer, await viewer_role(db, viewer, group_id), allowed)


async def groups_page(
    db: Executor,
    viewer: Viewer,
    *,
    first: int | None,
    last: int | None,
    after: tuple[str, uuid.UUID] | None,
    before: tuple[str, uuid.UUID] | None,
    order: str,
    search: str | None,
) -> GroupPage:
    require_reader(viewer)
    return await repository.groups_page(
        db, first=first, last=last, after=after, before=before, order=order, search=search
    )


async def create_group(
    db: Executor, viewer: Viewer, *, slug: str, name: str, description: str
) -> GroupRow:
    """The creator becomes the group's owner, in the same transaction."""
    owner_id = require_signed_in(viewer)
    return await repository.create_group(
        db, slug, name, description, owner_id=owner_id, actor_id=owner_id
    )


async def update_group(
    db: Executor,
    viewer: Viewer,
    group_id: uuid.UUID,
    *,
    slug: str | None,
    name: str | None,
    description: str | None,
    expected_version: int | None,
) -> GroupRow:
    await require_managing(db, viewer, group_id)
    return await repository.update_group(
        db,
        group_id,
        slug=slug,
        name=name,
        description=description,
        expected_version=expected_version,
        actor_id=viewer.user_id,
    )


async def delete_group(
    db: Executor, viewer: Viewer, group_id: uuid.UUID, *, expected_version: int | None
) -> uuid.UUID:
    await require_managing(db, viewer, group_id, frozenset({"owner"}))
    return await repository.delete_group(
        db, group_id, expected_version=expected_version, actor_id=viewer.user_id
    )
