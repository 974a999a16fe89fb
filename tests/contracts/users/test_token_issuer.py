"""``TokenIssuer``: the fake's tokens and the signed JWTs keep the same promises."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.users.adapters.tokens import JwtIssuer
from services.users.model import User
from services.users.ports import TokenIssuer
from tests.contracts.implementations import implementations, unit
from tests.unit.users.fakes import Tokens

NOW = datetime(2026, 6, 1, 12, 0, 0, 750000, tzinfo=UTC)


def _memory(_: pytest.FixtureRequest) -> TokenIssuer:
    return Tokens()


def _jwt(_: pytest.FixtureRequest) -> TokenIssuer:
    return JwtIssuer(Ed25519PrivateKey.generate(), "chirp", timedelta(hours=1))


tokens = implementations(memory=unit(_memory), jwt=unit(_jwt))


def test_a_token_names_its_account_and_expires_after_it_was_issued(tokens: TokenIssuer) -> None:
    ada, bob = (User(user_id, f"u{user_id}", "", "", NOW, NOW) for user_id in (117, 118))
    issued = tokens.issue(ada, NOW)
    assert issued.token
    assert issued.token != tokens.issue(bob, NOW).token
    assert NOW < issued.expire_time <= NOW + timedelta(days=1)
