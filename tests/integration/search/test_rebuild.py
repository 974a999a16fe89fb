"""RebuildIndex on the running search service (gRPC; it is internal): the rebuilt indexes,
read from the tweets and users stores, answer like the live ones did, and a second rebuild
while one runs is ABORTED."""

from __future__ import annotations

import asyncio
import uuid

import grpc
import httpx
import pytest
from chirp.search.v1 import search_service_pb2, search_service_pb2_grpc

from tests.integration.search.support import SETTINGS, found, post
from tests.integration.tweets.tokens import bearer, random_user_id
from tests.polling import eventually
from tests.stack import GATEWAY

REBUILD_SECONDS = 300.0


async def test_a_rebuilt_index_answers_like_the_live_one() -> None:
    word = f"rb{uuid.uuid4().hex[:8]}"
    author = random_user_id()
    async with httpx.AsyncClient(base_url=GATEWAY, timeout=30) as http:
        kept = [await post(http, author, f"{word} alpha #t{word} number {i}") for i in range(3)]
        edited = await post(http, author, f"{word} before edit")
        gone = await post(http, author, f"{word} to delete")
        response = await http.patch(
            f"/v1/tweets/{edited}", json={"text": f"{word} after edit"}, headers=bearer(author)
        )
        assert response.status_code == 200, response.text
        response = await http.delete(f"/v1/tweets/{gone}", headers=bearer(author))
        assert response.status_code == 200, response.text
        queries = [word, f'"{word} alpha"', f"#t{word}", f"{word} -alpha", f"{word} edit"]
        await eventually(lambda: found(http, f"{word} after"), lambda ids: ids == [edited])
        await eventually(lambda: found(http, word), lambda ids: gone not in ids)
        live = {q: await found(http, q) for q in queries}
        assert live[word] == [edited, *kept[::-1]]
        before = _generation()

        async with grpc.aio.insecure_channel(SETTINGS.search_addr) as channel:
            stub = search_service_pb2_grpc.SearchServiceStub(channel)
            request = search_service_pb2.RebuildIndexRequest()
            first = asyncio.ensure_future(stub.RebuildIndex(request, timeout=REBUILD_SECONDS))
            await asyncio.sleep(0.05)
            with pytest.raises(grpc.aio.AioRpcError) as second:
                await stub.RebuildIndex(request, timeout=REBUILD_SECONDS)
            assert second.value.code() == grpc.StatusCode.ABORTED
            assert {q: await found(http, q) for q in queries} == live  # the old index serves
            done = await first
        assert done.tweet_count >= len(kept) + 1
        assert done.user_count >= 0
        rebuilt = {q: await found(http, q) for q in queries}
    assert rebuilt == live
    assert _generation() == before + 1  # a new index was swapped in


def _generation() -> int:
    """The tweet index generation in use (1 until the first rebuild)."""
    pointer = SETTINGS.data_dir / "search" / "tweets.current"
    return int(pointer.read_text()) if pointer.exists() else 1
