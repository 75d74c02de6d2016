"""Password hashes: argon2id through argon2-cffi (PRODUCT §6).

Passwords are normalised to Unicode NFKC before hashing, so that the same
password typed on different keyboards (composed or decomposed accents) matches.
Hashing is CPU- and memory-bound work of tens of milliseconds: the async helpers
run it in a worker thread so the event loop keeps serving other requests.
"""

from __future__ import annotations

import asyncio
import secrets
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from accounts_gql.core.settings import Settings


def normalize(password: str) -> str:
    return unicodedata.normalize("NFKC", password)


@dataclass(frozen=True, slots=True)
class Passwords:
    """An argon2id hasher with fixed parameters, and a dummy hash made with them."""

    time_cost: int
    memory_cost: int  # KiB
    parallelism: int
    _hasher: PasswordHasher = field(init=False, repr=False, compare=False)
    # Verified for unknown usernames, so that a login costs the same whether or
    # not the username exists. Made with the same parameters as real hashes (a
    # constant string would carry other parameters and cost a different time).
    dummy_hash: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        hasher = PasswordHasher(
            time_cost=self.time_cost,
            memory_cost=self.memory_cost,
            parallelism=self.parallelism,
            hash_len=32,
            salt_len=16,
            type=Type.ID,
        )
        object.__setattr__(self, "_hasher", hasher)
        object.__setattr__(self, "dummy_hash", hasher.hash(secrets.token_urlsafe(24)))

    def hash(self, password: str) -> str:
        return self._hasher.hash(normalize(password))

    def verify(self, password_hash: str, password: str) -> bool:
        """Whether the password matches; False for a mismatch or a malformed hash."""
        try:
            return self._hasher.verify(password_hash, normalize(password))
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        """Whether the hash was made with other parameters (upgrade it on login)."""
        try:
            return self._hasher.check_needs_rehash(password_hash)
        except (InvalidHashError, ValueError):
            return True


@lru_cache(maxsize=4)
def _passwords(time_cost: int, memory_cost: int, parallelism: int) -> Passwords:
    return Passwords(time_cost, memory_cost, parallelism)


def passwords_for(settings: Settings) -> Passwords:
    """The hasher for the configured parameters (made once per parameter set)."""
    return _passwords(
        settings.argon2_time_cost, settings.argon2_memory_cost, settings.argon2_parallelism
    )


async def hash_password(passwords: Passwords, password: str) -> str:
    return await asyncio.to_thread(passwords.hash, password)


async def verify_password(passwords: Passwords, password_hash: str, password: str) -> bool:
    return await asyncio.to_thread(passwords.verify, password_hash, password)
