"""The media service as the tweets domain sees it: attaching photos, and describing them.

A refusal from the media service (unknown, foreign or already attached photos, a bad id)
becomes the same domain error here, so the caller of CreateTweet gets the media service's
status and message; any other failure raises ``Unavailable``.
"""

from __future__ import annotations

from collections.abc import Sequence

import grpc
from chirp.media.v1 import media_service_pb2, media_service_pb2_grpc

from services.platform.errors import (
    ChirpError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unavailable,
)
from services.tweets.convert import photo_of
from services.tweets.model import Photo

#: How long a call waits for the media service.
TIMEOUT_SECONDS = 2.0
#: BatchGetMedia takes at most this many per call.
CHUNK = 100


def _domain_error(error: grpc.aio.AioRpcError) -> ChirpError:
    details = error.details() or ""
    code = error.code()
    if code == grpc.StatusCode.NOT_FOUND:
        return NotFound(details)
    if code == grpc.StatusCode.PERMISSION_DENIED:
        return PermissionDenied(details)
    if code == grpc.StatusCode.FAILED_PRECONDITION:
        return FailedPrecondition(details)
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return InvalidArgument.field("media_ids", details)
    return Unavailable(f"the media service cannot answer ({code.name}); retry")


class GrpcMediaLibrary:
    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._stub = media_service_pb2_grpc.MediaServiceStub(channel)

    async def attach(self, tweet_id: int, owner_id: int, media_ids: Sequence[int]) -> list[Photo]:
        request = media_service_pb2.AttachMediaRequest(
            tweet_id=tweet_id, owner_id=owner_id, media_ids=media_ids
        )
        try:
            response = await self._stub.AttachMedia(request, timeout=TIMEOUT_SECONDS)
        except grpc.aio.AioRpcError as error:
            raise _domain_error(error) from error
        return [photo_of(media) for media in response.media]

    async def by_ids(self, ids: Sequence[int]) -> dict[int, Photo]:
        found: dict[int, Photo] = {}
        for start in range(0, len(ids), CHUNK):
            request = media_service_pb2.BatchGetMediaRequest(ids=ids[start : start + CHUNK])
            try:
                response = await self._stub.BatchGetMedia(request, timeout=TIMEOUT_SECONDS)
            except grpc.aio.AioRpcError as error:
                raise Unavailable(
                    f"the media service cannot answer ({error.code().name}); retry"
                ) from error
            found.update((media.id, photo_of(media)) for media in response.media)
        return found
