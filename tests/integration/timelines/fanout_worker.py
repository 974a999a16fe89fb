"""A fanout worker process for the kill test: the real FanoutWorker, TimelineService and Redis
store on a test consumer (``argv[1]``), with no celebrity threshold and a slowed fanout (small
batches, a pause after each) so that the test can SIGKILL it mid-way. Not a test module."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence

import grpc
from nats.js.api import ConsumerConfig

from services.platform.redis_clients import pubsub_client, resp_client
from services.timelines import service as service_module
from services.timelines.adapters.clients import CachedTweets, GrpcGraph
from services.timelines.adapters.live import RedisLiveUpdates
from services.timelines.adapters.store import RedisTimelineStore
from services.timelines.consumers.fanout import FanoutWorker
from services.timelines.service import TimelineService
from tests.integration import streams
from tests.integration.timelines.support import SETTINGS

BATCH = 200
PAUSE_SECONDS = 0.03


def killable_consumer(name: str) -> ConsumerConfig:
    return streams.killable_consumer(name, ["tweets.created"])


class SlowStore(RedisTimelineStore):
    async def push(self, user_ids: Sequence[int], ids: Sequence[int]) -> int:
        written = await super().push(user_ids, ids)
        await asyncio.sleep(PAUSE_SECONDS)
        return written


async def main(name: str) -> None:
    service_module.FANOUT_BATCH = BATCH
    resp = resp_client(SETTINGS.redis_url)
    redis = pubsub_client(SETTINGS.redis_url)
    store = SlowStore(resp, length=800, active_seconds=3600)
    service = TimelineService(
        store,
        GrpcGraph(grpc.aio.insecure_channel(SETTINGS.graph_addr)),
        CachedTweets(resp, grpc.aio.insecure_channel(SETTINGS.tweets_addr)),
        RedisLiveUpdates(redis),  # not used by the fanout
        celebrity_threshold=10**9,
        length=800,
    )
    print("running", flush=True)
    try:
        await FanoutWorker(SETTINGS.nats_url, service, config=killable_consumer(name)).run()
    finally:
        await resp.aclose()
        await redis.aclose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
