"""``make reindex`` says how long the rebuild has been running while it waits for it (a real
grpc.aio server whose RebuildIndex takes a while)."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest
from chirp.search.v1 import search_service_pb2

from services.search.reindex import reindex

SERVICE = "chirp.search.v1.SearchService"


async def _slow_rebuild(_request: Any, _context: Any) -> search_service_pb2.RebuildIndexResponse:
    await asyncio.sleep(0.3)
    return search_service_pb2.RebuildIndexResponse(tweet_count=7, user_count=3)


async def test_a_rebuild_is_waited_for_with_a_line_now_and_then(
    capsys: pytest.CaptureFixture[str],
) -> None:
    server = grpc.aio.server()
    handler = grpc.unary_unary_rpc_method_handler(
        _slow_rebuild,
        request_deserializer=search_service_pb2.RebuildIndexRequest.FromString,
        response_serializer=search_service_pb2.RebuildIndexResponse.SerializeToString,
    )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(SERVICE, {"RebuildIndex": handler}),)
    )
    address = f"127.0.0.1:{server.add_insecure_port('127.0.0.1:0')}"
    await server.start()
    try:
        done = await reindex(address, every_seconds=0.05)
    finally:
        await server.stop(None)
    assert (done.tweet_count, done.user_count) == (7, 3)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) >= 3
    assert all(line.startswith(f"{address}: rebuilding, ") for line in lines)
