"""Usernames to ids: remembered once found, asked once by concurrent lookups, never remembered
while not found."""

from __future__ import annotations

import asyncio

import pytest

from services.platform import usernames
from services.platform.usernames import UsernameIds


class Directory:
    def __init__(self) -> None:
        self.known = {"ada": 1}
        self.asked: list[str] = []

    async def lookup(self, folded: str) -> int | None:
        self.asked.append(folded)
        await asyncio.sleep(0.01)
        return self.known.get(folded)


async def test_concurrent_lookups_share_one_call_and_the_answer_is_kept() -> None:
    directory = Directory()
    ids = UsernameIds(directory.lookup)
    assert await asyncio.gather(*(ids.id_of("ada") for _ in range(5))) == [1] * 5
    assert await ids.id_of("ada") == 1
    assert directory.asked == ["ada"]


async def test_a_name_not_found_is_asked_again() -> None:
    directory = Directory()
    ids = UsernameIds(directory.lookup)
    assert await ids.id_of("bob") is None
    directory.known["bob"] = 2  # registered meanwhile
    assert await ids.id_of("bob") == 2
    assert directory.asked == ["bob", "bob"]


async def test_the_least_recently_used_names_go_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(usernames, "CACHED_NAMES", 2)
    directory = Directory()
    directory.known |= {"bob": 2, "cid": 3}
    ids = UsernameIds(directory.lookup)
    for name in ("ada", "bob", "ada", "cid"):
        await ids.id_of(name)
    directory.asked.clear()
    assert [await ids.id_of(n) for n in ("ada", "cid", "bob")] == [1, 3, 2]
    assert directory.asked == ["bob"]


async def test_a_deleted_accounts_name_is_forgotten_at_once() -> None:
    directory, deleted = Directory(), set[int]()
    ids = UsernameIds(directory.lookup, deleted)
    assert await ids.id_of("ada") == 1
    deleted.add(1)
    directory.known.pop("ada")
    assert await ids.id_of("ada") is None
    directory.known["ada"] = 7  # registered again, by someone else, after the quarantine
    assert await ids.id_of("ada") == 7


async def test_a_name_is_asked_again_once_its_answer_is_old(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(usernames, "KEPT_SECONDS", 0.0)
    directory = Directory()
    ids = UsernameIds(directory.lookup)
    assert await ids.id_of("ada") == 1
    assert await ids.id_of("ada") == 1
    assert directory.asked == ["ada", "ada"]
