"""Access tokens: Ed25519-signed JWTs, issued by the users service, verified by every service.

Only the public key is needed to verify, so every service checks tokens without calling the
users service (the gateway checks them too, with the keys the users service publishes). In dev
and test the key pair is generated on first start into the data folder; production mounts its
own keys (see ``TokenSettings``).
"""

from __future__ import annotations

import contextvars
import os
import time
from collections import OrderedDict
from collections.abc import Container
from dataclasses import dataclass
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from services.platform.errors import Unauthenticated

ALGORITHM = "EdDSA"


@dataclass(frozen=True)
class Caller:
    """The authenticated account behind a request."""

    user_id: int
    username: str


_caller: contextvars.ContextVar[Caller | None] = contextvars.ContextVar("caller", default=None)


def current_caller() -> Caller | None:
    return _caller.get()


def require_caller() -> Caller:
    """The caller of this request, or UNAUTHENTICATED when the request carried no token."""
    caller = _caller.get()
    if caller is None:
        raise Unauthenticated("this method needs an access token: Authorization: Bearer <token>")
    return caller


def set_caller(caller: Caller | None) -> contextvars.Token[Caller | None]:
    return _caller.set(caller)


def reset_caller(token: contextvars.Token[Caller | None]) -> None:
    _caller.reset(token)


#: How many verified tokens each process keeps: a client sends its token with every request,
#: and an Ed25519 verification costs about a tenth of a home timeline read's CPU.
VERIFIED_TOKENS_KEPT = 10_000


class TokenVerifier:
    """Checks signature, algorithm, issuer and expiry, and that the account's sessions were not
    revoked (``revoked``: deleted accounts, ``revocations.py``); anything else about a token is
    refused.

    A token that verified is kept (the most recent ``VERIFIED_TOKENS_KEPT``): its bytes cannot
    change, so a later request with the same token needs only its expiry and the revocations
    checked again.
    """

    def __init__(
        self, public_key: Ed25519PublicKey, issuer: str, revoked: Container[int] = frozenset()
    ) -> None:
        self._public_key = public_key
        self._issuer = issuer
        self._revoked = revoked
        self._verified: OrderedDict[str, tuple[Caller, float]] = OrderedDict()

    def verify(self, token: str) -> Caller:
        caller = self._signed(token)
        if caller.user_id in self._revoked:
            raise Unauthenticated("the account of this access token was deleted")
        return caller

    def _signed(self, token: str) -> Caller:
        kept = self._verified.get(token)
        if kept is not None and time.time() < kept[1]:
            self._verified.move_to_end(token)
            return kept[0]
        try:
            claims = jwt.decode(
                token,
                self._public_key,
                algorithms=[ALGORITHM],
                issuer=self._issuer,
                options={"require": ["exp", "iat", "sub", "iss"]},
            )
            caller = Caller(user_id=int(claims["sub"]), username=str(claims.get("username", "")))
            expires = float(claims["exp"])
        except (jwt.InvalidTokenError, ValueError, KeyError) as error:
            raise Unauthenticated(f"invalid access token: {error}") from error
        self._verified[token] = (caller, expires)
        if len(self._verified) > VERIFIED_TOKENS_KEPT:
            self._verified.popitem(last=False)
        return caller


def ensure_dev_key_pair(private_path: Path, public_path: Path) -> None:
    """Creates an Ed25519 key pair once; safe when several processes race to create it."""
    if public_path.exists():
        return
    private_path.parent.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    # The private key is written (exclusively) before the public one, so a process that sees
    # the public key can rely on its pair being complete.
    try:
        fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        _wait_for(public_path)
        return
    with os.fdopen(fd, "wb") as private_file:
        private_file.write(private_pem)
    temporary = public_path.with_suffix(f".{os.getpid()}.tmp")
    temporary.write_bytes(public_pem)
    temporary.replace(public_path)


def _wait_for(path: Path, timeout_seconds: float = 10.0) -> None:
    """Another process is writing the pair: wait for its public half."""
    deadline = time.monotonic() + timeout_seconds
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} did not appear; remove a half-written key pair and retry")
        time.sleep(0.05)


def load_public_key(path: Path) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(path.read_bytes())
    if not isinstance(key, Ed25519PublicKey):
        raise TypeError(f"{path} is not an Ed25519 public key")
    return key
