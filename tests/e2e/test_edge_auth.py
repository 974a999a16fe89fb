"""Tokens at the edge: Envoy's jwt_authn checks access tokens before any service sees them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable
from typing import Any

import grpc
import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from devstack.gen import OPENAPI, needs_token
from services.platform.settings import Settings
from tests.e2e.edge import UPSTREAM_TIME, error, register
from tests.integration.graph.support import Account

SETTINGS = Settings(service="users")


@pytest.fixture(scope="module")
def account(client: httpx.Client) -> Account:
    return register(client, "ea")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _segments(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    return jwt.get_unverified_header(token), jwt.decode(token, options={"verify_signature": False})


def _signing_key() -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(SETTINGS.private_key_path.read_bytes(), None)
    assert isinstance(key, Ed25519PrivateKey)
    return key


def _expired(token: str) -> str:
    header, claims = _segments(token)
    now = int(time.time())
    # Well past Envoy's 60 s clock skew allowance.
    claims |= {"iat": now - 7200, "exp": now - 3600}
    return jwt.encode(claims, _signing_key(), algorithm="EdDSA", headers={"kid": header["kid"]})


def _tampered(token: str) -> str:
    header, _payload, signature = token.split(".")
    _, claims = _segments(token)
    forged = _b64(json.dumps(claims | {"sub": "1", "username": "admin"}).encode())
    return f"{header}.{forged}.{signature}"


def _wrong_key(token: str) -> str:
    header, claims = _segments(token)
    return jwt.encode(
        claims, Ed25519PrivateKey.generate(), algorithm="EdDSA", headers={"kid": header["kid"]}
    )


def _alg_none(token: str) -> str:
    _, claims = _segments(token)
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{header}.{_b64(json.dumps(claims).encode())}.{_b64(b'unsigned')}"


def _alg_none_unsigned(token: str) -> str:
    return _alg_none(token).rsplit(".", 1)[0] + "."


def _hs256_with_the_public_key(token: str) -> str:
    """The algorithm-confusion attack: an HMAC keyed with the (public) verification key."""
    _, claims = _segments(token)
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    signed = f"{header}.{_b64(json.dumps(claims).encode())}"
    secret = SETTINGS.public_key_path.read_bytes()
    signature = hmac.new(secret, signed.encode(), hashlib.sha256).digest()
    return f"{signed}.{_b64(signature)}"


BAD_TOKENS: dict[str, Callable[[str], str]] = {
    "expired": _expired,
    "tampered": _tampered,
    "wrong-key": _wrong_key,
    "alg-none": _alg_none,
    "alg-none-unsigned": _alg_none_unsigned,
    "hs256-with-public-key": _hs256_with_the_public_key,
    "garbage": lambda _token: "not-a-token",
}


@pytest.mark.parametrize("forge", BAD_TOKENS.values(), ids=BAD_TOKENS.keys())
@pytest.mark.parametrize(
    "request_line",
    [("GET", "/v1/users/me"), ("POST", "/v1/tweets"), ("GET", "/v1/users/{username}")],
    ids=["own-profile", "mutation", "anonymous-read"],
)
def test_a_bad_token_is_401_at_the_edge(
    client: httpx.Client,
    account: Account,
    forge: Callable[[str], str],
    request_line: tuple[str, str],
) -> None:
    method, path = request_line
    response = client.request(
        method,
        path.format(username=account.username),
        json={"text": "hi"} if method == "POST" else None,
        headers={"Authorization": f"Bearer {forge(account.token)}"},
    )
    # Envoy's reason after the prefix: "Jwt is expired", "Jwt verification fails", ...
    assert re.fullmatch(
        r"invalid access token: Jw(t|ks) .+", error(response, 401, grpc.StatusCode.UNAUTHENTICATED)
    )
    assert UPSTREAM_TIME not in response.headers  # no service was asked
    assert response.headers["www-authenticate"].startswith("Bearer ")


def _operations_needing_a_token() -> list[tuple[str, str]]:
    paths = json.loads(OPENAPI.read_text())["paths"]
    return [
        (method.upper(), re.sub(r"\{[^}]+\}", "1", path))
        for path, operations in paths.items()
        for method in operations
        if needs_token(method, path)
    ]


@pytest.mark.parametrize(("method", "path"), _operations_needing_a_token(), ids=" ".join)
def test_every_route_that_acts_as_a_caller_needs_a_token(
    client: httpx.Client, method: str, path: str
) -> None:
    response = client.request(method, path, json={} if method != "GET" else None)
    message = error(response, 401, grpc.StatusCode.UNAUTHENTICATED)
    assert message.startswith("this method needs an access token")
    assert UPSTREAM_TIME not in response.headers


def test_anonymous_reads_need_no_token(client: httpx.Client, account: Account) -> None:
    response = client.get(f"/v1/users/{account.username}")
    assert response.status_code == 200, response.text
    assert response.headers[UPSTREAM_TIME]


def test_a_valid_token_reaches_the_service_which_knows_the_caller(
    client: httpx.Client, account: Account
) -> None:
    response = client.get("/v1/users/me", headers=account.headers)
    assert response.status_code == 200, response.text
    assert (response.json()["id"], response.json()["username"]) == (
        str(account.id),
        account.username,
    )


def test_the_token_keys_are_public(client: httpx.Client, account: Account) -> None:
    (key,) = client.get("/v1/sessions/keys").json()["keys"]
    assert (key["kty"], key["crv"], key["alg"]) == ("OKP", "Ed25519", "EdDSA")
    assert key["kid"] == jwt.get_unverified_header(account.token)["kid"]
