"""The users service as the graph sees it: usernames to ids, ids to BASIC user summaries.

Any failure to answer (UNIMPLEMENTED included: the graph cannot resolve a name without it)
raises ``Unavailable``, so a follow fails with 503 rather than 404 when users is down.

Usernames never change (UpdateUser changes only display_name and bio), so a name found is
remembered (a bounded LRU of ``CACHED_NAMES``), and concurrent lookups of one name share one
call: a burst of follows of one account asks the users service once. Names not found are not
remembered (they may be registered a moment later).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Sequence
from typing import TypeVar

import grpc
from chirp.users.v1 import user_pb2, users_service_pb2, users_service_pb2_grpc

from services.bootstrap.errors import Unavailable

#: How long a call waits for the users service.
TIMEOUT_SECONDS = 2.0
#: BatchGetUsers takes at most this many ids per call.
CHUNK = 100
#: How many username -> id answers a process remembers.
CACHED_NAMES = 50_000

_R = TypeVar("_R")


class GrpcUserDirectory:
    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._stub = users_service_pb2_grpc.UsersServiceStub(channel)
        self._ids: OrderedDict[str, int] = OrderedDict()
        self._asking: dict[str, asyncio.Future[int | None]] = {}

    async def id_of(self, username: str) -> int | None:
        name = username.lower()
        if (known := self._ids.get(name)) is not None:
            self._ids.move_to_end(name)
            return known
        if (asking := self._asking.get(name)) is None:
            asking = asyncio.ensure_future(self._ask(name))
            self._asking[name] = asking
            asking.add_done_callback(lambda _: self._asking.pop(name, None))
        user_id = await asyncio.shield(asking)
        if user_id is not None:
            self._ids[name] = user_id
            self._ids.move_to_end(name)
            while len(self._ids) > CACHED_NAMES:
                self._ids.popitem(last=False)
        return user_id

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
