"""Composition root of the graph service: adapters are connected here and nowhere else."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence

import grpc
from chirp.graph.v1 import graph_service_pb2

from services.graph.adapters.cache import (
    RedisCountedChanges,
    RedisFollowCounts,
    RedisKeptCopies,
    RedisSuggestions,
)
from services.graph.adapters.outbox import Neo4jOutboxStore
from services.graph.adapters.store import Neo4jGraphStore
from services.graph.consumers.accounts import AccountNodes
from services.graph.service import GraphService
from services.graph.servicer import SENT_AS_BYTES, GraphServicer
from services.platform.background import in_background
from services.platform.channels import service_channel
from services.platform.graph_db import async_driver
from services.platform.outbox import OutboxRelay, running_relay
from services.platform.ratelimit import Limits, RedisRateLimiter
from services.platform.redis_clients import resp_client
from services.platform.server import Registration
from services.platform.settings import Settings
from services.platform.users import GrpcUserDirectory
from services.platform.wire import bytes_handler

SERVICE = graph_service_pb2.DESCRIPTOR.services_by_name["GraphService"]


@contextlib.asynccontextmanager
async def wiring(settings: Settings) -> AsyncIterator[Sequence[Registration]]:
    driver = async_driver(settings, notifications_min_severity="OFF")
    users = service_channel(settings.users_addr, timeout=2.0, tls=settings.mtls)
    redis = resp_client(settings.redis_url)
    try:
        outbox = Neo4jOutboxStore(driver)
        relay = OutboxRelay(outbox, outbox, settings.nats_url)
        store = Neo4jGraphStore(driver, outbox)
        graph = GraphService(
            store,
            GrpcUserDirectory(redis, users),
            RedisCountedChanges(redis),
            RedisFollowCounts(redis, store),
            RedisSuggestions(redis),
            RedisKeptCopies(redis),
            RedisRateLimiter(redis, Limits.from_settings(settings).follows),
        )
        servicer = GraphServicer(graph)
        nodes = AccountNodes(settings.nats_url, graph)
        async with running_relay(relay), in_background(nodes.run):

            def add_to_server(server: grpc.aio.Server) -> None:
                handler = bytes_handler(SERVICE, servicer, SENT_AS_BYTES)
                server.add_generic_rpc_handlers((handler,))

            yield [Registration(SERVICE.full_name, add_to_server)]
    finally:
        await users.close()
        await redis.aclose()
        await driver.close()
