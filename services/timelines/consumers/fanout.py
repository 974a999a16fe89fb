"""The fanout worker: the durable JetStream consumer ``timelines-fanout``, run in the background
of every timelines process (they share the consumer, so the work spreads over them).

It handles ``tweets.created`` and ``tweets.retweeted`` (fanout on write), ``tweets.deleted`` and
``tweets.unretweeted`` (out of timelines), ``graph.followed`` / ``graph.unfollowed`` (merge / take
out the followee's recent tweets) and ``users.deleted`` (the account's keys dropped:
``TimelineService.erase``). Each message is settled by the platform's policy
(``services/platform/consumers.py``): acknowledged only after Redis has the change, a failure
redelivered later for as long as it lasts, a long fanout (a big following) kept in progress.
Every handler is idempotent (ZADD / ZREM of ids, DEL of keys), so a redelivery changes nothing.

A fanout to a large following is shared (``TimelineService.fan_out``): its parts go out as
``timelines.fanout_part`` events, which every worker takes from a second durable consumer,
``timelines-fanout-parts``, one at a time, so the parts of one author's fanout spread over every
timelines process (one busy with a part leaves the next to another). A part names its *pool*,
the consumer whose fanout it belongs to; a worker acknowledges the parts of other pools (a
benchmark's private worker) without pushing them.

An account is erased ``ERASURE_GRACE_SECONDS`` after its deletion at the earliest: its tokens are
still accepted for about a second, and a home read in that second would rebuild the timeline an
earlier erasure had dropped. The wait runs apart from the batch (``_apart``), so a deletion never
holds up the fanouts fetched with it or after it."""

from __future__ import annotations

import asyncio
import functools
import time

import structlog
from chirp.events.v1 import graph_events_pb2, timeline_events_pb2, tweet_events_pb2, user_events_pb2
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig

from services.platform.background import in_background
from services.platform.consumers import ERASURE_GRACE_SECONDS, DurableConsumer, Settle, until_aged
from services.platform.events import consumer
from services.platform.ids import timestamp_ms
from services.platform.subjects import TIMELINES_FANOUT_PART, Event
from services.timelines import metrics
from services.timelines.service import TimelineService

CONSUMER = consumer("timelines-fanout")
PARTS_CONSUMER = consumer("timelines-fanout-parts")
#: Events per fetch of the fanout consumer (parts are fetched one at a time).
FETCH_BATCH = 100

log = structlog.get_logger()


class FanoutWorker:
    def __init__(
        self,
        nats_url: str,
        timelines: TimelineService,
        *,
        config: ConsumerConfig = CONSUMER,
        grace_seconds: float = ERASURE_GRACE_SECONDS,
        parts: ConsumerConfig | None = None,
    ) -> None:
        """``parts`` is the consumer of the fanout parts this worker's service shares (None:
        the service shares none)."""
        self._nats_url = nats_url
        self._timelines = timelines
        self._config = config
        self._settle = Settle(config)
        self._parts = parts
        self._grace_seconds = grace_seconds
        #: Erasures waiting out their grace apart from the batches.
        self._apart: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        """Consumes until cancelled; erasures still waiting are cancelled with it (their
        messages, unacknowledged, are delivered again)."""
        fanouts = DurableConsumer(self._nats_url, self._config, self.handle, batch_size=FETCH_BATCH)
        try:
            if self._parts is None:
                await fanouts.run()
            else:
                handle = functools.partial(self._handle_parts, Settle(self._parts))
                parts = DurableConsumer(self._nats_url, self._parts, handle, batch_size=1)
                async with in_background(parts.run):
                    await fanouts.run()
        finally:
            for task in self._apart:
                task.cancel()

    async def handle(self, messages: list[Msg]) -> None:
        """Messages about different tweets or followers are handled concurrently; those about
        one tweet (created, deleted) or one follower (followed, unfollowed) in stream order. A
        deleted account is settled apart, after its grace, without holding up the batch."""
        groups: dict[tuple[str, int], list[tuple[Msg, Event]]] = {}
        for message in messages:
            event = await self._settle.decoded(message)
            if isinstance(event, user_events_pb2.UserDeletedEvent):
                task = asyncio.create_task(self._in_order([(message, event)]))
                self._apart.add(task)
                task.add_done_callback(self._apart.discard)
            elif event is not None:
                groups.setdefault(_key(event), []).append((message, event))
        await asyncio.gather(*(self._in_order(group) for group in groups.values()))

    async def _handle_parts(self, settle: Settle, messages: list[Msg]) -> None:
        for message in messages:
            part = await settle.decoded(message, TIMELINES_FANOUT_PART)
            if part is not None:
                done = await settle.settled(message, self._push_part(part))
                metrics.EVENTS.labels(message.subject, "done" if done else "failed").inc()

    async def _push_part(self, part: timeline_events_pb2.FanoutPartEvent) -> bool:
        if part.pool == self._config.durable_name:
            delivered = await self._timelines.push_part(part.tweet_id, part.follower_ids)
            _observe(delivered, timestamp_ms(part.tweet_id) / 1000)
        return True

    async def _in_order(self, group: list[tuple[Msg, Event]]) -> None:
        for message, event in group:
            done = await self._settle.settled(message, self.apply(event))
            metrics.EVENTS.labels(message.subject, "done" if done else "failed").inc()

    async def apply(self, event: Event) -> bool:
        """Applies one event to the timelines (idempotent); True once done."""
        timelines = self._timelines
        if isinstance(event, tweet_events_pb2.TweetCreatedEvent):
            delivered = await timelines.fan_out(event.tweet.id, event.tweet.author.id)
            _observe(delivered, event.tweet.create_time.ToNanoseconds() / 1e9)
        elif isinstance(event, tweet_events_pb2.TweetRetweetedEvent):
            delivered = await timelines.fan_out(event.retweet_id, event.user_id)
            _observe(delivered, event.occur_time.ToNanoseconds() / 1e9)
        elif isinstance(event, tweet_events_pb2.TweetUnretweetedEvent):
            await timelines.take_out(event.retweet_id, event.user_id)
        elif isinstance(event, tweet_events_pb2.TweetDeletedEvent):
            await timelines.take_out(event.tweet_id, event.author_id)
        elif isinstance(event, graph_events_pb2.UserFollowedEvent):
            await timelines.followed(event.follower_id, event.followee_id)
        elif isinstance(event, graph_events_pb2.UserUnfollowedEvent):
            await timelines.unfollowed(event.follower_id, event.followee_id)
        elif isinstance(event, user_events_pb2.UserDeletedEvent):
            await until_aged(event.occur_time, self._grace_seconds)
            await timelines.erase(event.user_id)
        return True


def _key(event: Event) -> tuple[str, int]:
    """What an event is about: a tweet, or a follower (whose timeline it changes)."""
    if isinstance(event, tweet_events_pb2.TweetCreatedEvent):
        return ("tweet", event.tweet.id)
    if isinstance(
        event, tweet_events_pb2.TweetRetweetedEvent | tweet_events_pb2.TweetUnretweetedEvent
    ):
        return ("tweet", event.retweet_id)
    if isinstance(event, tweet_events_pb2.TweetDeletedEvent):
        return ("tweet", event.tweet_id)
    if isinstance(event, graph_events_pb2.UserFollowedEvent | graph_events_pb2.UserUnfollowedEvent):
        return ("follower", event.follower_id)
    return (type(event).__name__, 0)


def _observe(delivered: int, created_at: float) -> None:
    metrics.DELIVERIES.inc(delivered)
    if created_at > 0:
        metrics.FANOUT_LAG.observe(max(time.time() - created_at, 0.0))
