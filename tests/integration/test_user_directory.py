"""The users service as every other service calls it (``services/platform/users.py``): the real
one, an address that reaches no users service, and none at all."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import grpc
import httpx
import pytest
from chirp.users.v1 import user_pb2

from services.platform.caches.user_cache import user_key
from services.platform.channels import service_channel
from services.platform.errors import Unavailable
from services.platform.resp import RespClient
from services.platform.settings import Settings
from services.platform.users import GrpcUserDirectory
from tests.stack import GATEWAY


@pytest.fixture
async def elsewhere() -> AsyncIterator[str]:
    """A real gRPC server with no users service on it (a misrouted address): it answers every
    call UNIMPLEMENTED."""
    server = grpc.aio.server()
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield f"127.0.0.1:{port}"
    await server.stop(0)


@pytest.mark.parametrize("address", ["elsewhere", "127.0.0.1:1"])
async def test_a_users_service_that_cannot_answer_is_unavailable_not_nobody(
    address: str, elsewhere: str, resp: RespClient
) -> None:
    target = elsewhere if address == "elsewhere" else address
    async with service_channel(target, timeout=1.0) as channel:
        directory = GrpcUserDirectory(resp, channel)
        with pytest.raises(Unavailable, match="the users service cannot answer"):
            await directory.by_ids([1])
        with pytest.raises(Unavailable):
            await directory.by_usernames(["ada"])
        with pytest.raises(Unavailable):
            await directory.id_of("ada" + uuid.uuid4().hex[:8])


async def test_the_real_users_service_resolves_ids_and_usernames_folded(resp: RespClient) -> None:
    username = "dir" + uuid.uuid4().hex[:10]
    async with httpx.AsyncClient(base_url=GATEWAY, timeout=10) as http:
        created = await http.post(
            "/v1/users",
            json={"username": username, "password": "correct horse", "displayName": "Dir"},
        )
    assert created.status_code == 200, created.text
    user_id = int(created.json()["id"])
    async with service_channel(Settings(service="tweets").users_addr) as channel:
        directory = GrpcUserDirectory(resp, channel)
        by_name = await directory.by_usernames([username, "nobody_" + username])
        assert list(by_name) == [username]
        assert (by_name[username].id, by_name[username].display_name) == (user_id, "Dir")
        assert await directory.id_of(username.upper()) == user_id
        assert await directory.id_of("nobody_" + username) is None
        by_id = await directory.by_ids([user_id, 1])
        assert list(by_id) == [user_id]
        assert by_id[user_id].username == username
        # serialized: the same summaries as bytes, cached (the users service filled the cache
        # on that read) or fetched, never a user the service does not know
        await resp.call("DEL", user_key(user_id))
        fetched = await directory.serialized([user_id, 1])
        cached = await directory.serialized([user_id, 1])
        assert list(fetched) == list(cached) == [user_id]
        for payload in (fetched[user_id], cached[user_id]):
            assert user_pb2.User.FromString(payload) == by_id[user_id]
