"""Who may do what (PRODUCT §6), in one place.

Anonymous callers read contact types only (and may sign up and log in). A user
reads and edits their own account, profile and contacts, and sees other users'
public fields only. Group managers and owners manage their group's members;
only owners hand out or take away ownership. `admin` may do everything.

The GraphQL layer consults `PRIVATE_USER_FIELDS` for field-level visibility;
services call the `require_*` functions before they write.
"""

from __future__ import annotations

import uuid

from accounts_gql.core.errors import DomainError, ErrorKind
from accounts_gql.core.viewer import Viewer

# Fields of User that only the user themself and admins can see; for anyone
# else they resolve to null.
PRIVATE_USER_FIELDS = frozenset({"profile", "contacts", "primaryContact", "sessions"})

MANAGING_ROLES = frozenset({"manager", "owner"})


def forbidden(message: str = "You may not do this.") -> DomainError:
    return DomainError(ErrorKind.FORBIDDEN, message)


def can_see_private(viewer: Viewer, user_id: uuid.UUID) -> bool:
    return viewer.is_admin or viewer.user_id == user_id


SIGN_IN_REQUIRED = "Sign in to do this."


def require_signed_in(viewer: Viewer) -> uuid.UUID:
    """The viewer's id; an anonymous caller is UNAUTHENTICATED (docs/errors.md), marked
    `signed_out` so that payloads can tell it from a failed login."""
    if viewer.user_id is None:
        raise DomainError(ErrorKind.UNAUTHENTICATED, SIGN_IN_REQUIRED, detail={"signed_out": True})
    return viewer.user_id


def require_admin(viewer: Viewer) -> None:
    if not viewer.is_admin:
        raise forbidden("Only an admin may do this.")


def require_self_or_admin(viewer: Viewer, user_id: uuid.UUID) -> None:
    if not can_see_private(viewer, user_id):
        raise forbidden("You may change only your own account.")


def require_group_role(
    viewer: Viewer, viewer_role: str | None, allowed: frozenset[str] = MANAGING_ROLES
) -> None:
    """The viewer's role in the group (None: not a member) must be one of `allowed`."""
    if viewer.is_admin:
        return
    require_signed_in(viewer)
    if viewer_role not in allowed:
        raise forbidden("Only the group's managers and owners may do this.")
