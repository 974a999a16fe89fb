"""Session tokens: what they claim, that every service's verifier accepts them, and the JWK."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.platform.auth import Caller, TokenVerifier, ensure_dev_key_pair
from services.platform.errors import Unauthenticated
from services.users.adapters.tokens import JsonWebKey, JwtIssuer, load_signing_key
from services.users.model import User

# RFC 8037, appendix A.1 to A.3: an Ed25519 key, its public JWK and that JWK's thumbprint.
RFC_D = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
RFC_X = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
RFC_THUMBPRINT = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"

NOW = datetime(2026, 6, 1, 12, 0, 0, 750000, tzinfo=UTC)
ADA = User(117, "Ada", "Ada L.", "", NOW, NOW)


def _rfc_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(base64.urlsafe_b64decode(RFC_D + "="))


def test_the_jwk_and_its_thumbprint_match_rfc_8037() -> None:
    jwk = JwtIssuer(_rfc_key(), "chirp", timedelta(hours=1)).jwk
    assert jwk == JsonWebKey(x=RFC_X)
    assert (jwk.kty, jwk.crv, jwk.use, jwk.alg) == ("OKP", "Ed25519", "sig", "EdDSA")
    assert jwk.kid == RFC_THUMBPRINT


def test_a_token_carries_the_account_and_expires_after_the_ttl() -> None:
    issuer = JwtIssuer(_rfc_key(), "chirp", timedelta(minutes=90))
    issued = issuer.issue(ADA, NOW)
    assert issued.expire_time == datetime(2026, 6, 1, 13, 30, tzinfo=UTC)
    assert jwt.get_unverified_header(issued.token) == {
        "alg": "EdDSA",
        "kid": RFC_THUMBPRINT,
        "typ": "JWT",
    }
    claims = jwt.decode(
        issued.token, _rfc_key().public_key(), algorithms=["EdDSA"], options={"verify_exp": False}
    )
    assert claims == {
        "sub": "117",
        "username": "Ada",
        "iss": "chirp",
        "iat": int(NOW.timestamp()),
        "exp": int(issued.expire_time.timestamp()),
    }


def test_every_services_verifier_accepts_a_fresh_token_and_refuses_an_old_one() -> None:
    key = Ed25519PrivateKey.generate()
    issuer = JwtIssuer(key, "chirp", timedelta(hours=1))
    verifier = TokenVerifier(key.public_key(), "chirp")
    now = datetime.now(UTC)
    assert verifier.verify(issuer.issue(ADA, now).token) == Caller(117, "Ada")
    with pytest.raises(Unauthenticated, match="Signature has expired"):
        verifier.verify(issuer.issue(ADA, now - timedelta(hours=2)).token)
    with pytest.raises(Unauthenticated, match="Invalid issuer"):
        TokenVerifier(key.public_key(), "elsewhere").verify(issuer.issue(ADA, now).token)


def test_a_kept_token_is_refused_once_it_expires_and_a_tampered_one_is_never_kept() -> None:
    key = Ed25519PrivateKey.generate()
    verifier = TokenVerifier(key.public_key(), "chirp")
    issued = JwtIssuer(key, "chirp", timedelta(seconds=1)).issue(ADA, datetime.now(UTC))
    assert verifier.verify(issued.token) == Caller(117, "Ada")
    assert verifier.verify(issued.token) == Caller(117, "Ada")  # kept: no second verification
    time.sleep(max(issued.expire_time.timestamp() - time.time(), 0) + 0.05)
    with pytest.raises(Unauthenticated, match="Signature has expired"):
        verifier.verify(issued.token)
    head, claims, signature = issued.token.split(".")
    tampered = f"{head}.{claims}.{signature[:-4]}AAAA"
    for _ in range(2):
        with pytest.raises(Unauthenticated, match="Signature verification failed"):
            verifier.verify(tampered)


def test_the_signing_key_must_match_the_published_public_key(tmp_path: Path) -> None:
    private, public = tmp_path / "a.pem", tmp_path / "a.pub.pem"
    ensure_dev_key_pair(private, public)
    assert isinstance(load_signing_key(private, public), Ed25519PrivateKey)
    other_private, other_public = tmp_path / "b.pem", tmp_path / "b.pub.pem"
    ensure_dev_key_pair(other_private, other_public)
    with pytest.raises(ValueError, match="is not the private half of"):
        load_signing_key(private, other_public)


def test_a_revoked_accounts_tokens_are_refused_even_once_kept() -> None:
    key = Ed25519PrivateKey.generate()
    revoked: set[int] = set()
    verifier = TokenVerifier(key.public_key(), "chirp", revoked)
    token = JwtIssuer(key, "chirp", timedelta(hours=1)).issue(ADA, datetime.now(UTC)).token
    assert verifier.verify(token) == Caller(117, "Ada")
    revoked.add(ADA.id)
    with pytest.raises(Unauthenticated, match="was deleted"):
        verifier.verify(token)
