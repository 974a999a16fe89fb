"""The users service as the graph sees it: usernames to ids, ids to BASIC user summaries (from
its cache itself where it has them: ``services/platform/caches/user_cache.py``).

Any failure to answer (UNIMPLEMENTED included: the graph cannot resolve a name without it)
raises ``Unavailable``, so a follow fails with 503 rather than 404 when users is down.

Names found are remembered, and concurrent lookups of one name share one call
(``services/platform/usernames.py``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import TypeVar

import grpc
from chirp.users.v1 import user_pb2, users_service_pb2, users_service_pb2_grpc

from services.platform.caches.user_cache import BasicUsers
from services.platform.errors import Unavailable
from services.platform.resp import Resp
from services.platform.usernames import UsernameIds

#: How long a call waits for the users service.
TIMEOUT_SECONDS = 2.0

_R = TypeVar("_R")


class GrpcUserDirectory:
    def __init__(self, redis: Resp, channel: grpc.aio.Channel) -> None:
        self._stub = users_service_pb2_grpc.UsersServiceStub(channel)
        self._ids = UsernameIds(self._ask)
        self._users = BasicUsers(redis, self._fetch)

    async def id_of(self, username: str) -> int | None:
        return await self._ids.id_of(username.lower())

    async def _ask(self, username: str) -> int | None:
        request = users_service_pb2.BatchGetUsersByUsernameRequest(
            usernames=[username], view=user_pb2.USER_VIEW_BASIC
        )
        response = await _answer(
            self._stub.BatchGetUsersByUsername(request, timeout=TIMEOUT_SECONDS)
        )
        return response.users[0].id if response.users else None

    async def users(self, ids: Sequence[int]) -> dict[int, user_pb2.User]:
        """From the users service's cache itself; the service is asked for what it misses."""
        return await self._users.get(ids)

    async def _fetch(self, ids: list[int]) -> Sequence[user_pb2.User]:
        request = users_service_pb2.BatchGetUsersRequest(ids=ids, view=user_pb2.USER_VIEW_BASIC)
        response = await _answer(self._stub.BatchGetUsers(request, timeout=TIMEOUT_SECONDS))
        return response.users


async def _answer(call: Awaitable[_R]) -> _R:
    try:
        return await call
    except grpc.aio.AioRpcError as error:
        raise Unavailable(
            f"the users service cannot answer ({error.code().name}); retry"
        ) from error
