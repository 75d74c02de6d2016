"""Sessions: the Session type (`User.sessions`, read in services/reads/sessions.py),
`revokeSession`, `logoutEverywhere` (PRODUCT §6)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import strawberry

from accounts_gql.api.context import Context
from accounts_gql.api.errors import Forbidden, InvalidState, NotFound, ValidationError
from accounts_gql.api.fields import data_field, row_field
from accounts_gql.api.mutations import input_id, payload
from accounts_gql.core.ids import encode_id
from accounts_gql.services import sessions as service
from accounts_gql.services.reads import sessions as reads
from accounts_gql.services.reads.rows import SessionRow

Info = strawberry.Info[Context, None]


def _session_id(row: SessionRow) -> str:
    return encode_id("Session", row.id)


@strawberry.type(
    name="Session",
    description=(
        "A signed-in session (one refresh-token family): opened by sign-up or login, "
        "kept alive by refreshes."
    ),
)
class Session:
    id: strawberry.ID = row_field(_session_id, ("id",))
    created_at: datetime
    last_used_at: datetime = strawberry.field(description="The last sign-in or refresh.")
    expires_at: datetime = strawberry.field(description="When its refresh token expires.")
    user_agent: str | None = strawberry.field(description="As the client sent it.")
    client_address: str | None = strawberry.field(description="As of the last use.")
    current: bool = data_field(
        reads.SESSION_CURRENT, description="Whether the caller's access token belongs to it."
    )

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
