"""The fanout worker's batches: a deleted account is erased once its grace is over, apart from
the batch, whose fanouts are not held up meanwhile."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import cast

from chirp.events.v1 import tweet_events_pb2, user_events_pb2
from chirp.tweets.v1 import tweet_pb2
from google.protobuf.timestamp_pb2 import Timestamp
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig

from services.platform.subjects import TWEETS_CREATED, USERS_DELETED
from services.timelines.consumers.fanout import FanoutWorker
from services.timelines.service import TimelineService
from tests.unit.timelines.fakes import MemoryGraph, MemoryLive, MemoryStore, MemoryTweets

GRACE_SECONDS = 0.5
READER, AUTHOR, GONE, LONG_GONE = 1, 2, 3, 4


@dataclass
class Metadata:
    num_delivered: int = 1


@dataclass
class Delivered:
    """Stands in for a JetStream message: records when it was acknowledged, and any nak."""

    subject: str
    data: bytes
    metadata: Metadata = field(default_factory=Metadata)
    acked: asyncio.Event = field(default_factory=asyncio.Event)
    acked_at: float = float("inf")
    nak_delays: list[float | None] = field(default_factory=list)

    async def ack(self) -> None:
        self.acked_at = time.monotonic()
        self.acked.set()

    async def nak(self, delay: float | None = None) -> None:
        self.nak_delays.append(delay)

    async def in_progress(self) -> None:
        return None


def _deleted(user_id: int, seconds_ago: float) -> Delivered:
    occur_time = Timestamp()
    occur_time.FromNanoseconds(time.time_ns() - int(seconds_ago * 1e9))
    event = user_events_pb2.UserDeletedEvent(user_id=user_id, occur_time=occur_time)
    return Delivered(USERS_DELETED.name, event.SerializeToString())


def _created(tweet_id: int, author: int) -> Delivered:
    event = tweet_events_pb2.TweetCreatedEvent(tweet=tweet_pb2.Tweet(id=tweet_id))
    event.tweet.author.id = author
    return Delivered(TWEETS_CREATED.name, event.SerializeToString())


async def test_an_account_is_erased_after_its_grace_without_holding_up_the_batch() -> None:
    store = MemoryStore()
    service = TimelineService(
        store,
        MemoryGraph({(READER, AUTHOR)}),
        MemoryTweets(),
        MemoryLive(),
        celebrity_threshold=10,
        length=10,
    )
    for user in (READER, GONE, LONG_GONE):
        await store.store(user, [])
    worker = FanoutWorker(
        "nats://unused",
        service,
        config=ConsumerConfig(durable_name="unit-fanout", ack_wait=60),
        grace_seconds=GRACE_SECONDS,
    )
    fresh, old, created = _deleted(GONE, 0), _deleted(LONG_GONE, 10), _created(50, AUTHOR)
    started = time.monotonic()
    await worker.handle(cast("list[Msg]", [fresh, old, created]))
    assert time.monotonic() - started < GRACE_SECONDS / 2  # the next batch can be fetched
    assert created.acked_at - started < GRACE_SECONDS / 2
    assert store.timelines[READER] == {50}
    assert GONE in store.timelines  # still in its grace
    async with asyncio.timeout(5):
        await asyncio.gather(fresh.acked.wait(), old.acked.wait())
    assert old.acked_at - started < GRACE_SECONDS / 2  # deleted long ago: erased at once
    assert fresh.acked_at - started >= GRACE_SECONDS * 0.9
    assert set(store.timelines) == {READER}
    assert [message.nak_delays for message in (fresh, old, created)] == [[], [], []]
