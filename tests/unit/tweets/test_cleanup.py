"""The deleted-tweets cleanup leaves a delete its grace before purging what it left."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import cast

from chirp.events.v1 import tweet_events_pb2

from services.tweets.consumers.cleanup import DeletedTweetsCleanup
from services.tweets.service import TweetService


class PurgeTimes:
    """Stands in for the service: when each tweet's purge came."""

    def __init__(self) -> None:
        self.at: dict[int, float] = {}

    async def purge(self, tweet_id: int, _deleted_at: datetime) -> None:
        self.at[tweet_id] = time.monotonic()


def _deleted(tweet_id: int, ago: timedelta) -> tweet_events_pb2.TweetDeletedEvent:
    event = tweet_events_pb2.TweetDeletedEvent(tweet_id=tweet_id)
    event.occur_time.FromDatetime(datetime.now(UTC) - ago)
    return event


async def test_a_fresh_delete_is_purged_after_its_grace_an_old_one_at_once() -> None:
    purges = PurgeTimes()
    cleanup = DeletedTweetsCleanup("nats://unused", cast("TweetService", purges), grace_seconds=0.4)
    started = time.monotonic()
    answers = await asyncio.gather(
        cleanup.purge(_deleted(1, timedelta(0))),
        cleanup.purge(_deleted(2, timedelta(seconds=0.3))),
        cleanup.purge(_deleted(3, timedelta(minutes=5))),
    )
    assert list(answers) == [True, True, True]
    assert purges.at[1] - started >= 0.39
    assert 0.05 <= purges.at[2] - started < 0.3
    assert purges.at[3] - started < 0.05
