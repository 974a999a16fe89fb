"""``PasswordHasher``: the fake's reversible "hashes" and argon2id keep the same promises."""

from __future__ import annotations

import argon2
import pytest

from services.users.adapters.passwords import Argon2Passwords
from services.users.ports import PasswordHasher
from tests.contracts.tiers import unit
from tests.unit.users.fakes import PlainPasswords

PASSWORD = "correct horse battery"  # noqa: S105  (a test account's)
#: Argon2id as the service runs it, at a cost low enough for a unit test.
CHEAP = argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1, type=argon2.Type.ID)


@pytest.fixture(params=[unit("memory"), unit("argon2")])
def passwords(request: pytest.FixtureRequest) -> PasswordHasher:
    return PlainPasswords() if request.param == "memory" else Argon2Passwords(CHEAP)


async def test_a_hash_verifies_its_password_alone(passwords: PasswordHasher) -> None:
    stored = await passwords.hash(PASSWORD)
    assert await passwords.verify(stored, PASSWORD)
    assert not await passwords.verify(stored, PASSWORD.upper())


async def test_no_hash_or_a_malformed_one_verifies_nothing(passwords: PasswordHasher) -> None:
    assert not await passwords.verify(None, PASSWORD)
    assert not await passwords.verify("not a hash", PASSWORD)
