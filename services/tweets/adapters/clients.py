"""The users and media services as the tweets domain sees them.

Users: authors by id, mentions by username, through the shared
``services.platform.users.GrpcUserDirectory`` (the users cache itself first). Media: attaching
photos, and describing them. A refusal (unknown, foreign or already attached photos, a bad id)
becomes the same domain error here, so the caller of CreateTweet gets the media service's status
and message; anything else a callee cannot answer raises ``Unavailable``
(``services/platform/calls.py``): reads then show authors by id, and a post with mentions or
photos fails with 503 rather than silently dropping them.
"""

from __future__ import annotations

from collections.abc import Sequence

import grpc
from chirp.media.v1 import media_service_pb2, media_service_pb2_grpc

from services.platform.calls import answer
from services.platform.users import GrpcUserDirectory
from services.tweets.convert import attachment_of, author_of
from services.tweets.model import Attachment, Author

#: BatchGetMedia takes at most this many per call.
CHUNK = 100


class GrpcMediaLibrary:
    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._stub = media_service_pb2_grpc.MediaServiceStub(channel)

    async def attach(
        self, tweet_id: int, owner_id: int, media_ids: Sequence[int]
    ) -> list[Attachment]:
        request = media_service_pb2.AttachMediaRequest(
            tweet_id=tweet_id, owner_id=owner_id, media_ids=media_ids
        )
        response = await answer("media", self._stub.AttachMedia(request))
        return [attachment_of(media) for media in response.media]

    async def by_ids(self, ids: Sequence[int]) -> dict[int, Attachment]:
        found: dict[int, Attachment] = {}
        for start in range(0, len(ids), CHUNK):
            request = media_service_pb2.BatchGetMediaRequest(ids=ids[start : start + CHUNK])
            response = await answer("media", self._stub.BatchGetMedia(request))
            found.update((media.id, attachment_of(media)) for media in response.media)
        return found


class UserAuthors:
    def __init__(self, directory: GrpcUserDirectory) -> None:
        self._directory = directory

    async def id_of(self, username: str) -> int | None:
        return await self._directory.id_of(username)

    async def by_ids(self, ids: Sequence[int]) -> dict[int, Author]:
        return {
            user_id: author_of(user)
            for user_id, user in (await self._directory.by_ids(ids)).items()
        }

    async def by_usernames(self, usernames: Sequence[str]) -> dict[str, Author]:
        found = await self._directory.by_usernames(usernames)
        return {folded: author_of(user) for folded, user in found.items()}
