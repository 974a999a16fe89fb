"""Password hashes: argon2id, checked without blocking the event loop."""

from __future__ import annotations

import asyncio
import time

import argon2

from services.users.adapters.passwords import Argon2Passwords

PASSWORD = "correct horse battery"  # noqa: S105  (a test account's)


async def test_hashes_are_salted_argon2id() -> None:
    passwords = Argon2Passwords()
    first, second = await passwords.hash(PASSWORD), await passwords.hash(PASSWORD)
    assert first.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert first != second  # a fresh salt each time
    assert PASSWORD not in first


async def test_verification_accepts_only_the_password() -> None:
    passwords = Argon2Passwords()
    stored = await passwords.hash(PASSWORD)
    assert await passwords.verify(stored, PASSWORD)
    assert not await passwords.verify(stored, PASSWORD.upper())
    assert not await passwords.verify("not a hash", PASSWORD)


async def test_no_account_costs_a_verification_and_never_matches() -> None:
    passwords = Argon2Passwords()
    stored = await passwords.hash(PASSWORD)
    started = time.perf_counter()
    await passwords.verify(stored, "wrong password")
    known = time.perf_counter() - started
    started = time.perf_counter()
    assert not await passwords.verify(None, PASSWORD)
    unknown = time.perf_counter() - started
    assert unknown > known / 3  # the same argon2 work, not an early return


async def test_hashing_leaves_the_event_loop_free() -> None:
    passwords = Argon2Passwords(argon2.PasswordHasher(time_cost=6))
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    ticker = asyncio.create_task(tick())
    started = time.perf_counter()
    await passwords.hash(PASSWORD)
    elapsed = time.perf_counter() - started
    ticker.cancel()
    # A hash on the loop would allow no tick at all until it finished.
    assert ticks >= elapsed / 0.005 / 4
