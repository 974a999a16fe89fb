"""Composition root of the users service: adapters are connected here and nowhere else."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta

from chirp.users.v1 import users_service_pb2, users_service_pb2_grpc

from services.platform import cql
from services.platform.channels import service_channel
from services.platform.ids import leased_snowflake
from services.platform.outbox import CassandraOutboxStore, Outbox, OutboxRelay, running_relay
from services.platform.ratelimit import Limits, RedisRateLimiter
from services.platform.redis_clients import resp_client
from services.platform.server import Registration
from services.platform.settings import Settings
from services.users.adapters.cache import RedisSocialCache, RedisUserCache, cache_client
from services.users.adapters.clients import GrpcSocialCounts
from services.users.adapters.passwords import Argon2Passwords
from services.users.adapters.store import CassandraUserStore
from services.users.adapters.tokens import JwtIssuer, load_signing_key
from services.users.service import UserService
from services.users.servicer import UsersServicer

SERVICE = users_service_pb2.DESCRIPTOR.services_by_name["UsersService"].full_name
#: How long a profile waits for its counts (graph's, tweets') before it is shown without them.
PROFILE_COUNTS_SECONDS = 1.0


@asynccontextmanager
async def wiring(settings: Settings) -> AsyncIterator[Sequence[Registration]]:
    issuer = JwtIssuer(
        load_signing_key(settings.private_key_path, settings.public_key_path),
        settings.tokens.issuer,
        timedelta(seconds=settings.sessions.ttl_seconds),
    )
    session = cql.connect(settings)
    redis = resp_client(settings.redis_url)
    cache_redis = cache_client(settings.redis_url)
    graph = service_channel(settings.graph_addr, timeout=PROFILE_COUNTS_SECONDS, tls=settings.mtls)
    tweets = service_channel(
        settings.tweets_addr, timeout=PROFILE_COUNTS_SECONDS, tls=settings.mtls
    )
    outbox = Outbox(session)
    try:
        async with (
            leased_snowflake(redis) as ids,
            running_relay(
                OutboxRelay(CassandraOutboxStore(session, outbox), outbox, settings.nats_url)
            ),
        ):
            accounts = UserService(
                store=CassandraUserStore(session, outbox),
                cache=RedisUserCache(cache_redis),
                passwords=Argon2Passwords(),
                tokens=issuer,
                social=RedisSocialCache(cache_redis, GrpcSocialCounts(graph, tweets)),
                ids=ids,
                sign_ins=RedisRateLimiter(redis, Limits.from_settings(settings).sign_ins),
            )
            servicer = UsersServicer(accounts, [issuer.jwk])
            yield [
                Registration(
                    SERVICE,
                    lambda server: users_service_pb2_grpc.add_UsersServiceServicer_to_server(
                        servicer, server
                    ),
                )
            ]
    finally:
        await graph.close()
        await tweets.close()
        await cache_redis.aclose()
        await redis.aclose()
        session.cluster.shutdown()
