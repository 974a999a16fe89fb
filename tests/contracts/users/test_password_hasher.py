"""``PasswordHasher``: the fake's reversible "hashes" and argon2id keep the same promises."""

from __future__ import annotations

import argon2
import pytest

from services.users.adapters.passwords import Argon2Passwords
from services.users.ports import PasswordHasher
from tests.contracts.implementations import implementations, unit
from tests.unit.users.fakes import PlainPasswords

PASSWORD = "correct horse battery"  # noqa: S105  (a test account's)
#: Argon2id as the service runs it, at a cost low enough for a unit test.
CHEAP = argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1, type=argon2.Type.ID)


def _memory(_: pytest.FixtureRequest) -> PasswordHasher:
    return PlainPasswords()


def _argon2(_: pytest.FixtureRequest) -> PasswordHasher:
    return Argon2Passwords(CHEAP)


passwords = implementations(memory=unit(_memory), argon2=unit(_argon2))


async def test_a_hash_verifies_its_password_alone(passwords: PasswordHasher) -> None:
    stored = await passwords.hash(PASSWORD)
    assert await passwords.verify(stored, PASSWORD)
    assert not await passwords.verify(stored, PASSWORD.upper())


async def test_no_hash_or_a_malformed_one_verifies_nothing(passwords: PasswordHasher) -> None:
    assert not await passwords.verify(None, PASSWORD)
    assert not await passwords.verify("not a hash", PASSWORD)
