"""Session tokens: Ed25519-signed JWTs (alg EdDSA), and the public key as a JWK.

Claims: ``sub`` (the user id, decimal), ``username``, ``iss``, ``iat``, ``exp``; the header's
``kid`` is the key's RFC 7638 thumbprint, the same ``kid`` that ``GET /v1/sessions/keys``
publishes, so verifiers can pick the right key once keys rotate. Every service verifies these
tokens with ``services.platform.auth.TokenVerifier``.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.platform.auth import ALGORITHM, load_public_key
from services.users.model import IssuedToken, User


@dataclass(frozen=True)
class JsonWebKey:
    """An Ed25519 public key as an OKP JWK (RFC 8037)."""

    x: str
    kty: str = "OKP"
    crv: str = "Ed25519"
    use: str = "sig"
    alg: str = ALGORITHM

    @property
    def kid(self) -> str:
        """The RFC 7638 thumbprint: SHA-256 over the required members, sorted, no spaces."""
        members = json.dumps(
            {"crv": self.crv, "kty": self.kty, "x": self.x}, separators=(",", ":"), sort_keys=True
        )
        return _base64url(hashlib.sha256(members.encode()).digest())


def load_signing_key(private_path: Path, public_path: Path) -> Ed25519PrivateKey:
    """The private key, checked against the public key every service verifies with: a mismatch
    would make every token this service issues unusable, so it stops the start instead."""
    key = serialization.load_pem_private_key(private_path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise TypeError(f"{private_path} is not an Ed25519 private key")
    if _raw(key) != load_public_key(public_path).public_bytes_raw():
        raise ValueError(f"{private_path} is not the private half of {public_path}")
    return key


class JwtIssuer:
    def __init__(self, key: Ed25519PrivateKey, issuer: str, ttl: timedelta) -> None:
        self._key = key
        self._issuer = issuer
        self.ttl = ttl
        self.jwk = JsonWebKey(x=_base64url(_raw(key)))

    def issue(self, user: User, now: datetime) -> IssuedToken:
        issued_at = int(now.timestamp())
        expires = now.replace(microsecond=0) + self.ttl
        claims = {
            "sub": str(user.id),
            "username": user.username,
            "iss": self._issuer,
            "iat": issued_at,
            "exp": int(expires.timestamp()),
        }
        token = jwt.encode(claims, self._key, algorithm=ALGORITHM, headers={"kid": self.jwk.kid})
        return IssuedToken(token, expires)


def _raw(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes_raw()


def _base64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
