"""The users service as the tweets domain sees it: authors by id (from its cache itself where
it has them: ``services/platform/caches/user_cache.py``), mentions by username.

UNIMPLEMENTED (the users service before its issue lands) answers as if no user matched: tweets
then show their authors by id alone and mentions stay plain text. Any other failure raises
``Unavailable``; reads then show authors by id, and a post with mentions fails with 503 rather
than silently dropping them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import TypeVar

import grpc
import structlog
from chirp.users.v1 import user_pb2, users_service_pb2, users_service_pb2_grpc

from services.platform.caches.user_cache import BasicUsers
from services.platform.errors import Unavailable
from services.platform.resp import Resp
from services.platform.usernames import UsernameIds
from services.tweets.convert import author_of
from services.tweets.model import Author
from services.tweets.text import fold

#: How long a call waits for the users service.
TIMEOUT_SECONDS = 1.0
#: BatchGetUsers and BatchGetUsersByUsername take at most this many per call.
CHUNK = 100

log = structlog.get_logger()
_R = TypeVar("_R")


class GrpcUserDirectory:
    def __init__(self, redis: Resp, channel: grpc.aio.Channel) -> None:
        self._stub = users_service_pb2_grpc.UsersServiceStub(channel)
        self._ids = UsernameIds(self._lookup)
        self._users = BasicUsers(redis, self._fetch)

    async def id_of(self, folded: str) -> int | None:
        """Remembered once found (``services/platform/usernames.py``)."""
        return await self._ids.id_of(folded)

    async def _lookup(self, folded: str) -> int | None:
        found = (await self.by_usernames([folded])).get(folded)
        return None if found is None else found.id

    async def by_ids(self, ids: Sequence[int]) -> dict[int, Author]:
        """From the users service's cache itself; the service is asked for what it misses."""
        return {user_id: author_of(user) for user_id, user in (await self._users.get(ids)).items()}

    async def _fetch(self, ids: list[int]) -> Sequence[user_pb2.User]:
        request = users_service_pb2.BatchGetUsersRequest(ids=ids, view=user_pb2.USER_VIEW_BASIC)
        response = await _answer(
            "BatchGetUsers", self._stub.BatchGetUsers(request, timeout=TIMEOUT_SECONDS)
        )
        return [] if response is None else response.users

    async def by_usernames(self, usernames: Sequence[str]) -> dict[str, Author]:
        found: dict[str, Author] = {}
        for start in range(0, len(usernames), CHUNK):
            request = users_service_pb2.BatchGetUsersByUsernameRequest(
                usernames=usernames[start : start + CHUNK], view=user_pb2.USER_VIEW_BASIC
            )
            response = await _answer(
                "BatchGetUsersByUsername",
                self._stub.BatchGetUsersByUsername(request, timeout=TIMEOUT_SECONDS),
            )
            if response is not None:
                found.update((fold(user.username), author_of(user)) for user in response.users)
        return found


async def _answer(rpc: str, call: Awaitable[_R]) -> _R | None:
    try:
        return await call
    except grpc.aio.AioRpcError as error:
        if error.code() == grpc.StatusCode.UNIMPLEMENTED:
            log.debug("users service not implemented yet", rpc=rpc)
            return None
        raise Unavailable(
            f"the users service cannot answer ({error.code().name}); retry"
        ) from error
