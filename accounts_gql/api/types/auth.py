"""Sign-up, login, token refresh, logout and password change (PRODUCT §6): the types."""

from __future__ import annotations

import strawberry

from accounts_gql.api.cache import replace
from accounts_gql.api.context import Context
from accounts_gql.api.errors import Error
from accounts_gql.api.fields import data_field
from accounts_gql.api.types.user import User
from accounts_gql.core.settings import Settings, get_settings
from accounts_gql.services.auth import Session
from accounts_gql.services.reads import auth as reads

Info = strawberry.Info[Context, None]


def settings_of(info: Info) -> Settings:
    return info.context.settings or get_settings()


@strawberry.type(
    description=(
        "Wrong username or password, or a refresh token that is unknown or expired. "
        "Login says the same for an unknown username and a wrong password."
    )
)
class InvalidCredentials(Error):
    pass


@strawberry.type(
    description="A signed-in session: a short-lived access token and its refresh token."
)
class AuthPayload:
    _session: strawberry.Private[Session]

    @strawberry.field(description="A JWT for 'Authorization: Bearer <token>'.")
    def access_token(self) -> str:
        return self._session.access_token

    @strawberry.field(
        description=(
            "Opaque; exchange it with refreshToken for a new pair. Each one works once "
            "(a second use within the refresh grace window answers the same new pair); "
            "using it again later revokes the session."
        )
    )
    def refresh_token(self) -> str:
        return self._session.refresh_token

    @strawberry.field(description="Seconds until the access token expires.")
    def expires_in(self) -> int:
        return self._session.expires_in

    @strawberry.field(description="Always 'Bearer'.")
    def token_type(self) -> str:
        return "Bearer"

    @strawberry.field
    async def user(self, info: Info) -> User | None:
        loader = info.context.loaders.user
        if self._session.user is not None:
            replace(loader, self._session.user.id, self._session.user)
            return self._session.user
        return await loader.load(self._session.user_id)


@strawberry.type
class LogoutSuccess:
    revoked: bool = strawberry.field(
        description=(
            "Whether a live session ended (false: the token was unknown or already revoked)."
        )
    )


@strawberry.type(description="What sign-up and password forms need to know.")
class AuthSettings:
    """services/reads/auth.py: AuthSettingsRow."""

    sign_up_allowed: bool
    password_min_length: int
    password_max_length: int


@strawberry.type
class AuthQueries:
    auth_settings: AuthSettings = data_field(
        reads.AUTH_SETTINGS, description="Whether sign-up is open, and the password length rules."
    )
