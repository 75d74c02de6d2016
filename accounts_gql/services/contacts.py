"""Contacts: a user manages their own, admins anyone's; only admins verify (PRODUCT §6)."""

from __future__ import annotations

import uuid

from accounts_gql.core.errors import DomainError, ErrorKind
from accounts_gql.core.viewer import Viewer
from accounts_gql.db.pool import Executor
from accounts_gql.repositories import contacts as repository
from accounts_gql.repositories.contacts import ContactRow
from accounts_gql.services.authorization import (
    forbidden,
    require_self_or_admin,
    require_signed_in,
)


async def _owned_contact(db: Executor, viewer: Viewer, contact_id: uuid.UUID) -> ContactRow:
    """The contact, if the viewer may change it; others' contacts look absent."""
    require_signed_in(viewer)
    rows = await repository.contacts_by_ids(db, [contact_id])
    if not rows or not (viewer.is_admin or rows[0].user_id == viewer.user_id):
        raise DomainError(ErrorKind.NOT_FOUND, "No such contact.", field="id")
    return rows[0]


def _require_verifier(viewer: Viewer, is_verified: bool | None) -> None:
    if is_verified is not None and not viewer.is_admin:
        raise forbidden("Only an admin may set whether a contact is verified.")


async def add_contact(
    db: Executor,
    viewer: Viewer,
    *,
    user_id: uuid.UUID,
    type_code: str,
    value: str,
    is_primary: bool,
    is_verified: bool,
) -> ContactRow:
    require_signed_in(viewer)
    require_self_or_admin(viewer, user_id)
    _require_verifier(viewer, is_verified or None)
    return await repository.add_contact(
        db, user_id, type_code, value, is_primary, is_verified, actor_id=viewer.user_id
    )


async def update_contact(
    db: Executor,
    viewer: Viewer,
    contact_id: uuid.UUID,
    *,
    value: str | None,
    is_verified: bool | None,
) -> ContactRow:
    await _owned_contact(db, viewer, contact_id)
    _require_verifier(viewer, is_verified)
    return await repository.update_contact(
        db, contact_id, value, is_verified, actor_id=viewer.user_id
    )


async def set_primary_contact(db: Executor, viewer: Viewer, contact_id: uuid.UUID) -> ContactRow:
    await _owned_contact(db, viewer, contact_id)
    return await repository.set_primary_contact(db, contact_id, actor_id=viewer.user_id)


async def deactivate_contact(db: Executor, viewer: Viewer, contact_id: uuid.UUID) -> ContactRow:
    await _owned_contact(db, viewer, contact_id)
    return await repository.deactivate_contact(db, contact_id, actor_id=viewer.user_id)
