"""Sign-up, login, token refresh, logout and password change (PRODUCT §6)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import strawberry

from accounts_gql.api.cache import replace
from accounts_gql.api.context import Context
from accounts_gql.api.errors import (
    Error,
    Forbidden,
    SessionRevoked,
    TooManyAttempts,
    UsernameTaken,
    ValidationError,
    error_payload,
)
from accounts_gql.api.types.user import User
from accounts_gql.core.errors import DomainError, ErrorKind
from accounts_gql.core.settings import Settings, get_settings
from accounts_gql.repositories.credentials import Caller
from accounts_gql.services import auth as service
from accounts_gql.services.auth import Session

Info = strawberry.Info[Context, None]
T = TypeVar("T")
S = TypeVar("S")


def settings_of(info: Info) -> Settings:
    return info.context.settings or get_settings()


def caller_of(info: Info) -> Caller:
    return Caller(client_address=info.context.client_ip, user_agent=info.context.user_agent)


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
    sign_up_allowed: bool
    password_min_length: int
    password_max_length: int


@strawberry.input
class SignUpInput:
    username: str = strawberry.field(description="3–32 letters, digits, '.', '_' or '-'.")
    password: str
    display_name: str = ""


@strawberry.input
class LoginInput:
    username: str = strawberry.field(description="Compared without regard to case.")
    password: str


@strawberry.input
class RefreshTokenInput:
    refresh_token: str


@strawberry.input
class LogoutInput:
    refresh_token: str = strawberry.field(description="Any refresh token of the session to end.")


@strawberry.input
class ChangePasswordInput:
    current_password: str
    new_password: str


SignUpPayload = Annotated[
    AuthPayload | ValidationError | UsernameTaken | Forbidden,
    strawberry.union("SignUpPayload"),
]
LoginPayload = Annotated[
    AuthPayload | InvalidCredentials | TooManyAttempts | Forbidden,
    strawberry.union("LoginPayload"),
]
RefreshTokenPayload = Annotated[
    AuthPayload | InvalidCredentials | SessionRevoked,
    strawberry.union("RefreshTokenPayload"),
]
LogoutPayload = Annotated[
    LogoutSuccess | ValidationError,
    strawberry.union("LogoutPayload"),
]
ChangePasswordPayload = Annotated[
    AuthPayload | InvalidCredentials | TooManyAttempts | ValidationError | Forbidden,
    strawberry.union("ChangePasswordPayload"),
]


def auth_error(error: DomainError) -> Error:
    """The payload error of an auth mutation: credentials and throttling have their own."""
    if error.kind is ErrorKind.UNAUTHENTICATED and not error.detail.get("signed_out"):
        return InvalidCredentials(message=error.message)
    return error_payload(error)


async def auth_payload(call: Callable[[], Awaitable[T]], success: Callable[[T], S]) -> S | Error:
    try:
        result = await call()
    except DomainError as error:
        return auth_error(error)
    return success(result)


def _authenticated(session: Session) -> AuthPayload:
    return AuthPayload(_session=session)


def _required(value: str, field: str) -> str:
    if not value:
        raise DomainError(ErrorKind.VALIDATION, f"{field} is required.", field)
    return value


@strawberry.type
class AuthQueries:
    @strawberry.field(description="Whether sign-up is open, and the password length rules.")
    def auth_settings(self, info: Info) -> AuthSettings:
        settings = settings_of(info)
        return AuthSettings(
            sign_up_allowed=settings.allow_signup,
            password_min_length=settings.password_min_length,
            password_max_length=settings.password_max_length,
        )


@strawberry.type
class AuthMutations:
    @strawberry.mutation(description="Creates an account with a password and signs it in.")
    async def sign_up(self, info: Info, input: SignUpInput) -> SignUpPayload:
        ctx = info.context
        return await auth_payload(
            lambda: service.sign_up(
                ctx.db.write,
                settings_of(info),
                username=input.username,
                password=input.password,
                display_name=input.display_name,
                caller=caller_of(info),
            ),
            _authenticated,
        )

    @strawberry.mutation(
        description=(
            "Signs in with a username and password. Failed attempts are limited per "
            "username and client address, per address, and slowed per username for "
            "addresses that failed on it (TooManyAttempts); an address that has not "
            "failed is never refused for another's failures."
        )
    )
    async def login(self, info: Info, input: LoginInput) -> LoginPayload:
        ctx = info.context
        return await auth_payload(
            lambda: service.login(
                ctx.db.write,
                settings_of(info),
                username=input.username,
                password=input.password,
                caller=caller_of(info),
            ),
            _authenticated,
        )

    @strawberry.mutation(
        description=(
            "Exchanges a refresh token for a new access token and a new refresh token. "
            "A refresh token works once; a second use within the grace window "
            "(concurrent refreshes) answers the same new refresh token, a later one "
            "revokes its session. An ended session's token gets SessionRevoked."
        )
    )
    async def refresh_token(self, info: Info, input: RefreshTokenInput) -> RefreshTokenPayload:
        ctx = info.context
        return await auth_payload(
            lambda: service.refresh(
                ctx.db.write,
                settings_of(info),
                refresh_token=input.refresh_token,
                caller=caller_of(info),
            ),
            _authenticated,
        )

    @strawberry.mutation(description="Ends the session a refresh token belongs to.")
    async def logout(self, info: Info, input: LogoutInput) -> LogoutPayload:
        ctx = info.context

        async def call() -> bool:
            token = _required(input.refresh_token, "refreshToken")
            return await service.logout(ctx.db.write, refresh_token=token)

        return await auth_payload(call, lambda revoked: LogoutSuccess(revoked=revoked))

    @strawberry.mutation(
        description=(
            "Changes the signed-in user's password. Every other session is ended; "
            "the payload holds the caller's new session."
        )
    )
    async def change_password(
        self, info: Info, input: ChangePasswordInput
    ) -> ChangePasswordPayload:
        ctx = info.context
        return await auth_payload(
            lambda: service.change_password(
                ctx.db.write,
                settings_of(info),
                ctx.viewer,
                current_password=input.current_password,
                new_password=input.new_password,
                caller=caller_of(info),
            ),
            _authenticated,
        )
