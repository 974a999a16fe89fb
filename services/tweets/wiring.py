"""Composition root of the tweets service: adapters are connected here and nowhere else."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence

import grpc
from chirp.tweets.v1 import tweets_service_pb2

from services.platform import cql
from services.platform.background import in_background
from services.platform.channels import service_channel
from services.platform.ids import leased_snowflake
from services.platform.outbox import CassandraOutboxStore, Outbox, OutboxRelay, running_relay
from services.platform.ratelimit import Limits, RedisRateLimiter
from services.platform.redis_clients import resp_client
from services.platform.server import Registration
from services.platform.settings import Settings
from services.platform.users import GrpcUserDirectory
from services.platform.wire import bytes_handler
from services.tweets.adapters.cache import RedisTweetCache, RedisUserTimelines
from services.tweets.adapters.clients import GrpcMediaLibrary, UserAuthors
from services.tweets.adapters.store import CassandraTweetStore
from services.tweets.consumers.accounts import DeletedAccountsErasure
from services.tweets.consumers.cleanup import DeletedTweetsCleanup
from services.tweets.service import TweetService
from services.tweets.servicer import SENT_AS_BYTES, TweetsServicer

SERVICE = tweets_service_pb2.DESCRIPTOR.services_by_name["TweetsService"]


@contextlib.asynccontextmanager
async def wiring(settings: Settings) -> AsyncIterator[Sequence[Registration]]:
    session = cql.connect(settings)
    redis = resp_client(settings.redis_url)
    # A post waits for its author's and mentions' ids and its photos at most this long.
    users = service_channel(settings.users_addr, timeout=1.0, tls=settings.mtls)
    media = service_channel(settings.media_addr, timeout=2.0, tls=settings.mtls)
    try:
        outbox = Outbox(session)
        relay = OutboxRelay(CassandraOutboxStore(session, outbox), outbox, settings.nats_url)
        async with leased_snowflake(redis) as ids, running_relay(relay):
            tweets = TweetService(
                CassandraTweetStore(session, outbox),
                RedisTweetCache(redis),
                RedisUserTimelines(redis),
                UserAuthors(GrpcUserDirectory(redis, users)),
                GrpcMediaLibrary(media),
                ids,
                RedisRateLimiter(redis, Limits.from_settings(settings).posts),
            )
            servicer = TweetsServicer(tweets)
            cleanup = DeletedTweetsCleanup(settings.nats_url, tweets)
            erasure = DeletedAccountsErasure(settings.nats_url, tweets)
            async with in_background(cleanup.run), in_background(erasure.run):

                def add_to_server(server: grpc.aio.Server) -> None:
                    handler = bytes_handler(SERVICE, servicer, SENT_AS_BYTES)
                    server.add_generic_rpc_handlers((handler,))

                yield [Registration(SERVICE.full_name, add_to_server)]
    finally:
        await users.close()
        await media.close()
        await redis.aclose()
        session.cluster.shutdown()
