"""Composition root of the Mastodon API: adapters are connected here and nowhere else."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from services.mastodon.adapters.clients import Channels, GrpcAccounts, GrpcChirp
from services.mastodon.adapters.store import CassandraOAuthStore
from services.mastodon.consumers.accounts import DeletedAccounts
from services.mastodon.entities import Site
from services.mastodon.routes import MastodonApi
from services.mastodon.service import OAuthService
from services.platform import cql
from services.platform.background import in_background
from services.platform.channels import service_channel
from services.platform.ratelimit import Limits, RedisRateLimiter
from services.platform.redis_clients import resp_client
from services.platform.settings import Settings


@contextlib.asynccontextmanager
async def wiring(settings: Settings) -> AsyncIterator[web.Application]:
    session = cql.connect(settings)
    redis = resp_client(settings.redis_url)
    channels = Channels(
        *(
            service_channel(address, tls=settings.mtls)
            for address in (
                settings.users_addr,
                settings.tweets_addr,
                settings.graph_addr,
                settings.timelines_addr,
                settings.search_addr,
                settings.media_addr,
            )
        )
    )
    try:
        oauth = OAuthService(CassandraOAuthStore(session), GrpcAccounts(channels.users))
        chirp = GrpcChirp(channels)
        requests = RedisRateLimiter(redis, Limits.from_settings(settings).mastodon_requests)
        site = Site(settings.mastodon.public_url)
        async with in_background(DeletedAccounts(settings.nats_url, oauth).run):
            yield MastodonApi(oauth, chirp, site, requests).application()
    finally:
        await channels.close()
        await redis.aclose()
        session.cluster.shutdown()
