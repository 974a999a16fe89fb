"""The users service as every other service sees it: ids by username, BASIC summaries by id.

Summaries come from the users service's cache itself where it has them
(``caches/user_cache.py``), and names found are remembered, concurrent lookups of one name
sharing one call (``usernames.py``); the service is asked only for the rest. A call it cannot
answer raises ``Unavailable`` (``calls.py``): a follow or a post with mentions then fails with
503, never as if nobody had that name.
"""

from __future__ import annotations

from collections.abc import Sequence

import grpc
from chirp.users.v1 import user_pb2, users_service_pb2, users_service_pb2_grpc

from services.platform.caches.user_cache import BasicUsers
from services.platform.calls import answer
from services.platform.resp import RespClient
from services.platform.usernames import UsernameIds, fold

#: BatchGetUsers and BatchGetUsersByUsername take at most this many per call.
CHUNK = 100


class GrpcUserDirectory:
    def __init__(self, redis: RespClient, channel: grpc.aio.Channel) -> None:
        self._stub = users_service_pb2_grpc.UsersServiceStub(channel)
        self._ids = UsernameIds(self._lookup)
        self._users = BasicUsers(redis, self._fetch)

    async def id_of(self, username: str) -> int | None:
        return await self._ids.id_of(fold(username))

    async def by_ids(self, ids: Sequence[int]) -> dict[int, user_pb2.User]:
        return await self._users.get(ids)

    async def serialized(self, ids: Sequence[int]) -> dict[int, bytes]:
        """``by_ids`` serialized, ready to send (``BasicUsers.serialized``)."""
        return await self._users.serialized(ids)

    async def by_usernames(self, usernames: Sequence[str]) -> dict[str, user_pb2.User]:
        """Found users by folded username."""
        found: dict[str, user_pb2.User] = {}
        for start in range(0, len(usernames), CHUNK):
            request = users_service_pb2.BatchGetUsersByUsernameRequest(
                usernames=usernames[start : start + CHUNK], view=user_pb2.USER_VIEW_BASIC
            )
            response = await answer("users", self._stub.BatchGetUsersByUsername(request))
            found.update((fold(user.username), user) for user in response.users)
        return found

    async def _lookup(self, folded: str) -> int | None:
        found = (await self.by_usernames([folded])).get(folded)
        return None if found is None else found.id

    async def _fetch(self, ids: list[int]) -> Sequence[user_pb2.User]:
        request = users_service_pb2.BatchGetUsersRequest(ids=ids, view=user_pb2.USER_VIEW_BASIC)
        response = await answer("users", self._stub.BatchGetUsers(request))
        return response.users
