"""The revoked accounts' list (``services/platform/revocations.py``) on the real Redis: what the
users service writes, every process reads within a refresh, and entries leave once the tokens
they refuse have expired."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator

import pytest

from services.platform.background import in_background
from services.platform.redis_clients import resp_client
from services.platform.resp import RespClient
from services.platform.revocations import KEY, RevokedAccounts, revoke
from services.platform.settings import StoreSettings

SETTINGS = StoreSettings()


@pytest.fixture
async def client() -> AsyncIterator[RespClient]:
    redis = resp_client(SETTINGS.redis_url)
    yield redis
    await redis.aclose()


def _ids(count: int) -> list[int]:
    return [secrets.randbelow(2**62) + 1 for _ in range(count)]


async def test_a_revocation_is_seen_by_a_following_process_within_a_refresh(
    client: RespClient,
) -> None:
    revoked = RevokedAccounts()
    deleted, kept = _ids(2)
    async with in_background(lambda: revoked.follow(client, every_seconds=0.05)):
        await revoke(client, {deleted: time.time() + 60})
        for _ in range(40):
            if deleted in revoked:
                break
            await asyncio.sleep(0.05)
        assert deleted in revoked
        assert kept not in revoked
    await client.call("ZREM", KEY, deleted)


async def test_expired_revocations_are_neither_read_nor_kept(client: RespClient) -> None:
    expired, current = _ids(2)
    await client.call("ZADD", KEY, time.time() - 1, expired)  # written before it expired
    await revoke(client, {current: time.time() + 60})  # a write drops what expired
    assert await client.call("ZSCORE", KEY, expired) is None
    await client.call("ZADD", KEY, time.time() - 1, expired)
    revoked = RevokedAccounts()
    await revoked.refresh(client)
    assert current in revoked
    assert expired not in revoked
    await client.call("ZREM", KEY, current, expired)


async def test_a_later_expiry_wins(client: RespClient) -> None:
    (user_id,) = _ids(1)
    await revoke(client, {user_id: time.time() + 120})
    await revoke(client, {user_id: time.time() + 60})  # the record written again, older
    assert float(await client.call("ZSCORE", KEY, user_id)) > time.time() + 100
    await client.call("ZREM", KEY, user_id)


async def test_an_unreachable_redis_keeps_the_last_list() -> None:
    (user_id,) = _ids(1)
    good = resp_client(SETTINGS.redis_url)
    revoked = RevokedAccounts()
    await revoke(good, {user_id: time.time() + 60})
    await revoked.refresh(good)
    await good.call("ZREM", KEY, user_id)
    await good.aclose()
    unreachable = resp_client("redis://127.0.0.1:1")
    async with in_background(lambda: revoked.follow(unreachable, every_seconds=0.05)):
        await asyncio.sleep(0.3)
    assert user_id in revoked
    await unreachable.aclose()
