"""``make reindex`` (``python -m services.search.reindex``): asks the running search service to
rebuild its indexes from the tweets and users stores (``RebuildIndex``) and waits for it; every
process of it, one after the other, when ``CHIRP_SEARCH_ADDR`` lists several (each keeps its own
index)."""

from __future__ import annotations

import asyncio
import sys
import time

import grpc
from chirp.search.v1 import search_service_pb2, search_service_pb2_grpc

from services.platform.channels import service_channel
from services.platform.settings import MutualTlsSettings, Settings, comma_separated

#: A rebuild reads every tweet and account; give it time.
DEADLINE_SECONDS = 6 * 3600.0


#: While a rebuild runs, a line says how long it has been running, this often.
PROGRESS_SECONDS = 10.0


async def reindex(
    address: str, every_seconds: float = PROGRESS_SECONDS
) -> search_service_pb2.RebuildIndexResponse:
    """The rebuild's answer; meanwhile, a line every ``every_seconds`` (a rebuild of millions
    of tweets takes minutes, and says how many only at the end)."""
    async with service_channel(address, tls=MutualTlsSettings()) as search:
        stub = search_service_pb2_grpc.SearchServiceStub(search)
        started = time.monotonic()
        call = asyncio.ensure_future(
            stub.RebuildIndex(search_service_pb2.RebuildIndexRequest(), timeout=DEADLINE_SECONDS)
        )
        while not (await asyncio.wait({call}, timeout=every_seconds))[0]:
            print(f"{address}: rebuilding, {time.monotonic() - started:.0f}s so far", flush=True)
        return await call


def main() -> int:
    for address in comma_separated(Settings(service="search").search_addr):
        try:
            done = asyncio.run(reindex(address))
        except grpc.aio.AioRpcError as error:
            print(
                f"{address}: rebuild failed: {error.code().name}: {error.details()}",
                file=sys.stderr,
            )
            return 1
        print(
            f"{address}: rebuilt the search indexes: "
            f"{done.tweet_count} tweets, {done.user_count} users"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
