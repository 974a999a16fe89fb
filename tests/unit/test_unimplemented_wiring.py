"""A service whose behaviour has not landed answers UNIMPLEMENTED on every RPC of its contract."""

from __future__ import annotations

import grpc
import pytest
from chirp.timelines.v1 import timelines_service_pb2, timelines_service_pb2_grpc
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.platform.auth import TokenVerifier
from services.platform.interceptors import default_interceptors
from services.platform.server import unimplemented_wiring
from services.platform.settings import Settings


async def test_unary_and_streaming_rpcs_answer_unimplemented() -> None:
    descriptor = timelines_service_pb2.DESCRIPTOR.services_by_name["TimelinesService"]
    verifier = TokenVerifier(Ed25519PrivateKey.generate().public_key(), "chirp")
    server = grpc.aio.server(interceptors=default_interceptors(verifier))
    async with unimplemented_wiring(descriptor)(Settings(service="timelines")) as registrations:
        (registration,) = registrations
        assert registration.service_name == "chirp.timelines.v1.TimelinesService"
        registration.add_to_server(server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                stub = timelines_service_pb2_grpc.TimelinesServiceStub(channel)
                with pytest.raises(grpc.aio.AioRpcError) as unary:
                    await stub.ListHomeTimeline(timelines_service_pb2.ListHomeTimelineRequest())
                with pytest.raises(grpc.aio.AioRpcError) as streaming:
                    async for _ in stub.StreamHomeTimeline(
                        timelines_service_pb2.StreamHomeTimelineRequest()
                    ):
                        pass
        finally:
            await server.stop(None)
    assert unary.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert unary.value.details() == (
        "chirp.timelines.v1.TimelinesService/ListHomeTimeline is not implemented yet"
    )
    assert streaming.value.code() == grpc.StatusCode.UNIMPLEMENTED
