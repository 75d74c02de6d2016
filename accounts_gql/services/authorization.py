"""Who may do what (PRODUCT §6), in one place.

Anonymous callers read contact types only (and may sign up and log in). A user
reads and edits their own account, profile and contacts, and sees other users'
public fields only. Group managers and owners manage their group's members;
only owners hand out or take away ownership. `admin` may do everything.

Reads: `VISIBILITY` says who sees each field that needs data, and the read side's
contract (services/reads/contract.py) applies it to every read, on both execution
paths. Writes: services call the `require_*` functions before they write.
"""

from __future__ import annotations

import enum
import uuid

from accounts_gql.core.errors import DomainError, ErrorKind
from accounts_gql.core.viewer import Viewer


class Visibility(enum.Enum):
    """Who sees a field that needs data."""

    # Whoever sees the object it belongs to (anyone, at the root).
    PUBLIC = "whoever sees its object"
    # Signed-in callers; anonymous ones get UNAUTHENTICATED, before the field's
    # arguments are looked at (a bad cursor of an anonymous caller is still that).
    SIGNED_IN = "signed-in callers"
    # The user the object belongs to and admins; null for anyone else (no error
    # entry per row: a page of 50 users would otherwise carry 50 errors).
    SELF_OR_ADMIN = "its user and admins"


# Which viewers see which fields, by (GraphQL type, field). Every read of the
# contract is declared here and nowhere else (tests/test_read_contract.py); the
# plain fields of an object (a user's username, …) go with the object.
VISIBILITY: dict[tuple[str, str], Visibility] = {
    ("Query", "me"): Visibility.PUBLIC,  # null for anonymous callers
    ("Query", "contactTypes"): Visibility.PUBLIC,  # inactive ones for admins only
    ("Query", "authSettings"): Visibility.PUBLIC,
    # By the id's type: contact types for anyone, users and groups for signed-in
    # callers, a contact for its user and admins (else null: ids do not leak).
    ("Query", "node"): Visibility.PUBLIC,
    ("Query", "nodes"): Visibility.PUBLIC,
    ("Query", "user"): Visibility.SIGNED_IN,
    ("Query", "users"): Visibility.SIGNED_IN,
    ("Query", "group"): Visibility.SIGNED_IN,
    ("Query", "groups"): Visibility.SIGNED_IN,
    ("User", "profile"): Visibility.SELF_OR_ADMIN,
    ("User", "contacts"): Visibility.SELF_OR_ADMIN,
    ("User", "primaryContact"): Visibility.SELF_OR_ADMIN,
    ("User", "sessions"): Visibility.SELF_OR_ADMIN,
    ("Session", "current"): Visibility.PUBLIC,
    ("User", "memberships"): Visibility.PUBLIC,
    ("User", "groups"): Visibility.PUBLIC,
    ("UserConnection", "totalCount"): Visibility.PUBLIC,
    ("Contact", "type"): Visibility.PUBLIC,
    ("Contact", "user"): Visibility.PUBLIC,
    ("Group", "memberCount"): Visibility.PUBLIC,
    ("Group", "members"): Visibility.PUBLIC,
    ("GroupConnection", "totalCount"): Visibility.PUBLIC,
    ("Membership", "user"): Visibility.PUBLIC,
    ("Membership", "group"): Visibility.PUBLIC,
    ("Membership", "addedBy"): Visibility.PUBLIC,
}

# Fields of User that only the user themself and admins can see.
PRIVATE_USER_FIELDS = frozenset(
    field
    for (type_name, field), rule in VISIBILITY.items()
    if type_name == "User" and rule is Visibility.SELF_OR_ADMIN
)

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
