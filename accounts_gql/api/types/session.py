"""Sessions: `User.sessions`, `revokeSession`, `logoutEverywhere` (PRODUCT §6)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable
from datetime import datetime
from typing import Annotated, Any

import strawberry

from accounts_gql.api.context import Context
from accounts_gql.api.errors import Forbidden, InvalidState, NotFound, ValidationError
from accounts_gql.api.ids import encode_id
from accounts_gql.api.mutations import input_id, payload
from accounts_gql.db.pool import Executor
from accounts_gql.repositories import sessions as repository
from accounts_gql.repositories.sessions import SessionRow
from accounts_gql.services import sessions as service
from accounts_gql.services.authorization import can_see_private

Info = strawberry.Info[Context, None]


async def load_sessions_by_user(db: Executor, user_ids: list[uuid.UUID]) -> list[list[SessionRow]]:
    by_user: dict[uuid.UUID, list[SessionRow]] = {key: [] for key in user_ids}
    for row in await repository.sessions_of_users(db, user_ids):
        by_user[row.user_id].append(row)
    return [by_user[key] for key in user_ids]


def users_sessions(
    ctx: Context, user_ids: list[uuid.UUID]
) -> Awaitable[list[list[SessionRow] | None]]:
    """Each user's live sessions, or None where the viewer may not see them."""
    visible = [user_id for user_id in user_ids if can_see_private(ctx.viewer, user_id)]
    loading = ctx.loaders.sessions.load_many(visible)

    async def sessions() -> list[list[SessionRow] | None]:
        loaded = dict(zip(visible, await loading, strict=True))
        return [loaded.get(user_id) for user_id in user_ids]

    return sessions()


@strawberry.type(
    name="Session",
    description=(
        "A signed-in session (one refresh-token family): opened by sign-up or login, "
        "kept alive by refreshes."
    ),
)
class Session:
    created_at: datetime
    last_used_at: datetime = strawberry.field(description="The last sign-in or refresh.")
    expires_at: datetime = strawberry.field(description="When its refresh token expires.")
    user_agent: str | None = strawberry.field(description="As the client sent it.")
    client_address: str | None = strawberry.field(description="As of the last use.")

    @strawberry.field
    def id(root: strawberry.Parent[SessionRow]) -> strawberry.ID:
        return strawberry.ID(encode_id("Session", root.id))

    @strawberry.field(description="Whether the caller's access token belongs to it.")
    def current(root: strawberry.Parent[SessionRow], info: Info) -> bool:
        return root.id == info.context.viewer.session_id

    @classmethod
    def is_type_of(cls, obj: Any, info: Any) -> bool:
        return isinstance(obj, SessionRow)


@strawberry.input
class RevokeSessionInput:
    id: strawberry.ID


@strawberry.input
class LogoutEverywhereInput:
    user_id: strawberry.ID | None = strawberry.field(
        default=None, description="Another user's sessions (admins only); default: the caller."
    )
    include_current: bool = strawberry.field(
        default=False,
        description="Also end the session of the caller's access token (default: keep it).",
    )


@strawberry.type
class RevokeSessionSuccess:
    session: Session


@strawberry.type
class LogoutEverywhereSuccess:
    revoked_count: int = strawberry.field(description="How many sessions ended.")


RevokeSessionPayload = Annotated[
    RevokeSessionSuccess | NotFound | InvalidState | ValidationError | Forbidden,
    strawberry.union("RevokeSessionPayload"),
]
LogoutEverywherePayload = Annotated[
    LogoutEverywhereSuccess | ValidationError | Forbidden,
    strawberry.union("LogoutEverywherePayload"),
]


@strawberry.type
class SessionMutations:
    @strawberry.mutation(
        description=(
            "Ends a session of the caller's (any user's, for an admin): its refresh token "
            "stops working at once; access tokens issued for it work until they expire."
        )
    )
    async def revoke_session(self, info: Info, input: RevokeSessionInput) -> RevokeSessionPayload:
        ctx = info.context

        async def call() -> SessionRow:
            session_id = input_id(input.id, "Session", "id")
            return await service.revoke_session(ctx.db.write, ctx.viewer, session_id)

        return await payload(call, lambda row: RevokeSessionSuccess(session=row))

    @strawberry.mutation(
        description=(
            "Ends every session of the caller but the current one (includeCurrent: all), "
            "or, for an admin, of the user named by userId."
        )
    )
    async def logout_everywhere(
        self, info: Info, input: LogoutEverywhereInput | None = None
    ) -> LogoutEverywherePayload:
        ctx = info.context
        given = input or LogoutEverywhereInput()

        async def call() -> int:
            user_id = input_id(given.user_id, "User", "userId") if given.user_id else None
            return await service.logout_everywhere(
                ctx.db.write,
                ctx.viewer,
                user_id=user_id,
                include_current=given.include_current,
            )

        return await payload(call, lambda count: LogoutEverywhereSuccess(revoked_count=count))
