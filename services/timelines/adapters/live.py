"""The live changes of each home timeline, on Redis pub/sub: the fanout's scripts
(``store.py``) publish ``+id,id`` when ids enter a timeline and ``-id,id`` when they leave it on
``chirp:timelines:live:<user id>``, and a stream follows its reader's channel here (through
redis-py, whose pub/sub holds a connection per subscriber)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from services.timelines.adapters.store import LIVE_PREFIX
from services.timelines.model import LiveChange


def live_channel(user_id: int) -> str:
    return f"{LIVE_PREFIX}{user_id}"


def parse_live(message: bytes | str) -> LiveChange:
    text = message.decode() if isinstance(message, bytes) else message
    ids = [int(part) for part in text[1:].split(",") if part]
    return LiveChange(added=ids) if text.startswith("+") else LiveChange(removed=ids)


class RedisLiveUpdates:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    @contextlib.asynccontextmanager
    async def follow(self, user_id: int) -> AsyncIterator[_PubSubFeed]:
        pubsub = self._redis.pubsub()
        try:
            await pubsub.subscribe(live_channel(user_id))
            yield _PubSubFeed(pubsub)
        finally:
            await pubsub.aclose()  # type: ignore[no-untyped-call]


class _PubSubFeed:
    def __init__(self, pubsub: PubSub) -> None:
        self._pubsub = pubsub

    async def next(self, wait_seconds: float) -> LiveChange | None:
        message = await self._pubsub.get_message(
            ignore_subscribe_messages=True, timeout=wait_seconds
        )
        return None if message is None else parse_live(message["data"])
