"""Access tokens for generated users, who have no password: signed here with the development
key (``.data/keys/jwt_ed25519.pem``), with the very claims the users service issues."""

from __future__ import annotations

import time

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from devstack.paths import ROOT
from services.platform.auth import ALGORITHM
from services.platform.settings import StoreSettings

ISSUER = "chirp"


def mint(user_id: int, username: str, ttl_seconds: int = 3600) -> str:
    """A token for ``user_id``, valid for ``ttl_seconds``; only for the local stack."""
    data_dir = StoreSettings().data_dir
    path = (data_dir if data_dir.is_absolute() else ROOT / data_dir) / "keys" / "jwt_ed25519.pem"
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise TypeError(f"{path} is not an Ed25519 private key")
    now = int(time.time())
    claims = {
        "sub": str(user_id),
        "username": username,
        "iss": ISSUER,
        "iat": now,
        "exp": now + ttl_seconds,
    }
    return jwt.encode(claims, key, algorithm=ALGORITHM)
