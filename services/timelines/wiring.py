"""Composition root of the timelines service: adapters are connected here and nowhere else."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence

import grpc
from chirp.timelines.v1 import timelines_service_pb2

from services.platform.background import in_background
from services.platform.channels import service_channel
from services.platform.consumers import Publisher
from services.platform.redis_clients import pubsub_client, resp_client
from services.platform.server import Registration
from services.platform.settings import Settings
from services.platform.wire import bytes_handler
from services.timelines.adapters.clients import CachedTweets, GrpcGraph
from services.timelines.adapters.live import RedisLiveUpdates
from services.timelines.adapters.parts import JetStreamFanoutParts
from services.timelines.adapters.store import RedisTimelineStore
from services.timelines.consumers.fanout import CONSUMER, PARTS_CONSUMER, FanoutWorker
from services.timelines.service import TimelineService
from services.timelines.servicer import SENT_AS_BYTES, TimelinesServicer

SERVICE = timelines_service_pb2.DESCRIPTOR.services_by_name["TimelinesService"]


@contextlib.asynccontextmanager
async def wiring(settings: Settings) -> AsyncIterator[Sequence[Registration]]:
    redis = pubsub_client(settings.redis_url)  # the live channels'
    resp = resp_client(settings.redis_url)
    publisher = Publisher(settings.nats_url)
    graph = service_channel(settings.graph_addr, tls=settings.mtls)
    tweets = service_channel(settings.tweets_addr, tls=settings.mtls)
    try:
        store = RedisTimelineStore(
            resp,
            length=settings.timelines.length,
            active_seconds=settings.timelines.active_days * 24 * 3600,
        )
        timelines = TimelineService(
            store,
            GrpcGraph(graph),
            CachedTweets(resp, tweets),
            RedisLiveUpdates(redis),
            celebrity_threshold=settings.timelines.celebrity_follower_threshold,
            length=settings.timelines.length,
            parts=JetStreamFanoutParts(publisher, CONSUMER.durable_name or ""),
        )
        servicer = TimelinesServicer(timelines)
        worker = FanoutWorker(settings.nats_url, timelines, parts=PARTS_CONSUMER)
        async with in_background(worker.run):

            def add_to_server(server: grpc.aio.Server) -> None:
                handler = bytes_handler(SERVICE, servicer, SENT_AS_BYTES)
                server.add_generic_rpc_handlers((handler,))

            yield [Registration(SERVICE.full_name, add_to_server)]
    finally:
        await graph.close()
        await tweets.close()
        await resp.aclose()
        await redis.aclose()
        await publisher.close()
