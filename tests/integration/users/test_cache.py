"""The user cache against the real Redis, and what it does when Redis cannot be reached."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from chirp.users.v1 import user_pb2
from redis.asyncio import Redis

from services.platform.caches.user_cache import user_key
from services.platform.resp import RespClient
from services.platform.settings import StoreSettings
from services.users.adapters.cache import (
    ID_TTL_SECONDS,
    USER_TTL_SECONDS,
    RedisUserCache,
    cache_client,
    counts_key,
    id_key,
)
from services.users.model import User

SETTINGS = StoreSettings()
CREATED = datetime(2026, 3, 1, 9, 30, 0, 250000, tzinfo=UTC)


@pytest.fixture
async def resp() -> AsyncIterator[RespClient]:
    """The users service's client of its cache (``cache_client``) on the local stack's Redis."""
    client = cache_client(SETTINGS.redis_url)
    yield client
    await client.aclose()


def _user(display_name: str = "Cached", bio: str = "bio") -> User:
    return User(uuid.uuid4().int >> 66, "cache_user", display_name, bio, CREATED, CREATED)


async def test_users_round_trip_as_basic_protobufs_with_a_ttl(
    resp: RespClient, redis: Redis
) -> None:
    cache = RedisUserCache(resp)
    ada, bob = _user(), _user(bio="")
    await cache.put_many([ada, bob])
    assert await cache.get_many([bob.id, 1, ada.id]) == {ada.id: ada, bob.id: bob}
    payload = await redis.hget(user_key(ada.id), "user")
    assert isinstance(payload, bytes)
    assert user_pb2.User.FromString(payload).username == "cache_user"
    assert 0 < await redis.ttl(user_key(ada.id)) <= USER_TTL_SECONDS
    await redis.delete(user_key(ada.id), user_key(bob.id))


async def test_an_older_version_never_replaces_a_newer_one(resp: RespClient, redis: Redis) -> None:
    cache = RedisUserCache(resp)
    old = _user(display_name="Old")
    new = replace(old, display_name="New", update_time=CREATED + timedelta(seconds=1))
    await cache.put_many([new])
    await cache.put_many([old])  # a read-through fill that loaded the row before the update
    assert (await cache.get_many([old.id]))[old.id] == new
    newest = replace(new, bio="Newest", update_time=CREATED + timedelta(seconds=2))
    await cache.put_many([newest])
    assert (await cache.get_many([old.id]))[old.id] == newest
    await redis.delete(user_key(old.id))


async def test_ids_by_folded_username(resp: RespClient, redis: Redis) -> None:
    cache = RedisUserCache(resp)
    name = f"cache_{uuid.uuid4().hex[:8]}"
    await cache.put_ids({name: 42})
    assert await cache.get_ids([name, "nobody_" + name]) == {name: 42}
    assert 0 < await redis.ttl(id_key(name)) <= ID_TTL_SECONDS
    await redis.delete(id_key(name))


async def test_a_deleted_account_is_forgotten_and_never_filled_again(
    resp: RespClient, redis: Redis
) -> None:
    cache = RedisUserCache(resp)
    user = replace(_user(), username=f"Gone_{uuid.uuid4().hex[:8]}")
    await cache.put_many([user])
    await cache.put_ids({user.username.lower(): user.id})
    await redis.set(counts_key(user.id), b"counts")
    await cache.forget(user)
    assert await cache.get_many([user.id]) == {}
    assert await cache.get_ids([user.username.lower()]) == {}
    assert not await redis.exists(counts_key(user.id))
    assert await redis.hget(user_key(user.id), "user") is None  # nothing of the person kept
    await cache.put_many([user])  # a read-through fill that loaded the account before
    assert await cache.get_many([user.id]) == {}
    assert 0 < await redis.ttl(user_key(user.id)) <= USER_TTL_SECONDS
    await redis.delete(user_key(user.id))


async def test_an_unreachable_redis_is_a_miss_not_an_error() -> None:
    unreachable = cache_client("redis://127.0.0.1:1/0")  # nothing listens on port 1
    cache = RedisUserCache(unreachable)
    user = _user()
    await cache.put_many([user])
    await cache.put_ids({"ada": user.id})
    assert await cache.get_many([user.id]) == {}
    assert await cache.get_ids(["ada"]) == {}
    await unreachable.aclose()


async def test_a_redis_that_never_answers_is_a_miss_not_a_hang() -> None:
    async def accept_and_stay_silent(_reader: object, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(3600)
        writer.close()

    silent = await asyncio.start_server(accept_and_stay_silent, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    stuck = cache_client(f"redis://127.0.0.1:{port}/0")
    cache = RedisUserCache(stuck)
    user = _user()
    # The cache's own socket timeouts end each call; the outer bound only keeps a regression
    # from hanging the suite.
    async with asyncio.timeout(60):
        await cache.put_many([user])
        assert await cache.get_many([user.id]) == {}
        assert await cache.get_ids(["ada"]) == {}
    await stuck.aclose()
    silent.close()
