"""Composition root of the search service: adapters are connected here and nowhere else.

The process owns the Tantivy indexes' single writers, so the search service runs one process
per data directory (``CHIRP_WORKERS=1``); it scales by replicas, each with its own indexes.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence

import grpc
from chirp.search.v1 import search_service_pb2

from services.platform.background import in_background
from services.platform.channels import service_channel
from services.platform.redis_clients import resp_client
from services.platform.server import Registration
from services.platform.settings import Settings
from services.platform.wire import bytes_handler
from services.search.adapters.clients import GrpcGraph, GrpcTweets, GrpcUsers
from services.search.adapters.index import TantivyTweetIndex, TantivyUserIndex
from services.search.adapters.trend_store import RedisTrendStore
from services.search.consumers.indexer import Indexer, replica_consumer
from services.search.consumers.trends import TrendsWorker
from services.search.service import SearchService
from services.search.servicer import SENT_AS_BYTES, SearchServicer
from services.search.trends import TrendParams, TrendService

SERVICE = search_service_pb2.DESCRIPTOR.services_by_name["SearchService"]


def trend_params(settings: Settings) -> TrendParams:
    return TrendParams(
        bucket_seconds=settings.trends.bucket_seconds,
        window_buckets=settings.trends.window_buckets,
        baseline_buckets=settings.trends.baseline_buckets,
        min_authors=settings.trends.min_authors,
        min_expected=settings.trends.min_expected,
        min_score=settings.trends.min_score,
        peak_half_life_seconds=settings.trends.peak_half_life_seconds,
    )


@contextlib.asynccontextmanager
async def wiring(settings: Settings) -> AsyncIterator[Sequence[Registration]]:
    if settings.workers != 1:
        raise ValueError("the search service owns its index writers: run it with CHIRP_WORKERS=1")
    root = settings.search.index_dir(settings.data_dir)
    heap = settings.search.writer_heap_mb * 1_000_000
    tweet_index = TantivyTweetIndex(root, heap_bytes=heap)
    user_index = TantivyUserIndex(root)
    resp = resp_client(settings.redis_url)
    channels = [
        service_channel(address, tls=settings.mtls)
        for address in (settings.tweets_addr, settings.users_addr, settings.graph_addr)
    ]
    try:
        search = SearchService(
            tweet_index,
            user_index,
            GrpcTweets(resp, channels[0]),
            GrpcUsers(channels[1]),
            GrpcGraph(channels[2]),
        )
        params = trend_params(settings)
        store = RedisTrendStore(resp, params)
        trends = TrendService(store, params)
        indexer = Indexer(
            settings.nats_url,
            search,
            commit_seconds=settings.search.commit_seconds,
            engagement_seconds=settings.search.engagement_seconds,
            config=replica_consumer(settings.search.replica),
        )
        counter = TrendsWorker(
            settings.nats_url, trends, store, recompute_seconds=settings.trends.recompute_seconds
        )
        servicer = SearchServicer(search, trends)
        async with in_background(indexer.run), in_background(counter.run):

            def add_to_server(server: grpc.aio.Server) -> None:
                handler = bytes_handler(SERVICE, servicer, SENT_AS_BYTES)
                server.add_generic_rpc_handlers((handler,))

            yield [Registration(SERVICE.full_name, add_to_server)]
    finally:
        for channel in channels:
            await channel.close()
        await resp.aclose()
        await tweet_index.close()
        await user_index.close()
