"""The users service as the graph sees it: usernames to ids, ids to BASIC user summaries.

Any failure to answer (UNIMPLEMENTED included: the graph cannot resolve a name without it)
raises ``Unavailable``, so a follow fails with 503 rather than 404 when users is down.

Names found are remembered, and concurrent lookups of one name share one call
(``services/bootstrap/usernames.py``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import TypeVar

import grpc
from chirp.users.v1 import user_pb2, users_service_pb2, users_service_pb2_grpc

from services.bootstrap.errors import Unavailable
from services.bootstrap.usernames import UsernameIds

#: How long a call waits for the users service.
TIMEOUT_SECONDS = 2.0
#: BatchGetUsers takes at most this many ids per call.
CHUNK = 100

_R = TypeVar("_R")


class GrpcUserDirectory:
    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._stub = users_service_pb2_grpc.UsersServiceStub(channel)
        self._ids = UsernameIds(self._ask)

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
        found: dict[int, user_pb2.User] = {}
        unique = list(dict.fromkeys(ids))
        for start in range(0, len(unique), CHUNK):
            request = users_service_pb2.BatchGetUsersRequest(
                ids=unique[start : start + CHUNK], view=user_pb2.USER_VIEW_BASIC
            )
            response = await _answer(self._stub.BatchGetUsers(request, timeout=TIMEOUT_SECONDS))
            found.update((user.id, user) for user in response.users)
        return found


async def _answer(call: Awaitable[_R]) -> _R:
    try:
        return await call
    except grpc.aio.AioRpcError as error:
        raise Unavailable(
            f"the users service cannot answer ({error.code().name}); retry"
        ) from error
