"""Mastodon's streaming API (https://docs.joinmastodon.org/methods/streaming/): the ``user``
stream (the caller's home timeline as it changes) and the ``public`` stream (everyone's new
posts), as server-sent events (``GET /api/v1/streaming/user``, ``/public``) or over one
WebSocket (``GET /api/v1/streaming?stream=user``, more streams subscribed with
``{"type": "subscribe", "stream": ...}``).

The user stream is Chirp's own ``StreamHomeTimeline`` (fanned-out and celebrity posts, and
deletes); the public stream follows the public timeline (``ListPublicTweets``), asked every
``PUBLIC_POLL_SECONDS``, since a post is public the moment it is searchable. A status is sent
as an ``update`` event with the Status JSON, a removal as ``delete`` with its id.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncGenerator, Callable
from typing import Any

from aiohttp import WSMsgType, web
from chirp.tweets.v1 import tweet_pb2

from services.mastodon import entities
from services.mastodon.entities import Site
from services.mastodon.ports import Chirp

#: How often the public stream asks for posts newer than the last it sent.
PUBLIC_POLL_SECONDS = 1.0
#: How often a quiet server-sent-events stream says it is alive (a comment line).
HEARTBEAT_SECONDS = 15.0

#: One event: its name (``update``, ``delete``) and its payload (a JSON text or an id); None
#: when there is no news but the stream is alive (the first None: it is subscribed).
Event = tuple[str, str] | None
Stream = Callable[[], AsyncGenerator[Event]]


class Streams:
    """The streams of one caller (``session``: their Chirp session token; empty for an
    anonymous reader of the public stream)."""

    def __init__(self, chirp: Chirp, site: Site, session: str) -> None:
        self._chirp = chirp
        self._site = site
        self._session = session

    def named(self, name: str) -> Stream | None:
        return {"user": self.user, "public": self.public, "public:local": self.public}.get(name)

    async def user(self) -> AsyncGenerator[Event]:
        # A home read marks the reader active, so the fanout writes (and announces) what
        # their followings post, as it does for anyone reading their home timeline.
        await self._chirp.home(self._session, 1, "")
        async for tweets, removed in self._chirp.home_changes(self._session):
            if not tweets and not removed:  # subscribed (the first), or a heartbeat
                yield None
            for tweet in tweets:
                yield "update", self._status(tweet)
            for tweet_id in removed:
                yield "delete", str(tweet_id)

    async def public(self) -> AsyncGenerator[Event]:
        newest, _ = await self._chirp.public(self._session, 1, "")
        seen = newest[0].id if newest else 0
        while True:
            yield None
            await asyncio.sleep(PUBLIC_POLL_SECONDS)
            tweets, _ = await self._chirp.public(self._session, 40, "")
            fresh = [tweet for tweet in tweets if tweet.id > seen]
            for tweet in reversed(fresh):  # oldest first, as they were posted
                yield "update", self._status(tweet)
            seen = max([seen, *(tweet.id for tweet in fresh)])

    def _status(self, tweet: tweet_pb2.Tweet) -> str:
        return json.dumps(entities.status(tweet, self._site))


async def server_sent_events(request: web.Request, stream: Stream) -> web.StreamResponse:
    """The stream's events; a comment once it is subscribed, and again while it is quiet (at
    most every ``HEARTBEAT_SECONDS``), so the client knows it is open and proxies keep it."""
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    await response.prepare(request)
    events = stream()
    said = -HEARTBEAT_SECONDS
    try:
        async for event in events:
            now = time.monotonic()
            if event is not None:
                name, payload = event
                await response.write(f"event: {name}\ndata: {payload}\n\n".encode())
            elif now - said >= HEARTBEAT_SECONDS:
                await response.write(b":thump\n\n")
            else:
                continue
            said = now
    except ConnectionResetError:  # the client went away
        pass
    finally:
        await events.aclose()
    return response


async def websocket(request: web.Request, streams: Streams, first: str) -> web.WebSocketResponse:
    """One WebSocket carrying any number of streams: each message names its stream."""
    socket = web.WebSocketResponse(heartbeat=HEARTBEAT_SECONDS)
    await socket.prepare(request)
    running: dict[str, asyncio.Task[None]] = {}

    def subscribe(name: str) -> None:
        stream = streams.named(name)
        if stream is not None and name not in running:
            running[name] = asyncio.create_task(_forward(socket, name, stream))

    subscribe(first)
    try:
        async for message in socket:
            if message.type != WSMsgType.TEXT:
                continue
            with contextlib.suppress(ValueError, TypeError, KeyError):
                asked: dict[str, Any] = json.loads(message.data)
                if asked["type"] == "subscribe":
                    subscribe(str(asked["stream"]))
                elif asked["type"] == "unsubscribe" and (
                    task := running.pop(asked["stream"], None)
                ):
                    task.cancel()
    finally:
        for task in running.values():
            task.cancel()
        await asyncio.gather(*running.values(), return_exceptions=True)
    return socket


async def _forward(socket: web.WebSocketResponse, name: str, stream: Stream) -> None:
    async for event in stream():
        if event is not None:
            name_of, payload = event
            await socket.send_json({"stream": [name], "event": name_of, "payload": payload})
