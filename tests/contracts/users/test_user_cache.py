"""``UserCache``: the in-memory fake and the Redis cache keep the same promises."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from services.users.adapters.cache import RedisUserCache
from services.users.model import User
from services.users.ports import UserCache
from tests.contracts.implementations import implementations, integration, unit
from tests.integration.tweets.tokens import random_user_id
from tests.unit.users.fakes import MemoryCache

MOMENT = datetime(2026, 6, 1, 12, 0, 0, 123000, tzinfo=UTC)
SECOND = timedelta(seconds=1)


def _redis(request: pytest.FixtureRequest) -> UserCache:
    return RedisUserCache(request.getfixturevalue("resp"))


def _memory(_: pytest.FixtureRequest) -> UserCache:
    return MemoryCache()


cache = implementations(memory=unit(_memory), redis=integration(_redis))


def _user() -> User:
    user_id = random_user_id()
    return User(user_id, f"k{user_id}", "Ada", "Hi", MOMENT, MOMENT)


async def test_users_read_back_as_put_and_others_miss(cache: UserCache) -> None:
    user, unknown = _user(), random_user_id()
    assert await cache.get_many([user.id]) == {}
    await cache.put_many([user])
    assert await cache.get_many([user.id, unknown]) == {user.id: user}


async def test_a_put_never_replaces_a_newer_version(cache: UserCache) -> None:
    user = _user()
    newer = replace(user, bio="edited", update_time=MOMENT + SECOND)
    await cache.put_many([newer])
    await cache.put_many([user])  # a fill that read the account before the edit
    assert await cache.get_many([user.id]) == {user.id: newer}
    newest = replace(newer, bio="edited again", update_time=MOMENT + 2 * SECOND)
    await cache.put_many([newest])
    assert await cache.get_many([user.id]) == {user.id: newest}


async def test_ids_read_back_by_folded_username(cache: UserCache) -> None:
    name, unknown = f"k{uuid.uuid4().hex[:12]}", f"k{uuid.uuid4().hex[:12]}"
    await cache.put_ids({name: 42})
    assert await cache.get_ids([name, unknown]) == {name: 42}


async def test_a_forgotten_account_misses_and_a_stale_fill_cannot_bring_it_back(
    cache: UserCache,
) -> None:
    user = _user()
    await cache.put_many([user])
    await cache.put_ids({user.username: user.id})
    await cache.forget(user)
    await cache.put_many([user])  # a fill that read the account before the delete
    assert await cache.get_many([user.id]) == {}
    assert await cache.get_ids([user.username]) == {}
