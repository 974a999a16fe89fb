"""The users service as the tweets service calls it: the real one, one that has not landed
(a real gRPC server answering UNIMPLEMENTED, as services do before their issue), and none."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import grpc
import httpx
import pytest
from chirp.users.v1 import users_service_pb2

from services.platform.errors import Unavailable
from services.platform.interceptors import ExceptionToStatusInterceptor, ServerScopes
from services.platform.resp import Resp
from services.platform.server import unimplemented_wiring
from services.platform.settings import Settings
from services.tweets.adapters.users import GrpcUserDirectory

GATEWAY = "http://127.0.0.1:8080"


@pytest.fixture
async def unimplemented_users() -> AsyncIterator[str]:
    """A real gRPC server whose UsersService answers UNIMPLEMENTED, as every service did before
    its issue landed; yields its address."""
    service = users_service_pb2.DESCRIPTOR.services_by_name["UsersService"]
    server = grpc.aio.server(interceptors=[ServerScopes(ExceptionToStatusInterceptor())])
    port = server.add_insecure_port("127.0.0.1:0")
    async with unimplemented_wiring(service)(Settings(service="users")) as registrations:
        for registration in registrations:
            registration.add_to_server(server)
        await server.start()
        yield f"127.0.0.1:{port}"
        await server.stop(0)


async def test_a_users_service_that_has_not_landed_matches_nobody(
    unimplemented_users: str, resp: Resp
) -> None:
    async with grpc.aio.insecure_channel(unimplemented_users) as channel:
        directory = GrpcUserDirectory(resp, channel)
        assert await directory.by_ids([1, 2]) == {}
        assert await directory.by_usernames(["ada"]) == {}


async def test_an_unreachable_users_service_is_unavailable(resp: Resp) -> None:
    async with grpc.aio.insecure_channel("127.0.0.1:1") as channel:
        directory = GrpcUserDirectory(resp, channel)
        with pytest.raises(Unavailable):
            await directory.by_ids([1])
        with pytest.raises(Unavailable):
            await directory.by_usernames(["ada"])


async def test_the_real_users_service_resolves_ids_and_usernames(resp: Resp) -> None:
    username = "dir" + uuid.uuid4().hex[:10]
    async with httpx.AsyncClient(base_url=GATEWAY, timeout=10) as http:
        created = await http.post(
            "/v1/users",
            json={"username": username, "password": "correct horse", "displayName": "Dir"},
        )
    assert created.status_code == 200, created.text
    user_id = int(created.json()["id"])
    async with grpc.aio.insecure_channel(Settings(service="tweets").users_addr) as channel:
        directory = GrpcUserDirectory(resp, channel)
        by_name = await directory.by_usernames([username.upper().lower(), "nobody_" + username])
        assert list(by_name) == [username]
        assert (by_name[username].id, by_name[username].display_name) == (user_id, "Dir")
        by_id = await directory.by_ids([user_id, 1])
        assert list(by_id) == [user_id]
        assert by_id[user_id].username == username
        assert by_id[user_id].create_time is not None
