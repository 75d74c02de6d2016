"""Sessions a user can see and end (PRODUCT §6): one per refresh-token family.

A user lists and ends their own sessions; an admin those of any user. Ending a
session stops its refresh tokens at once and records `session.revoked`; access
tokens already issued for it work until they expire (ACCESS_TOKEN_TTL).
Someone else's session looks absent (NotFound), as contacts do.
"""

from __future__ import annotations

import uuid

from accounts_gql.core.errors import DomainError, ErrorKind
from accounts_gql.core.viewer import Viewer
from accounts_gql.db.pool import Executor
from accounts_gql.repositories import sessions as repository
from accounts_gql.repositories.sessions import SessionRow
from accounts_gql.services.authorization import require_self_or_admin, require_signed_in


async def revoke_session(db: Executor, viewer: Viewer, session_id: uuid.UUID) -> SessionRow:
    """Ends one live session of the viewer's (any user's, for an admin)."""
    require_signed_in(viewer)
    rows = await repository.sessions_by_ids(db, [session_id])
    if not rows or not (viewer.is_admin or rows[0].user_id == viewer.user_id):
        raise DomainError(ErrorKind.NOT_FOUND, "No such session.", field="id")
    ended = await repository.end_session(db, session_id, "revoked", actor_id=viewer.user_id)
    if ended is None:
        raise DomainError(ErrorKind.INVALID_STATE, "This session has ended already.", "id")
    return ended


async def logout_everywhere(
    db: Executor, viewer: Viewer, *, user_id: uuid.UUID | None, include_current: bool
) -> int:
    """Ends the user's sessions (the viewer's own when user_id is None): all of them,
    or all but the one the viewer's access token belongs to. Returns how many."""
    own = require_signed_in(viewer)
    target = user_id or own
    require_self_or_admin(viewer, target)
    keep = viewer.session_id if target == own and not include_current else None
    return await repository.end_user_sessions(
        db, target, except_session=keep, reason="revoked", actor_id=viewer.user_id
    )
