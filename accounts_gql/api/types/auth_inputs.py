"""Sign-up, login, token refresh, logout and password change: inputs and payloads."""

from __future__ import annotations

from typing import Annotated

import strawberry

from accounts_gql.api.errors import (
    Forbidden,
    SessionRevoked,
    TooManyAttempts,
    UsernameTaken,
    ValidationError,
)
from accounts_gql.api.types.auth import AuthPayload, InvalidCredentials, LogoutSuccess


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
