"""Access tokens: verifying the bearer JWT into a Viewer (PRODUCT §6)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable

import jwt

from accounts_gql.core.errors import DomainError, ErrorKind
from accounts_gql.core.settings import Settings
from accounts_gql.core.viewer import ANONYMOUS, Viewer

# Only these algorithms are accepted, whatever a token's header says.
ALLOWED_ALGORITHMS = ("HS256",)
_REQUIRED_CLAIMS = ("exp", "iat", "sub", "iss", "aud")
_DEV_SECRET = "development-only-secret-change-me-0123456789"


def signing_secret(settings: Settings) -> str:
    """The configured secret; in development a fixed one if none is set."""
    if settings.jwt_secret:
        return settings.jwt_secret
    if settings.is_production:
        raise RuntimeError("JWT_SECRET is required when APP_ENV=production")
    return _DEV_SECRET


def issue_access_token(
    settings: Settings, user_id: uuid.UUID, roles: Iterable[str], ttl: int | None = None
) -> str:
    now = int(time.time())
    claims = {
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "sub": str(user_id),
        "iat": now,
        "exp": now + (ttl if ttl is not None else settings.access_token_ttl),
        "jti": uuid.uuid4().hex,
        "roles": sorted(roles),
    }
    return jwt.encode(claims, signing_secret(settings), algorithm=ALLOWED_ALGORITHMS[0])


def viewer_from_authorization(settings: Settings, header: str | None) -> Viewer:
    """The caller named by an `Authorization: Bearer` header; anonymous without one.

    A header that is present but wrong is an error, never an anonymous request.
    """
    if not header:
        return ANONYMOUS
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise DomainError(ErrorKind.UNAUTHENTICATED, "Use 'Authorization: Bearer <token>'.")
    try:
        claims = jwt.decode(
            token.strip(),
            signing_secret(settings),
            algorithms=list(ALLOWED_ALGORITHMS),
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options={"require": list(_REQUIRED_CLAIMS)},
        )
        user_id = uuid.UUID(str(claims["sub"]))
        roles = claims.get("roles", [])
        if not isinstance(roles, list) or not all(isinstance(role, str) for role in roles):
            raise jwt.InvalidTokenError("roles must be a list of strings")
    except jwt.ExpiredSignatureError as error:
        raise DomainError(ErrorKind.UNAUTHENTICATED, "The access token has expired.") from error
    except (jwt.InvalidTokenError, ValueError) as error:
        raise DomainError(ErrorKind.UNAUTHENTICATED, "The access token is not valid.") from error
    return Viewer(user_id=user_id, roles=frozenset(roles))
