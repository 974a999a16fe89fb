"""``make reindex`` (``python -m services.search.reindex``): asks the running search service to
rebuild its indexes from the tweets and users stores (``RebuildIndex``) and waits for it."""

from __future__ import annotations

import asyncio
import sys

import grpc
from chirp.search.v1 import search_service_pb2, search_service_pb2_grpc

from services.platform.settings import Settings

#: A rebuild reads every tweet and account; give it time.
DEADLINE_SECONDS = 6 * 3600.0


async def reindex(address: str) -> search_service_pb2.RebuildIndexResponse:
    async with grpc.aio.insecure_channel(address) as channel:
        stub = search_service_pb2_grpc.SearchServiceStub(channel)
        return await stub.RebuildIndex(
            search_service_pb2.RebuildIndexRequest(), timeout=DEADLINE_SECONDS
        )


def main() -> int:
    address = Settings(service="search").search_addr
    try:
        done = asyncio.run(reindex(address))
    except grpc.aio.AioRpcError as error:
        print(f"rebuild failed: {error.code().name}: {error.details()}", file=sys.stderr)
        return 1
    print(f"rebuilt the search indexes: {done.tweet_count} tweets, {done.user_count} users")
    return 0


if __name__ == "__main__":
    sys.exit(main())
