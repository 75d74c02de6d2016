"""Reads of sessions: `User.sessions` (the user and admins) and `Session.current`."""

from __future__ import annotations

from collections.abc import Awaitable
from operator import attrgetter

from accounts_gql.repositories.sessions import SessionRow
from accounts_gql.repositories.users import UserRow
from accounts_gql.services.reads.contract import Read, Scope


def users_sessions(scope: Scope, users: list[UserRow]) -> Awaitable[list[list[SessionRow]]]:
    """Each user's live sessions, oldest first."""
    return scope.loaders.sessions.load_many([user.id for user in users])


def sessions_current(scope: Scope, sessions: list[SessionRow]) -> list[bool]:
    """Whether the caller's access token belongs to the session."""
    current = scope.viewer.session_id
    return [row.id == current for row in sessions]


USER_SESSIONS = Read(
    "User", "sessions", users_sessions, owner=attrgetter("id"), key=("sessions", "id"), uses=("id",)
)
SESSION_CURRENT = Read("Session", "current", sessions_current, awaits=False, uses=("id",))
