"""Access tokens for tests, signed with the local stack's development key.

They are exactly what the users service issues (Ed25519, claims sub, username, iss, iat, exp),
so the services accept them; tests use them for accounts the users service need not know.
"""

from __future__ import annotations

import random
import time

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.platform.auth import ALGORITHM
from services.platform.settings import Settings

_SETTINGS = Settings(service="tweets")


def _private_key() -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(_SETTINGS.private_key_path.read_bytes(), None)
    if not isinstance(key, Ed25519PrivateKey):
        raise TypeError(f"{_SETTINGS.private_key_path} is not an Ed25519 private key")
    return key


def mint(user_id: int, username: str = "", ttl_seconds: int = 3600) -> str:
    now = int(time.time())
    claims = {
        "sub": str(user_id),
        "username": username or f"u{user_id}",
        "iss": _SETTINGS.tokens.issuer,
        "iat": now,
        "exp": now + ttl_seconds,
    }
    return jwt.encode(claims, _private_key(), algorithm=ALGORITHM)


def random_user_id() -> int:
    """An id no account has: far above the Snowflake ids of real accounts' near future."""
    return random.randrange(2**61, 2**62)  # noqa: S311  (an id, not a secret)


def bearer(user_id: int) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint(user_id)}"}
