"""An indexer process for the kill test: the real Indexer, SearchService and Tantivy index,
on a test consumer (``argv[1]``, a short ack wait) and an index folder of its own
(``argv[2]``). Not a test module."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import grpc
from nats.js.api import ConsumerConfig

from services.platform.redis_clients import resp_client
from services.search.adapters.clients import GrpcGraph, GrpcTweets, GrpcUsers
from services.search.adapters.index import TantivyTweetIndex, TantivyUserIndex
from services.search.consumers.indexer import Indexer
from services.search.service import SearchService
from tests.integration import streams
from tests.integration.search.support import SETTINGS


def killable_consumer(name: str) -> ConsumerConfig:
    return streams.killable_consumer(name, ["tweets.created", "tweets.edited", "tweets.deleted"])


async def main(name: str, root: Path) -> None:
    resp = resp_client(SETTINGS.redis_url)
    search = SearchService(
        TantivyTweetIndex(root),
        TantivyUserIndex(root),
        GrpcTweets(resp, grpc.aio.insecure_channel(SETTINGS.tweets_addr)),
        GrpcUsers(grpc.aio.insecure_channel(SETTINGS.users_addr)),
        GrpcGraph(grpc.aio.insecure_channel(SETTINGS.graph_addr)),
    )
    config = killable_consumer(name)
    print("running", flush=True)
    try:
        await Indexer(SETTINGS.nats_url, search, commit_seconds=0.5, config=config).run()
    finally:
        await resp.aclose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2])))
