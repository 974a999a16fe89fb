"""Password hashes: argon2id with argon2-cffi's default parameters (RFC 9106's second
recommendation: 64 MiB, 3 passes, 4 lanes; about 0.1 s per hash on one core).

Hashing is CPU-bound and takes long enough to stall every other request, so it runs on a
worker thread (argon2-cffi releases the GIL while it hashes).
"""

from __future__ import annotations

import asyncio
import secrets

import argon2
from argon2.exceptions import InvalidHashError, VerificationError


class Argon2Passwords:
    def __init__(self, hasher: argon2.PasswordHasher | None = None) -> None:
        self._hasher = hasher or argon2.PasswordHasher(type=argon2.Type.ID)
        # Verified against when there is no account, so an unknown username costs the same.
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        return await asyncio.to_thread(self._verify, password_hash, password)

    def _verify(self, password_hash: str | None, password: str) -> bool:
        try:
            self._hasher.verify(password_hash or self._dummy_hash, password)
        except (VerificationError, InvalidHashError):
            return False
        return password_hash is not None
