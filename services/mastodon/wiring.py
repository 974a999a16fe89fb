"""Composition root of the Mastodon API: adapters are connected here and nowhere else."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import grpc
from aiohttp import web

from services.mastodon.adapters.clients import GrpcAccounts, GrpcChirp
from services.mastodon.adapters.store import CassandraOAuthStore
from services.mastodon.entities import Site
from services.mastodon.routes import MastodonApi
from services.mastodon.service import OAuthService
from services.platform import cql
from services.platform.settings import Settings


@contextlib.asynccontextmanager
async def wiring(settings: Settings) -> AsyncIterator[web.Application]:
    session = cql.connect(settings)
    channels = {
        name: grpc.aio.insecure_channel(address)
        for name, address in (
            ("users", settings.users_addr),
            ("tweets", settings.tweets_addr),
            ("graph", settings.graph_addr),
            ("timelines", settings.timelines_addr),
        )
    }
    try:
        oauth = OAuthService(CassandraOAuthStore(session), GrpcAccounts(channels["users"]))
        chirp = GrpcChirp(
            channels["users"], channels["tweets"], channels["graph"], channels["timelines"]
        )
        yield MastodonApi(oauth, chirp, Site(settings.mastodon.public_url)).application()
    finally:
        for channel in channels.values():
            await channel.close()
        session.cluster.shutdown()
