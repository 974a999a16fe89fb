"""Other services' reads of the users service's cache of summaries (``BasicUsers``), against
the real Redis and the real users service."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import grpc
import httpx
from chirp.users.v1 import user_pb2, users_service_pb2, users_service_pb2_grpc
from redis.asyncio import Redis

from services.platform.caches.user_cache import BasicUsers, user_key
from services.platform.resp import Resp, RespClient
from services.platform.settings import Settings
from tests.integration.tweets.tokens import random_user_id
from tests.stack import GATEWAY


async def _registered() -> tuple[int, str]:
    username = "bu" + uuid.uuid4().hex[:10]
    async with httpx.AsyncClient(base_url=GATEWAY, timeout=10) as http:
        created = await http.post(
            "/v1/users", json={"username": username, "password": "correct horse"}
        )
    assert created.status_code == 200, created.text
    return int(created.json()["id"]), username


async def test_summaries_come_from_the_cache_and_only_misses_from_the_users_service(
    resp: RespClient, redis: Redis
) -> None:
    user_id, username = await _registered()
    unknown = random_user_id()
    asked: list[list[int]] = []
    async with grpc.aio.insecure_channel(Settings(service="tweets").users_addr) as channel:
        stub = users_service_pb2_grpc.UsersServiceStub(channel)

        async def fetch(ids: list[int]) -> Sequence[user_pb2.User]:
            asked.append(ids)
            request = users_service_pb2.BatchGetUsersRequest(ids=ids, view=user_pb2.USER_VIEW_BASIC)
            return (await stub.BatchGetUsers(request)).users

        users = BasicUsers(resp, fetch)
        await redis.delete(user_key(user_id))
        first = await users.get([user_id, user_id, unknown])
        assert asked == [[user_id, unknown]]
        assert list(first) == [user_id]
        assert first[user_id].username == username
        second = await users.get([user_id])  # the users service cached what it read
        assert asked == [[user_id, unknown]]
        assert second == {user_id: first[user_id]}

        unreachable = Resp.from_url("redis://127.0.0.1:1")
        assert await BasicUsers(unreachable, fetch).get([user_id]) == second  # asked instead
        assert asked[-1] == [user_id]
        await unreachable.aclose()
