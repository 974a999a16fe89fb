"""``python -m benchmarks.fanout_worker CONSUMER``: a fanout worker process for the fanout-lag
benchmark (``benchmarks/timelines.py``): the real FanoutWorker, TimelineService and Redis store
on a temporary durable consumer of ``tweets.created`` (created by the benchmark), with the
celebrity threshold off, so that authors of any size are fanned out on write.

After each fanout it prints one JSON line, ``{"tweet_id", "author_id", "delivered", "done"}``:
``done`` is the wall-clock time at which the last follower's timeline had the id (``fan_out``
returns after the last pipelined batch is in Redis)."""

from __future__ import annotations

import asyncio
import json
import sys
import time

import grpc
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from services.platform.redis_clients import pubsub_client, resp_client
from services.platform.settings import Settings
from services.timelines.adapters.clients import CachedTweets, GrpcGraph
from services.timelines.adapters.live import RedisLiveUpdates
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


class TimedTimelines(TimelineService):
    async def fan_out(self, tweet_id: int, author_id: int) -> int:
        delivered = await super().fan_out(tweet_id, author_id)
        done = time.time()
        line = {"tweet_id": tweet_id, "author_id": author_id, "delivered": delivered, "done": done}
        print(json.dumps(line), flush=True)
        return delivered


async def main(name: str) -> None:
    settings = Settings(service="timelines")
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
    )
    print(json.dumps({"running": name}), flush=True)
    try:
        await FanoutWorker(settings.nats_url, service, config=bench_consumer(name)).run()
    finally:
        await resp.aclose()
        await redis.aclose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
