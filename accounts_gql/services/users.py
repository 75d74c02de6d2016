"""Users: who may read and change accounts (PRODUCT §6)."""

from __future__ import annotations

import uuid
from typing import Any

from accounts_gql.core.errors import DomainError, ErrorKind
from accounts_gql.core.viewer import Viewer
from accounts_gql.db.pool import Executor
from accounts_gql.repositories import users as repository
from accounts_gql.repositories.users import UserPage, UserRow
from accounts_gql.services.authorization import (
    forbidden,
    require_admin,
    require_self_or_admin,
    require_signed_in,
)
from accounts_gql.services.bounds import check_json_depth


def require_reader(viewer: Viewer) -> None:
    """Users are visible to signed-in callers only (public fields; see PRIVATE_USER_FIELDS)."""
    require_signed_in(viewer)


async def users_page(
    db: Executor,
    viewer: Viewer,
    *,
    first: int | None,
    last: int | None,
    after: tuple[str, uuid.UUID] | None,
    before: tuple[str, uuid.UUID] | None,
    order: str,
    search: str | None,
    status: str | None,
    group_id: uuid.UUID | None,
    role: str | None,
) -> UserPage:
    require_reader(viewer)
    return await repository.users_page(
        db,
        first=first,
        last=last,
        after=after,
        before=before,
        order=order,
        search=search,
        status=status,
        group_id=group_id,
        role=role,
    )


async def create_user(
    db: Executor,
    viewer: Viewer,
    *,
    username: str,
    display_name: str,
    profile: Any,
    roles: list[str] | None,
) -> UserRow:
    require_admin(viewer)
    check_json_depth(profile, "profile")
    return await repository.create_user(
        db, username, display_name, profile, roles or [], actor_id=viewer.user_id
    )


async def update_user(
    db: Executor,
    viewer: Viewer,
    user_id: uuid.UUID,
    *,
    username: str | None,
    display_name: str | None,
    roles: list[str] | None,
    expected_version: int | None,
) -> UserRow:
    require_signed_in(viewer)
    require_self_or_admin(viewer, user_id)
    if roles is not None and not viewer.is_admin:
        raise forbidden("Only an admin may change roles.")
    return await repository.update_user(
        db,
        user_id,
        username=username,
        display_name=display_name,
        roles=roles,
        expected_version=expected_version,
        actor_id=viewer.user_id,
    )


async def update_user_profile(
    db: Executor, viewer: Viewer, user_id: uuid.UUID, *, patch: Any, expected_version: int | None
) -> UserRow:
    require_signed_in(viewer)
    require_self_or_admin(viewer, user_id)
    check_json_depth(patch, "patch")
    try:
        return await repository.update_user_profile(
            db, user_id, patch, expected_version=expected_version, actor_id=viewer.user_id
        )
    except DomainError as error:
        # The merged profile breaks a rule (e.g. its size): the caller's input is the patch.
        if error.kind is ErrorKind.VALIDATION and error.field == "profile":
            raise DomainError(error.kind, error.message, "patch", error.detail) from error
        raise


async def deactivate_user(
    db: Executor, viewer: Viewer, user_id: uuid.UUID, *, expected_version: int | None
) -> UserRow:
    require_admin(viewer)
    return await repository.deactivate_user(
        db, user_id, expected_version=expected_version, actor_id=viewer.user_id
    )


async def reactivate_user(
    db: Executor, viewer: Viewer, user_id: uuid.UUID, *, expected_version: int | None
) -> UserRow:
    require_admin(viewer)
    return await repository.reactivate_user(
        db, user_id, expected_version=expected_version, actor_id=viewer.user_id
    )


async def delete_user(
    db: Executor, viewer: Viewer, user_id: uuid.UUID, *, expected_version: int | None
) -> uuid.UUID:
    """Erasure: the user themself or an admin."""
    require_signed_in(viewer)
    require_self_or_admin(viewer, user_id)
    return await repository.delete_user(
        db, user_id, expected_version=expected_version, actor_id=viewer.user_id
    )
