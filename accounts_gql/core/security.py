"""Access tokens: issuing them, and verifying the bearer JWT into a Viewer (PRODUCT §6).

The keys and the algorithm are core/keys.py's."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable

import jwt

from accounts_gql.core.errors import DomainError, ErrorKind
from accounts_gql.core.keys import KeySet, key_set
from accounts_gql.core.settings import Settings
from accounts_gql.core.viewer import ANONYMOUS, Viewer

_REQUIRED_CLAIMS = ("exp", "iat", "sub", "iss", "aud", "jti")


def signing_keys(settings: Settings) -> KeySet:
    """The configured key set (core/keys.py); RuntimeError when it is unusable.

    HS256 secrets must be at least 32 bytes in production; EdDSA needs
    JWT_PRIVATE_KEYS there.
    """
    return key_set(settings)


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
    keys = key_set(settings)
    return jwt.encode(
        claims, keys.signer.signing, algorithm=keys.algorithm, headers={"kid": keys.signer.kid}
    )


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
    keys = key_set(settings)
    try:
        key = keys.verifier(jwt.get_unverified_header(token.strip()).get("kid"))
        if key is None:
            raise jwt.InvalidTokenError("unknown signing key")
        # Only the key set's own algorithm: an HS256 token "signed" with a public
        # key, or alg none, is refused whatever its header says.
        claims = jwt.decode(
            token.strip(),
            key,
            algorithms=[keys.algorithm],
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
