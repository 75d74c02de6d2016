"""Reads of the sign-in rules: what sign-up and password forms need to know."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from accounts_gql.core.settings import get_settings
from accounts_gql.services.reads.contract import Read, Scope


@dataclass(frozen=True, slots=True)
class AuthSettingsRow:
    sign_up_allowed: bool
    password_min_length: int
    password_max_length: int


def auth_settings(scope: Scope, roots: list[Any]) -> list[AuthSettingsRow]:
    settings = scope.settings or get_settings()
    row = AuthSettingsRow(
        sign_up_allowed=settings.allow_signup,
        password_min_length=settings.password_min_length,
        password_max_length=settings.password_max_length,
    )
    return [row] * len(roots)


AUTH_SETTINGS = Read("Query", "authSettings", auth_settings, awaits=False)
