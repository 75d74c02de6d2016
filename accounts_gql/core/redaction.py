"""Takes secrets out of text before it becomes a log line (PRODUCT §6).

The sources are kept clean first (no local variables in tracebacks, secrets out
of the settings' repr, descriptions of database errors without their messages:
docs/operations.md); this is the last line behind them. It replaces

- the configured secrets themselves, wherever they appear: the passwords of
  DATABASE_URL, READ_DATABASE_URL and RABBITMQ_URL (as written and decoded),
  JWT_SECRET and every secret of JWT_KEYS and JWT_PRIVATE_KEYS;
- what looks like a credential whatever its value: the password of any URL
  (`scheme://user:password@`), `Bearer …` and `Basic …` credentials, JWTs,
  long opaque tokens (refresh tokens, argon2 hashes: 40 or more URL-safe
  characters), and values given to keys named like a secret (`password=…`,
  `"refresh_token": "…"`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import unquote, urlsplit

from accounts_gql.core.settings import Settings

MASK = "[redacted]"
_MIN_SECRET_LENGTH = 4  # shorter values would mask ordinary words

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # A URL's password: keep the scheme and user, hide what follows the colon.
    (re.compile(r"(?P<keep>[a-zA-Z][\w+.-]*://[^\s:/@]*:)[^\s@/]+(?=@)"), rf"\g<keep>{MASK}"),
    (re.compile(r"(?i)(?P<keep>\b(?:bearer|basic)\s+)[\w.~+/=-]{8,}"), rf"\g<keep>{MASK}"),
    (re.compile(r"\beyJ[\w-]*\.[\w-]+\.[\w-]*"), MASK),
    (
        re.compile(
            r"(?i)(?P<keep>[\"']?[\w-]*(?:password|passwd|secret|token|authorization|api[_-]?key)"
            r"[\"']?\s*[:=]\s*[\"']?)[^\"'\s,;&}]+"
        ),
        rf"\g<keep>{MASK}",
    ),
    # Mixed case and a digit: a random token, not a long snake_case name.
    (re.compile(r"(?<![\w$-])(?=[\w-]*\d)(?=[\w-]*[A-Z])(?=[\w-]*[a-z])[\w-]{40,}(?![\w-])"), MASK),
    (re.compile(r"\$argon2[\w$=,.+/-]+"), MASK),
)


class Redactor:
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first, so that a secret containing another is replaced whole.
        self.secrets = sorted(
            {s for s in secrets if len(s) >= _MIN_SECRET_LENGTH}, key=len, reverse=True
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> Redactor:
        return cls(configured_secrets(settings))

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        return text


def url_password(url: str | None) -> list[str]:
    """A URL's password as written and percent-decoded (empty without one)."""
    if not url:
        return []
    try:
        password = urlsplit(url).password
    except ValueError:
        return []
    return [password, unquote(password)] if password else []


def configured_secrets(settings: Settings) -> list[str]:
    secrets = [
        *url_password(settings.database_url),
        *url_password(settings.migration_database_url),
        *url_password(settings.read_database_url),
        *url_password(settings.rabbitmq_url),
    ]
    if settings.jwt_secret:
        secrets.append(settings.jwt_secret)
    for part in [
        *(settings.jwt_keys or "").split(","),
        *(settings.jwt_private_keys or "").split(","),
    ]:
        _, _, secret = part.strip().partition(":")
        if secret and not secret.startswith("@"):
            secrets.append(secret)
    return secrets
