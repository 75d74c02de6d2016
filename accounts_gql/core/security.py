"""Access tokens: verifying the bearer JWT into a Viewer (PRODUCT §6)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from functools import lru_cache

import jwt

from accounts_gql.core.errors import DomainError, ErrorKind
from accounts_gql.core.settings import Settings
from accounts_gql.core.viewer import ANONYMOUS, Viewer

# Only these algorithms are accepted, whatever a token's header says.
ALLOWED_ALGORITHMS = ("HS256",)
_REQUIRED_CLAIMS = ("exp", "iat", "sub", "iss", "aud", "jti")
_DEV_SECRET = "development-only-secret-change-me-0123456789"
# The key id of JWT_SECRET when JWT_KEYS is not set.
DEFAULT_KID = "default"
MIN_SECRET_BYTES = 32


def signing_secret(settings: Settings) -> str:
    """The configured secret; in development a fixed one if none is set."""
    if settings.jwt_secret:
        return settings.jwt_secret
    if settings.is_production:
        raise RuntimeError("JWT_SECRET is required when APP_ENV=production")
    return _DEV_SECRET


@lru_cache(maxsize=8)
def _parse_keys(spec: str) -> tuple[tuple[str, str], ...]:
    keys: list[tuple[str, str]] = []
    for part in spec.split(","):
        kid, sep, secret = part.strip().partition(":")
        if not sep or not kid or not secret:
            raise RuntimeError("JWT_KEYS must look like 'kid1:secret1,kid2:secret2'")
        if any(kid == seen for seen, _ in keys):
            raise RuntimeError(f"JWT_KEYS names key id {kid!r} twice")
        keys.append((kid, secret))
    return tuple(keys)


def signing_keys(settings: Settings) -> tuple[tuple[str, str], ...]:
    """(kid, secret) pairs: the first signs, all verify.

    JWT_KEYS lists them for rotation; without it JWT_SECRET is the single key,
    with kid "default" (name it so in JWT_KEYS to keep its tokens valid).
    """
    if settings.jwt_keys and settings.jwt_keys.strip():
        keys = _parse_keys(settings.jwt_keys.strip())
    else:
        keys = ((DEFAULT_KID, signing_secret(settings)),)
    if settings.is_production:
        for kid, secret in keys:
            if len(secret.encode()) < MIN_SECRET_BYTES:
                raise RuntimeError(
                    f"signing key {kid!r} must be at least {MIN_SECRET_BYTES} bytes in production"
                )
    return keys


def issue_access_token(
    settings: Settings,
    user_id: uuid.UUID,
    roles: Iterable[str],
    ttl: int | None = None,
    *,
    session_id: uuid.UUID | None = None,
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
    if session_id is not None:
        # The session it belongs to: `me { sessions { current } }`.
        claims["sid"] = str(session_id)
    kid, secret = signing_keys(settings)[0]
    return jwt.encode(claims, secret, algorithm=ALLOWED_ALGORITHMS[0], headers={"kid": kid})


def viewer_from_authorization(settings: Settings, header: str | None) -> Viewer:
    """The caller named by an `Authorization: Bearer` header; anonymous without one.

    A header that is present but wrong is an error, never an anonymous request.
    """
    if not header:
        return ANONYMOUS
    return verify_authorization(settings, header)[0]


class VerifiedTokens:
    """Access tokens already verified, by their header: a repeated token costs a
    lookup instead of a signature check and claim validation (PRODUCT §8).

    A token's signature and claims cannot change, and the keys are fixed for the
    process, so a verified token stays valid until its `exp`, which every hit
    checks again. Access tokens are not revocable (PRODUCT §6), so nothing else
    can end one. Bounded: past `max_size` the oldest entries go first.
    """

    def __init__(self, settings: Settings, max_size: int = 10_000) -> None:
        self.settings = settings
        self.max_size = max_size
        self._entries: dict[str, tuple[Viewer, float]] = {}

    def viewer(self, header: str | None) -> Viewer:
        if not header:
            return ANONYMOUS
        entry = self._entries.get(header)
        if entry is not None:
            if time.time() < entry[1]:
                return entry[0]
            del self._entries[header]
        viewer, expires = verify_authorization(self.settings, header)
        if len(self._entries) >= self.max_size:
            del self._entries[next(iter(self._entries))]
        self._entries[header] = (viewer, expires)
        return viewer


def verify_authorization(settings: Settings, header: str) -> tuple[Viewer, float]:
    """The viewer of a bearer token and when the token expires; refuses a bad one."""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise DomainError(ErrorKind.UNAUTHENTICATED, "Use 'Authorization: Bearer <token>'.")
    keys = dict(signing_keys(settings))
    try:
        kid = jwt.get_unverified_header(token.strip()).get("kid")
        if not isinstance(kid, str) or kid not in keys:
            raise jwt.InvalidTokenError("unknown signing key")
        claims = jwt.decode(
            token.strip(),
            keys[kid],
            algorithms=list(ALLOWED_ALGORITHMS),
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options={"require": list(_REQUIRED_CLAIMS)},
        )
        user_id = uuid.UUID(str(claims["sub"]))
        roles = claims.get("roles", [])
        if not isinstance(roles, list) or not all(isinstance(role, str) for role in roles):
            raise jwt.InvalidTokenError("roles must be a list of strings")
        sid = claims.get("sid")
        session_id = uuid.UUID(sid) if isinstance(sid, str) else None
    except jwt.ExpiredSignatureError as error:
        raise DomainError(ErrorKind.UNAUTHENTICATED, "The access token has expired.") from error
    except (jwt.InvalidTokenError, ValueError) as error:
        raise DomainError(ErrorKind.UNAUTHENTICATED, "The access token is not valid.") from error
    viewer = Viewer(user_id=user_id, roles=frozenset(roles), session_id=session_id)
    return viewer, float(claims["exp"])
