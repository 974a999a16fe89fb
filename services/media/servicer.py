"""``chirp.media.v1.MediaService`` over the domain: requests in, messages out, nothing more."""

from __future__ import annotations

from typing import Any

import grpc
from chirp.media.v1 import media_pb2, media_service_pb2, media_service_pb2_grpc
from google.api import httpbody_pb2
from google.protobuf.timestamp_pb2 import Timestamp

from services.media.adapters.objects import CACHE_CONTROL
from services.media.model import Media, State
from services.media.service import MediaService
from services.platform.auth import require_caller
from services.platform.errors import InvalidArgument

Context = grpc.aio.ServicerContext[Any, Any]
#: Response metadata the gateway turns into the HTTP status of a transcoded answer.
HTTP_STATUS_HEADER = "x-chirp-http-status"


def _id(value: int, field: str = "id") -> int:
    if value <= 0:
        raise InvalidArgument.field(field, "must be a media id (a positive integer)")
    return value


class MediaServicer(media_service_pb2_grpc.MediaServiceServicer):
    def __init__(self, media: MediaService, public_base_url: str) -> None:
        self._media = media
        self._base = public_base_url.rstrip("/")

    def _message(self, media: Media) -> media_pb2.Media:
        url = f"{self._base}/v1/media/{media.id}/content"
        ready = media.state is State.READY
        created = Timestamp()
        created.FromDatetime(media.create_time)
        return media_pb2.Media(
            id=media.id,
            owner_id=media.owner_id,
            url=url if ready else "",
            thumbnail_url=f"{url}?thumbnail=true" if ready else "",
            content_type=media.full.content_type,
            width=media.full.width,
            height=media.full.height,
            size_bytes=media.full.size_bytes,
            alt_text=media.alt_text,
            tweet_id=media.tweet_id,
            create_time=created,
            kind=media_pb2.Media.Kind.ValueType(media.kind),
            state=media_pb2.Media.State.ValueType(media.state),
            duration_ms=media.duration_ms,
            failure_reason=media.failure,
        )

    async def CreateMedia(
        self, request: media_service_pb2.CreateMediaRequest, context: Context
    ) -> media_pb2.Media:
        owner = require_caller()
        media = await self._media.upload(owner.user_id, request.content.data, request.alt_text)
        if media.state is State.PROCESSING:
            # Accepted, not done: the gateway answers 202 (gateway/envoy.yaml's status filter).
            await context.send_initial_metadata(((HTTP_STATUS_HEADER, "202"),))
        return self._message(media)

    async def GetMedia(
        self, request: media_service_pb2.GetMediaRequest, _context: Context
    ) -> media_pb2.Media:
        return self._message(await self._media.get(_id(request.id)))

    async def GetMediaContent(
        self, request: media_service_pb2.GetMediaContentRequest, context: Context
    ) -> Any:
        content = await self._media.content(_id(request.id), thumbnail=request.thumbnail)
        # The gateway passes these on as HTTP headers: what a CDN needs to keep it for good.
        await context.send_initial_metadata(
            (("cache-control", CACHE_CONTROL), ("etag", f'"{content.sha256}"'))
        )
        return httpbody_pb2.HttpBody(content_type=content.content_type, data=content.data)

    async def BatchGetMedia(
        self, request: media_service_pb2.BatchGetMediaRequest, _context: Context
    ) -> media_service_pb2.BatchGetMediaResponse:
        found = await self._media.batch_get(list(request.ids))
        return media_service_pb2.BatchGetMediaResponse(media=[self._message(m) for m in found])

    async def AttachMedia(
        self, request: media_service_pb2.AttachMediaRequest, _context: Context
    ) -> media_service_pb2.AttachMediaResponse:
        attached = await self._media.attach(
            request.tweet_id, request.owner_id, list(request.media_ids)
        )
        return media_service_pb2.AttachMediaResponse(media=[self._message(m) for m in attached])
