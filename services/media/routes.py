"""The media bytes over HTTP: ``GET`` and ``HEAD /v1/media/{id}/content[?thumbnail=true]``.

The gateway sends these paths here rather than through the gRPC transcoder, because players seek
in a video with byte ranges (``Range`` answered ``206 Partial Content``, ``416`` past the end)
and CDNs revalidate with ``If-None-Match`` (``304``), neither of which a gRPC answer can carry;
and because a video is streamed from the object store in chunks, never held whole in memory.
Every answer carries the same headers for photos and videos: the content type, a strong ETag
(the quoted SHA-256 of the bytes), ``Cache-Control: public, max-age=31536000, immutable`` and
``Accept-Ranges: bytes``. Refusals have the gateway's JSON error shape (``code``, ``message``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import grpc
from aiohttp import web

from services.media.adapters.objects import CACHE_CONTROL
from services.media.service import MediaService
from services.platform.errors import ChirpError, InvalidArgument
from services.platform.http import Handler

#: The HTTP status of each refusal the content server can meet (the gateway's own mapping).
_STATUS = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.NOT_FOUND: 404,
}
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


@dataclass(frozen=True)
class Unsatisfiable(Exception):
    """The range starts past the end of the content: 416."""


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The first and last byte (inclusive) that ``Range: bytes=…`` asks of ``size`` bytes, or
    None to answer the whole content: no header, another unit, several ranges or a malformed
    one (RFC 9110 lets a server ignore those). ``Unsatisfiable`` if it starts past the end."""
    match = _RANGE.fullmatch(header.strip()) if header else None
    if match is None or match.group(1) == match.group(2) == "":
        return None
    first_text, last_text = match.groups()
    if first_text == "":  # the last N bytes
        suffix = int(last_text)
        if suffix == 0 or size == 0:
            raise Unsatisfiable
        return max(0, size - suffix), size - 1
    first = int(first_text)
    last = size - 1 if last_text == "" else min(int(last_text), size - 1)
    if first >= size:
        raise Unsatisfiable
    if last < first:
        return None  # malformed: ignored
    return first, last


def matches(tags: str | None, etag: str) -> bool:
    """Whether ``If-None-Match`` names ``etag`` (weakly, as RFC 9110 compares it), or is ``*``."""
    if tags is None:
        return False
    return any(tag in ("*", etag, f"W/{etag}") for tag in re.split(r"\s*,\s*", tags.strip()))


class ContentRoutes:
    def __init__(self, media: MediaService) -> None:
        self._media = media

    def application(self) -> web.Application:
        app = web.Application(middlewares=[_refusals])
        # aiohttp answers HEAD on a GET route with the headers alone.
        app.router.add_get("/v1/media/{id}/content", self.content)
        return app

    async def content(self, request: web.Request) -> web.StreamResponse:
        media_id = _media_id(request.match_info["id"])
        thumbnail = request.query.get("thumbnail", "false").lower() in ("true", "1")
        stored = await self._media.servable(media_id, thumbnail=thumbnail)
        etag = f'"{stored.sha256}"'
        headers = {"Cache-Control": CACHE_CONTROL, "ETag": etag, "Accept-Ranges": "bytes"}
        if matches(request.headers.get("If-None-Match"), etag):
            return web.Response(status=304, headers=headers)
        size = stored.size_bytes
        asked = request.headers.get("Range")
        if_range = request.headers.get("If-Range")
        if if_range is not None and if_range.strip() != etag:
            asked = None  # the client's copy is another content: it gets the whole of this one
        try:
            chosen = byte_range(asked, size)
        except Unsatisfiable:
            return web.Response(status=416, headers={**headers, "Content-Range": f"bytes */{size}"})
        first, last = chosen if chosen is not None else (0, size - 1)
        if chosen is not None:
            headers["Content-Range"] = f"bytes {first}-{last}/{size}"
        headers["Content-Length"] = str(last - first + 1)
        response = web.StreamResponse(
            status=206 if chosen is not None else 200,
            headers={"Content-Type": stored.content_type, **headers},
        )
        await response.prepare(request)
        if request.method != "HEAD" and size > 0:
            async for chunk in self._media.read(stored, first, last):
                await response.write(chunk)
        await response.write_eof()
        return response


def _media_id(text: str) -> int:
    if not text.isdigit() or int(text) <= 0 or int(text) >= 2**63:
        raise InvalidArgument.field("id", "must be a media id (a positive integer)")
    return int(text)


@web.middleware
async def _refusals(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ChirpError as error:
        status = _STATUS.get(error.code, 503)
        body = {"code": error.code.value[0], "message": str(error), "details": []}
        return web.json_response(body, status=status, dumps=_compact)


def _compact(value: object) -> str:
    """JSON as the gateway writes it (no spaces)."""
    return json.dumps(value, separators=(",", ":"))
