"""Contact types: anyone reads the active ones; admins manage them (PRODUCT §6)."""

from __future__ import annotations

import uuid

from accounts_gql.core.viewer import Viewer
from accounts_gql.db.pool import Executor
from accounts_gql.repositories import contact_types as repository
from accounts_gql.repositories.contact_types import ContactTypeRow
from accounts_gql.services.authorization import require_admin


async def list_contact_types(
    db: Executor, viewer: Viewer, include_inactive: bool = False
) -> list[ContactTypeRow]:
    """Inactive types are listed for admins only."""
    return await repository.list_contact_types(db, include_inactive and viewer.is_admin)


async def create_contact_type(
    db: Executor,
    viewer: Viewer,
    *,
    code: str,
    name: str,
    validation_pattern: str | None,
    is_unique: bool,
) -> ContactTypeRow:
    require_admin(viewer)
    return await repository.create_contact_type(
        db, code, name, validation_pattern, is_unique, actor_id=viewer.user_id
    )


async def update_contact_type(
    db: Executor,
    viewer: Viewer,
    contact_type_id: uuid.UUID,
    *,
    name: str | None,
    validation_pattern: str | None,
    is_unique: bool | None,
    is_active: bool | None,
    expected_version: int | None,
) -> ContactTypeRow:
    require_admin(viewer)
    return await repository.update_contact_type(
        db,
        contact_type_id,
        name=name,
        validation_pattern=validation_pattern,
        is_unique=is_unique,
        is_active=is_active,
        expected_version=expected_version,
        actor_id=viewer.user_id,
    )
