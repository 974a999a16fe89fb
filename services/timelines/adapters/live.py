"""The live changes of each home timeline, on Redis pub/sub: the fanout's scripts (``store.py``)
publish ``+id,id user,user`` when ids enter those users' timelines and ``-id,id user,user`` when
they leave, all on the one channel ``chirp:timelines:live``, so a fanout batch of a thousand
timelines is one message, not a thousand.

A process subscribes once, while it serves at least one stream, and hands each message's
changes to the streams of the users it names (through redis-py, whose pub/sub holds its own
connection). Every process that serves streams reads every message; the users it serves none of
are skipped at the cost of a lookup each. A subscription that fails ends every stream on it (a
stream that went on would miss changes): its clients reconnect and catch up."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import structlog
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from services.timelines.adapters.store import LIVE_CHANNEL
from services.timelines.model import LiveChange

log = structlog.get_logger()


def parse_live(message: bytes | str) -> tuple[LiveChange, list[int]]:
    """A message's change and the users whose timelines it is about."""
    text = message.decode() if isinstance(message, bytes) else message
    ids, _, users = text[1:].partition(" ")
    parsed = [int(part) for part in ids.split(",")]
    change = LiveChange(added=parsed) if text.startswith("+") else LiveChange(removed=parsed)
    return change, [int(user) for user in users.split(",")]


class LiveFailed(RedisConnectionError):
    """The subscription that fed a stream was lost: changes may have been missed."""


class RedisLiveUpdates:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._feeds: dict[int, set[_QueueFeed]] = {}
        self._listening: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
        self._lost: Exception | None = None

    @contextlib.asynccontextmanager
    async def follow(self, user_id: int) -> AsyncIterator[_QueueFeed]:
        feed = _QueueFeed()
        self._feeds.setdefault(user_id, set()).add(feed)
        try:
            await self._listen()
            yield feed
        finally:
            feeds = self._feeds[user_id]
            feeds.discard(feed)
            if not feeds:
                del self._feeds[user_id]
            if not self._feeds and self._listening is not None:
                listening, self._listening = self._listening, None
                listening.cancel()  # no stream left: unsubscribed until the next one
                await asyncio.wait([listening])

    async def _listen(self) -> None:
        """Returns once the channel is subscribed: every change published after that reaches
        the feeds."""
        if self._listening is None:
            self._subscribed = asyncio.Event()
            self._listening = asyncio.create_task(self._dispatch(self._subscribed))
        elif self._subscribed.is_set():
            return
        listening = self._listening
        subscribed = asyncio.create_task(self._subscribed.wait())
        await asyncio.wait([listening, subscribed], return_when=asyncio.FIRST_COMPLETED)
        subscribed.cancel()
        if listening.done():
            raise LiveFailed("live channel not subscribed") from self._lost

    async def _dispatch(self, subscribed: asyncio.Event) -> None:
        pubsub = self._redis.pubsub()
        try:
            await pubsub.subscribe(LIVE_CHANNEL)
            subscribed.set()
            while True:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=None)
                if message is not None:
                    self._deliver(message["data"])
        except Exception as error:
            log.warning("live channel lost", exc_info=True)
            self._lost = error
            for feeds in self._feeds.values():
                for feed in feeds:
                    feed.fail(error)
            if self._listening is asyncio.current_task():
                self._listening = None
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()  # type: ignore[no-untyped-call]

    def _deliver(self, data: bytes) -> None:
        change, users = parse_live(data)
        for user in users:
            for feed in self._feeds.get(user, ()):
                feed.put(change)


class _QueueFeed:
    def __init__(self) -> None:
        self._changes: asyncio.Queue[LiveChange] = asyncio.Queue()
        self._failure: BaseException | None = None

    def put(self, change: LiveChange) -> None:
        self._changes.put_nowait(change)

    def fail(self, error: BaseException) -> None:
        self._failure = error
        self._changes.put_nowait(LiveChange())  # wakes a waiting ``next``

    async def next(self, wait_seconds: float) -> LiveChange | None:
        try:
            change = await asyncio.wait_for(self._changes.get(), wait_seconds)
        except TimeoutError:
            return None
        if self._failure is not None:
            raise LiveFailed("live channel lost") from self._failure
        return change
