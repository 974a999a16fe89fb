"""Composition root of the users service: adapters are connected here and nowhere else."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from functools import partial

import structlog
from chirp.users.v1 import users_service_pb2, users_service_pb2_grpc

from services.platform import cql
from services.platform.background import in_background, pause, rounds
from services.platform.channels import service_channel
from services.platform.ids import leased_snowflake
from services.platform.outbox import CassandraOutboxStore, Outbox, OutboxRelay, running_relay
from services.platform.ratelimit import Limits, RedisRateLimiter
from services.platform.redis_clients import resp_client
from services.platform.revocations import REASSERT_SECONDS
from services.platform.server import Registration
from services.platform.settings import Settings
from services.users.adapters.account_data import GrpcAccountData
from services.users.adapters.cache import RedisSocialCache, RedisUserCache, cache_client
from services.users.adapters.clients import GrpcSocialCounts
from services.users.adapters.passwords import Argon2Passwords
from services.users.adapters.revocations import RedisRevocations
from services.users.adapters.store import CassandraUserStore
from services.users.adapters.tokens import JwtIssuer, load_signing_key
from services.users.export import AccountExport
from services.users.service import UserService
from services.users.servicer import UsersServicer

log = structlog.get_logger()

SERVICE = users_service_pb2.DESCRIPTOR.services_by_name["UsersService"].full_name
#: How long a profile waits for its counts (graph's, tweets') before it is shown without them.
PROFILE_COUNTS_SECONDS = 1.0
#: Room for the message around a photo's bytes.
ARCHIVE_PHOTO_MARGIN_BYTES = 64 * 1024


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
    # An archive's reads get the channels' usual limit per call (the export as a whole has
    # none); a photo may be as large as an upload.
    archive_tweets = service_channel(settings.tweets_addr, tls=settings.mtls)
    archive_graph = service_channel(settings.graph_addr, tls=settings.mtls)
    archive_media = service_channel(
        settings.media_addr,
        tls=settings.mtls,
        max_receive_bytes=settings.media.max_upload_bytes + ARCHIVE_PHOTO_MARGIN_BYTES,
    )
    outbox = Outbox(session)
    limits = Limits.from_settings(settings)
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
                sign_ins=RedisRateLimiter(redis, limits.sign_ins),
                account_limits=[
                    RedisRateLimiter(redis, limit)
                    for limit in (
                        limits.posts,
                        limits.follows,
                        limits.uploads,
                        limits.video_uploads,
                    )
                ],
                revocations=RedisRevocations(redis),
                username_quarantine=timedelta(
                    seconds=settings.accounts.username_quarantine_seconds
                ),
            )
            data = GrpcAccountData(archive_tweets, archive_graph, archive_media)
            servicer = UsersServicer(accounts, AccountExport(accounts, data), [issuer.jwk])
            async with in_background(partial(_reassert_revocations, accounts)):
                yield [
                    Registration(
                        SERVICE,
                        lambda server: users_service_pb2_grpc.add_UsersServiceServicer_to_server(
                            servicer, server
                        ),
                    )
                ]
    finally:
        for channel in (graph, tweets, archive_tweets, archive_graph, archive_media):
            await channel.close()
        await cache_redis.aclose()
        await redis.aclose()
        session.cluster.shutdown()


async def _reassert_revocations(accounts: UserService) -> None:
    """Writes the revocations in force into Redis every ``REASSERT_SECONDS``, until cancelled."""
    for _ in rounds():
        try:
            await accounts.reassert_revocations()
        except Exception:
            log.warning("could not read the revocations' record", exc_info=True)
        await pause(REASSERT_SECONDS)
