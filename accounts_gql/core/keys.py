"""Signing keys of access tokens and the key set other services verify with
(PRODUCT §6; docs/identity.md "Access tokens and the key set").

Two algorithms, and a key set accepts exactly one of them, whatever a token's
header says (the explicit allow-list):

- `EdDSA` (Ed25519), asymmetric: the service signs with a private key and
  publishes the public keys at /.well-known/jwks.json, so a service that checks
  tokens needs no secret. Keys come from JWT_PRIVATE_KEYS
  ("kid:<base64 of the 32-byte private key>" or "kid:@<path of a PEM file>",
  comma-separated); the first signs, all verify and are published. Without
  them, outside production, one key pair is generated once into DATA_DIR.
- `HS256`, a shared secret: JWT_SECRET (kid "default") or JWT_KEYS
  ("kid:secret,..."). Nothing is published.

JWT_ALGORITHM chooses; unset, it is EdDSA unless only shared secrets are
configured (so that a deployment whose consumers verify with the secret keeps
working). Rotation: add the new key second (published, not signing), wait for
consumers' caches (JWKS_MAX_AGE), put it first, and remove the old one once
the longest access token signed with it has expired (ACCESS_TOKEN_TTL).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from accounts_gql.core.settings import Settings

EDDSA = "EdDSA"
HS256 = "HS256"
# The algorithms a key set may be configured with; it accepts its own only.
ALGORITHMS = (EDDSA, HS256)
# The key id of JWT_SECRET when JWT_KEYS is not set.
DEFAULT_KID = "default"
MIN_SECRET_BYTES = 32
GENERATED_KEY_FILE = "jwt-signing-key.pem"
_DEV_SECRET = "development-only-secret-change-me-0123456789"
_KID = re.compile(r"[A-Za-z0-9._-]{1,64}")


@dataclass(frozen=True, slots=True)
class Key:
    kid: str
    signing: Any  # Ed25519PrivateKey, or the HS256 secret
    verifying: Any  # Ed25519PublicKey, or the HS256 secret


@dataclass(frozen=True, slots=True)
class KeySet:
    algorithm: str
    keys: tuple[Key, ...]  # the first signs; all verify

    @property
    def signer(self) -> Key:
        return self.keys[0]

    def verifier(self, kid: object) -> Any | None:
        """The key that verifies tokens of `kid`; None for a kid not in the set."""
        return next((key.verifying for key in self.keys if key.kid == kid), None)

    def jwks(self) -> dict[str, Any]:
        """The public keys as a JWK Set (RFC 7517); empty for shared secrets."""
        if self.algorithm != EDDSA:
            return {"keys": []}
        return {"keys": [public_jwk(key.kid, key.verifying) for key in self.keys]}


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _raw_public(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_jwk(kid: str, public: Ed25519PublicKey) -> dict[str, str]:
    return {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": _b64url(_raw_public(public)),
        "kid": kid,
        "alg": EDDSA,
        "use": "sig",
    }


def thumbprint_kid(public: Ed25519PublicKey) -> str:
    """A key id from the key itself: the start of its RFC 7638 thumbprint."""
    members = {"crv": "Ed25519", "kty": "OKP", "x": _b64url(_raw_public(public))}
    digest = hashlib.sha256(orjson.dumps(members, option=orjson.OPT_SORT_KEYS)).digest()
    return _b64url(digest)[:16]


def new_private_key_entry(kid: str) -> str:
    """A fresh "kid:<base64 private key>" entry for JWT_PRIVATE_KEYS."""
    raw = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    return f"{kid}:{_b64url(raw)}"


def algorithm_of(settings: Settings) -> str:
    if settings.jwt_algorithm:
        return settings.jwt_algorithm
    if not settings.jwt_private_keys and (settings.jwt_secret or settings.jwt_keys):
        return HS256
    return EDDSA


def key_set(settings: Settings) -> KeySet:
    """The configured keys (made once per configuration); RuntimeError, naming the
    variable but never a value, when they are missing or malformed."""
    return _key_set(
        algorithm_of(settings),
        settings.jwt_private_keys or "",
        settings.jwt_secret or "",
        settings.jwt_keys or "",
        str(settings.data_dir),
        settings.is_production,
    )


@lru_cache(maxsize=8)
def _key_set(
    algorithm: str,
    private_keys: str,
    secret: str,
    shared_keys: str,
    data_dir: str,
    production: bool,
) -> KeySet:
    if algorithm == HS256:
        return KeySet(HS256, _shared_keys(secret, shared_keys, production))
    if private_keys.strip():
        return KeySet(EDDSA, _private_keys(private_keys.strip()))
    if production:
        raise RuntimeError(
            "JWT_PRIVATE_KEYS is required when APP_ENV=production (every replica must sign "
            "with the same keys), or set JWT_ALGORITHM=HS256 with JWT_SECRET"
        )
    private = _generated_key(Path(data_dir))
    return KeySet(
        EDDSA, (Key(thumbprint_kid(private.public_key()), private, private.public_key()),)
    )


def _entries(spec: str, variable: str) -> list[tuple[str, str]]:
    entries: list[tuple[str, str]] = []
    for part in spec.split(","):
        kid, sep, value = part.strip().partition(":")
        if not sep or not _KID.fullmatch(kid) or not value:
            raise RuntimeError(f"{variable} must look like 'kid1:value1,kid2:value2'")
        if any(kid == seen for seen, _ in entries):
            raise RuntimeError(f"{variable} names key id {kid!r} twice")
        entries.append((kid, value))
    return entries


def _shared_keys(secret: str, spec: str, production: bool) -> tuple[Key, ...]:
    if spec.strip():
        pairs = _entries(spec.strip(), "JWT_KEYS")
    elif secret:
        pairs = [(DEFAULT_KID, secret)]
    elif production:
        raise RuntimeError("JWT_SECRET is required when APP_ENV=production and JWT_ALGORITHM=HS256")
    else:
        pairs = [(DEFAULT_KID, _DEV_SECRET)]
    if production:
        for kid, value in pairs:
            if len(value.encode()) < MIN_SECRET_BYTES:
                raise RuntimeError(
                    f"signing key {kid!r} must be at least {MIN_SECRET_BYTES} bytes in production"
                )
    return tuple(Key(kid, value, value) for kid, value in pairs)


def _private_keys(spec: str) -> tuple[Key, ...]:
    keys = []
    for kid, value in _entries(spec, "JWT_PRIVATE_KEYS"):
        private = _load_private(kid, value)
        keys.append(Key(kid, private, private.public_key()))
    return tuple(keys)


def _load_private(kid: str, value: str) -> Ed25519PrivateKey:
    problem = f"JWT_PRIVATE_KEYS key {kid!r} is not an Ed25519 private key"
    try:
        if value.startswith("@"):
            loaded = serialization.load_pem_private_key(Path(value[1:]).read_bytes(), None)
            if not isinstance(loaded, Ed25519PrivateKey):
                raise RuntimeError(problem)
            return loaded
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        return Ed25519PrivateKey.from_private_bytes(raw)
    except (OSError, ValueError, TypeError, binascii.Error) as error:
        raise RuntimeError(f"{problem} (base64 of 32 bytes, or @file.pem)") from error


def _generated_key(data_dir: Path) -> Ed25519PrivateKey:
    """The key pair of DATA_DIR, made on first use. Written to a temporary file and
    linked into place, so that processes starting at once agree on one key."""
    path = data_dir / GENERATED_KEY_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        descriptor, temporary = tempfile.mkstemp(dir=data_dir, prefix=".jwt-key-")
        try:
            os.fchmod(descriptor, 0o600)
            os.write(descriptor, pem)
            os.close(descriptor)
            # Another process may have been first: its key it is then.
            with contextlib.suppress(FileExistsError):
                os.link(temporary, path)
        finally:
            os.unlink(temporary)
    loaded = serialization.load_pem_private_key(path.read_bytes(), None)
    if not isinstance(loaded, Ed25519PrivateKey):
        raise RuntimeError(f"{path} does not hold an Ed25519 private key")
    return loaded
