"""Sign-up, login, token refresh, logout and password change: the mutations
(services/auth.py holds the rules)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import strawberry

from accounts_gql.api.context import Context
from accounts_gql.api.errors import Error, error_payload
from accounts_gql.api.types.auth import (
    AuthPayload,
    InvalidCredentials,
    LogoutSuccess,
    settings_of,
)
from accounts_gql.api.types.auth_inputs import (
    ChangePasswordInput,
    ChangePasswordPayload,
    LoginInput,
    LoginPayload,
    LogoutInput,
    LogoutPayload,
    RefreshTokenInput,
    RefreshTokenPayload,
    SignUpInput,
    SignUpPayload,
)
from accounts_gql.core.errors import DomainError, ErrorKind
from accounts_gql.services import auth as service
from accounts_gql.services.auth import Caller, Session

Info = strawberry.Info[Context, None]
T = TypeVar("T")
S = TypeVar("S")


def caller_of(info: Info) -> Caller:
    return Caller(client_address=info.context.client_ip, user_agent=info.context.user_agent)


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
