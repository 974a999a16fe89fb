"""``python -m benchmarks.fanout_worker CONSUMER [PARTS]``: a fanout worker process for the
fanout-lag benchmark (``benchmarks/timelines.py``): the real FanoutWorker, TimelineService and
Redis store on a temporary durable consumer of ``tweets.created`` (created by the benchmark),
with the celebrity threshold off, so that authors of any size are fanned out on write. Given a
second temporary consumer (``PARTS``, of ``timelines.fanout_part``), it shares large fanouts in
parts as the service does, with every worker started on the same two consumers.

After each fanout it prints one JSON line, ``{"tweet_id", "delivered", "done", "parts"}``, and
after each part it pushed ``{"tweet_id", "delivered", "done", "part": 1}``: ``done`` is the
wall-clock time at which its last timeline had the id (``fan_out`` and ``push_part`` return
after the last pipelined batch is in Redis); a fanout is over once its ``parts`` parts are."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

import grpc
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from services.platform.consumers import Publisher
from services.platform.redis_clients import pubsub_client, resp_client
from services.platform.settings import Settings
from services.platform.subjects import TIMELINES_FANOUT_PART
from services.timelines.adapters.clients import CachedTweets, GrpcGraph
from services.timelines.adapters.live import RedisLiveUpdates
from services.timelines.adapters.parts import JetStreamFanoutParts
from services.timelines.adapters.store import RedisTimelineStore
from services.timelines.consumers.fanout import FanoutWorker
from services.timelines.service import TimelineService

LENGTH = 800
NO_THRESHOLD = 10**9


def bench_consumer(name: str) -> ConsumerConfig:
    """The temporary consumer: new ``tweets.created`` events only, acknowledged explicitly."""
    return ConsumerConfig(
        durable_name=name,
        filter_subjects=["tweets.created"],
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.NEW,
        ack_wait=60,
        max_deliver=5,
    )


def bench_parts_consumer(name: str) -> ConsumerConfig:
    """The temporary consumer of the parts the workers share."""
    return bench_consumer(name).evolve(filter_subjects=[TIMELINES_FANOUT_PART.name])


class CountedParts(JetStreamFanoutParts):
    """Counts the parts shared per tweet."""

    def __init__(self, publisher: Publisher, pool: str) -> None:
        super().__init__(publisher, pool)
        self.shared: Counter[int] = Counter()

    async def share(self, tweet_id: int, author_id: int, follower_ids: Sequence[int]) -> None:
        await super().share(tweet_id, author_id, follower_ids)
        self.shared[tweet_id] += 1


def _report(tweet_id: int, delivered: int, **more: int) -> None:
    line = {"tweet_id": tweet_id, "delivered": delivered, "done": time.time(), **more}
    print(json.dumps(line), flush=True)


class TimedTimelines(TimelineService):
    def __init__(self, *args: Any, counted: CountedParts | None, **kwargs: Any) -> None:
        super().__init__(*args, parts=counted, **kwargs)
        self._counted = counted

    async def fan_out(self, tweet_id: int, author_id: int) -> int:
        delivered = await super().fan_out(tweet_id, author_id)
        parts = self._counted.shared.pop(tweet_id, 0) if self._counted else 0
        _report(tweet_id, delivered, parts=parts)
        return delivered

    async def push_part(self, tweet_id: int, follower_ids: Sequence[int]) -> int:
        delivered = await super().push_part(tweet_id, follower_ids)
        _report(tweet_id, delivered, part=1)
        return delivered


async def main(name: str, parts: str | None) -> None:
    settings = Settings(service="timelines")
    publisher = Publisher(settings.nats_url)
    resp = resp_client(settings.redis_url)
    redis = pubsub_client(settings.redis_url)
    store = RedisTimelineStore(resp, length=LENGTH, active_seconds=3600)
    service = TimedTimelines(
        store,
        GrpcGraph(grpc.aio.insecure_channel(settings.graph_addr)),
        CachedTweets(resp, grpc.aio.insecure_channel(settings.tweets_addr)),
        RedisLiveUpdates(redis),  # not used by the fanout
        celebrity_threshold=NO_THRESHOLD,
        length=LENGTH,
        counted=CountedParts(publisher, name) if parts else None,
    )
    worker = FanoutWorker(
        settings.nats_url,
        service,
        config=bench_consumer(name),
        parts=bench_parts_consumer(parts) if parts else None,
    )
    print(json.dumps({"running": name}), flush=True)
    try:
        await worker.run()
    finally:
        await resp.aclose()
        await redis.aclose()
        await publisher.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None))
