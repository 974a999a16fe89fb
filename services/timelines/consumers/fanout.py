"""The fanout worker: the durable JetStream consumer ``timelines-fanout``, run in the background
of every timelines process (they share the consumer, so the work spreads over them).

It handles ``tweets.created`` and ``tweets.retweeted`` (fanout on write), ``tweets.deleted`` and
``tweets.unretweeted`` (out of timelines), ``graph.followed`` / ``graph.unfollowed`` (merge / take
out the followee's recent tweets). A message is acknowledged only after Redis has the change;
every handler is idempotent (ZADD / ZREM of ids), so a redelivery changes nothing. A failure is
redelivered a few seconds later; a long fanout tells JetStream it is still in progress.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import structlog
from chirp.events.v1 import graph_events_pb2, tweet_events_pb2
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig
from nats.js.client import JetStreamContext

from services.platform.consumers import RETRY_DELAY_SECONDS, DurableConsumer
from services.platform.events import consumer
from services.timelines import metrics
from services.timelines.service import TimelineService

CONSUMER = consumer("timelines-fanout")

IN_PROGRESS_SECONDS = 15.0
BACKLOG_EVERY_SECONDS = 5.0

log = structlog.get_logger()


class FanoutWorker:
    def __init__(
        self,
        nats_url: str,
        timelines: TimelineService,
        batch_size: int = 100,
        config: ConsumerConfig = CONSUMER,
    ) -> None:
        self._nats_url = nats_url
        self._timelines = timelines
        self._batch_size = batch_size
        self._config = config
        self._measured = 0.0

    async def run(self) -> None:
        """Consumes until cancelled; every few seconds samples the consumer's backlog."""
        await DurableConsumer(
            self._nats_url,
            self._config,
            self._handle_all,
            batch_size=self._batch_size,
            tick=self._sample_backlog,
        ).run()

    async def _sample_backlog(self, subscription: JetStreamContext.PullSubscription) -> None:
        if time.monotonic() - self._measured > BACKLOG_EVERY_SECONDS:
            self._measured = time.monotonic()
            await self._measure_backlog(subscription)

    @staticmethod
    async def _measure_backlog(subscription: JetStreamContext.PullSubscription) -> None:
        try:
            info = await subscription.consumer_info()
        except Exception:
            log.debug("consumer info failed", exc_info=True)
            return
        metrics.BACKLOG.set((info.num_pending or 0) + (info.num_ack_pending or 0))

    async def _handle_all(self, messages: list[Msg]) -> None:
        """Messages about different tweets or followers are handled concurrently; those about
        one tweet (created, deleted) or one follower (followed, unfollowed) in stream order."""
        groups: dict[tuple[str, int], list[Msg]] = {}
        for message in messages:
            groups.setdefault(_key(message.subject, message.data), []).append(message)

        async def in_order(group: list[Msg]) -> None:
            for message in group:
                await self._handle(message)

        await asyncio.gather(*(in_order(group) for group in groups.values()))

    async def _handle(self, message: Msg) -> None:
        try:
            with _InProgress(message):
                await self.apply(message.subject, message.data)
        except Exception:
            log.warning(
                "timelines fanout failed; redelivering", subject=message.subject, exc_info=True
            )
            metrics.EVENTS.labels(message.subject, "failed").inc()
            await message.nak(delay=RETRY_DELAY_SECONDS)
            return
        metrics.EVENTS.labels(message.subject, "done").inc()
        await message.ack()

    async def apply(self, subject: str, data: bytes) -> None:
        """Applies one event to the timelines (idempotent)."""
        timelines = self._timelines
        if subject == "tweets.created":
            created = tweet_events_pb2.TweetCreatedEvent.FromString(data)
            delivered = await timelines.fan_out(created.tweet.id, created.tweet.author.id)
            _observe(delivered, created.tweet.create_time.ToNanoseconds() / 1e9)
        elif subject == "tweets.retweeted":
            retweeted = tweet_events_pb2.TweetRetweetedEvent.FromString(data)
            delivered = await timelines.fan_out(retweeted.retweet_id, retweeted.user_id)
            _observe(delivered, retweeted.occur_time.ToNanoseconds() / 1e9)
        elif subject == "tweets.unretweeted":
            undone = tweet_events_pb2.TweetUnretweetedEvent.FromString(data)
            await timelines.take_out(undone.retweet_id, undone.user_id)
        elif subject == "tweets.deleted":
            deleted = tweet_events_pb2.TweetDeletedEvent.FromString(data)
            await timelines.take_out(deleted.tweet_id, deleted.author_id)
        elif subject == "graph.followed":
            followed = graph_events_pb2.UserFollowedEvent.FromString(data)
            await timelines.followed(followed.follower_id, followed.followee_id)
        elif subject == "graph.unfollowed":
            unfollowed = graph_events_pb2.UserUnfollowedEvent.FromString(data)
            await timelines.unfollowed(unfollowed.follower_id, unfollowed.followee_id)


def _key(subject: str, data: bytes) -> tuple[str, int]:
    """What a message is about: a tweet, or a follower (whose timeline it changes)."""
    if subject == "tweets.created":
        return ("tweet", tweet_events_pb2.TweetCreatedEvent.FromString(data).tweet.id)
    if subject == "tweets.retweeted":
        return ("tweet", tweet_events_pb2.TweetRetweetedEvent.FromString(data).retweet_id)
    if subject == "tweets.unretweeted":
        return ("tweet", tweet_events_pb2.TweetUnretweetedEvent.FromString(data).retweet_id)
    if subject == "tweets.deleted":
        return ("tweet", tweet_events_pb2.TweetDeletedEvent.FromString(data).tweet_id)
    if subject in ("graph.followed", "graph.unfollowed"):
        # Both messages have follower_id as field 3.
        return ("follower", graph_events_pb2.UserFollowedEvent.FromString(data).follower_id)
    return (subject, 0)


def _observe(delivered: int, created_at: float) -> None:
    metrics.DELIVERIES.inc(delivered)
    if created_at > 0:
        metrics.FANOUT_LAG.observe(max(time.time() - created_at, 0.0))


class _InProgress:
    """Tells JetStream every ``IN_PROGRESS_SECONDS`` that a long fanout is still being worked
    on (so it is not redelivered). A timer, not a task per message: nearly every message is
    done long before the first tick."""

    def __init__(self, message: Msg) -> None:
        self._message = message
        self._loop = asyncio.get_running_loop()
        self._timer: asyncio.TimerHandle | None = None
        self._telling: set[asyncio.Task[None]] = set()

    def __enter__(self) -> None:
        self._timer = self._loop.call_later(IN_PROGRESS_SECONDS, self._tick)

    def __exit__(self, *_exc: object) -> None:
        if self._timer is not None:
            self._timer.cancel()
        for task in self._telling:
            task.cancel()

    def _tick(self) -> None:
        task = self._loop.create_task(self._tell())
        self._telling.add(task)
        task.add_done_callback(self._telling.discard)
        self._timer = self._loop.call_later(IN_PROGRESS_SECONDS, self._tick)

    async def _tell(self) -> None:
        with contextlib.suppress(Exception):
            await self._message.in_progress()
