"""A fanout worker process for the kill tests: the real FanoutWorker, TimelineService and Redis
store on a test consumer (``argv[1]``), with no celebrity threshold and a slowed fanout (small
batches, a pause after each) so that the test can SIGKILL it mid-way; given a second test
consumer (``argv[2]``, of ``timelines.fanout_part``), it shares every fanout past ``PART``
followers in parts, as the service does. Not a test module."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence

import grpc
from nats.js.api import ConsumerConfig

from services.platform.consumers import Publisher
from services.platform.redis_clients import pubsub_client, resp_client
from services.platform.subjects import TIMELINES_FANOUT_PART
from services.timelines import service as service_module
from services.timelines.adapters.clients import CachedTweets, GrpcGraph
from services.timelines.adapters.live import RedisLiveUpdates
from services.timelines.adapters.parts import JetStreamFanoutParts
from services.timelines.adapters.store import RedisTimelineStore
from services.timelines.consumers.fanout import FanoutWorker
from services.timelines.service import TimelineService
from tests.integration import streams
from tests.integration.timelines.support import SETTINGS

BATCH = 200
PART = 2_000
PAUSE_SECONDS = 0.03


def killable_consumer(name: str) -> ConsumerConfig:
    return streams.killable_consumer(name, ["tweets.created"])


def killable_parts_consumer(name: str) -> ConsumerConfig:
    return streams.killable_consumer(name, [TIMELINES_FANOUT_PART.name])


class SlowStore(RedisTimelineStore):
    async def push(self, user_ids: Sequence[int], ids: Sequence[int]) -> int:
        written = await super().push(user_ids, ids)
        await asyncio.sleep(PAUSE_SECONDS)
        return written


async def main(name: str, parts: str | None) -> None:
    service_module.FANOUT_BATCH = BATCH
    publisher = Publisher(SETTINGS.nats_url)
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
        parts=JetStreamFanoutParts(publisher, name) if parts else None,
        part_size=PART,
    )
    worker = FanoutWorker(
        SETTINGS.nats_url,
        service,
        config=killable_consumer(name),
        parts=killable_parts_consumer(parts) if parts else None,
    )
    print("running", flush=True)
    try:
        await worker.run()
    finally:
        await resp.aclose()
        await redis.aclose()
        await publisher.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None))
