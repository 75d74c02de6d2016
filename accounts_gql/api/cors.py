"""Cross-origin requests from browser frontends (issue 13 item 19), through
Starlette's CORSMiddleware.

Allowed origins come from CORS_ORIGINS (comma-separated, exact origins such as
`https://app.example.com`). Unset, production allows none (no middleware at
all: a preflight is answered 405, as before) and development allows any port of
localhost and 127.0.0.1, where a frontend's dev server runs. Credentials and the
Authorization header are allowed, so a signed-in browser can call the API; a
preflight is cached for an hour.
"""

from __future__ import annotations

from typing import Any

from accounts_gql.core.settings import Settings

DEVELOPMENT_ORIGINS = r"https?://(localhost|127\.0\.0\.1|\[::1\])(:[0-9]{1,5})?"
ALLOWED_HEADERS = ("authorization", "content-type", "x-request-id", "x-consistency-token")
EXPOSED_HEADERS = ("x-request-id", "x-consistency-token", "retry-after")
MAX_AGE = 3600  # seconds a browser may reuse a preflight's answer


def allowed_origins(settings: Settings) -> tuple[list[str], str | None]:
    """The exact origins and the pattern of origins a browser may call from."""
    if settings.cors_origins is not None:
        return [o.strip() for o in settings.cors_origins.split(",") if o.strip()], None
    if settings.is_production:
        return [], None
    return [], DEVELOPMENT_ORIGINS


def cors_options(settings: Settings) -> dict[str, Any] | None:
    """CORSMiddleware's arguments, or None when no origin is allowed (then the
    middleware is left out and requests pay nothing for it)."""
    origins, pattern = allowed_origins(settings)
    if not origins and pattern is None:
        return None
    return {
        "allow_origins": origins,
        "allow_origin_regex": pattern,
        "allow_methods": ("GET", "POST"),
        "allow_headers": ALLOWED_HEADERS,
        "allow_credentials": True,
        "expose_headers": EXPOSED_HEADERS,
        "max_age": MAX_AGE,
    }
