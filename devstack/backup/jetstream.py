"""Backing up a JetStream stream to a file, and restoring it from one, through the JetStream API.

nats-py has no snapshot API, so this speaks nats-server's protocol (``jetstream_api.go``) as the
nats CLI does (jsm.go's ``snapshots.go``):

- Backup: subscribe to an inbox, then request ``$JS.API.STREAM.SNAPSHOT.<stream>`` with it as
  ``deliver_subject``; the reply carries the stream's ``config`` and its ``state`` when the
  snapshot began. The server then publishes the archive (its own tar, s2-compressed: opaque here)
  to the inbox in chunks. Every chunk but a short last one has a reply subject, and the empty
  message sent to it is the ack that frees a place in the server's window of chunks in flight:
  without an ack for 5 s, the server gives up. An empty message ends the archive, with status
  204, or with another (``408 No Flow Response``, ``500 <error>``) when the snapshot failed. The
  stream takes messages meanwhile; the archive may hold a few more than ``state`` counts.
- Restore: request ``$JS.API.STREAM.RESTORE.<stream>`` with ``{"config", "state"}`` (refused if
  the stream exists); the reply names a ``deliver_subject``. Each chunk of the archive is a
  request to it, acked with an empty reply (a JSON error once the restore has failed), and an
  empty request ends the upload; its reply comes when the server has rebuilt the stream and its
  consumers: a stream create response, or an error. The server drops an upload idle for 5 s.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from nats.aio.client import Client
from nats.aio.subscription import Subscription
from nats.js.api import Header
from nats.js.errors import NotFoundError

#: The size of the archive's chunks, both ways: the server's default for a snapshot, well under
#: NATS's default max_payload (1 MiB).
CHUNK_BYTES = 128 * 1024
#: How long an API request, the next chunk of a snapshot or the ack of a chunk sent may take.
REQUEST_TIMEOUT_SECONDS = 30.0
#: How long the server may take to rebuild a stream once it has the whole archive: it unpacks
#: every message block and checks them, which takes minutes for a stream of gigabytes.
RESTORE_TIMEOUT_SECONDS = 30 * 60.0
#: The status of the empty message that ends a complete snapshot.
SNAPSHOT_COMPLETE = "204"


class StreamBackupError(Exception):
    """The server refused or failed a backup or a restore (the message says why), or a restore
    would have replaced a stream that holds messages."""


async def back_up_stream(connection: Client, stream: str, target: Path) -> dict[str, object]:
    """Writes a snapshot of ``stream``, its messages and its consumers, to ``target``; returns
    its ``config`` and ``state`` as the server reported them, which a restore needs. A failed
    backup leaves no file at ``target``."""
    inbox = connection.new_inbox()
    chunks = await connection.subscribe(inbox)
    try:
        response = await _api_request(
            connection,
            f"$JS.API.STREAM.SNAPSHOT.{stream}",
            {"deliver_subject": inbox, "no_consumers": False, "chunk_size": CHUNK_BYTES},
        )
        await _receive_archive(chunks, stream, target)
    finally:
        await chunks.unsubscribe()
    return {"config": response["config"], "state": response["state"]}


async def restore_stream(
    connection: Client,
    stream_config: dict[str, Any],
    stream_state: dict[str, Any],
    source: Path,
    *,
    replace_empty: bool = False,
) -> None:
    """Creates the stream ``stream_config`` names from the archive ``source`` (with the
    ``config`` and ``state`` its backup returned). Refuses if that stream exists, unless it
    holds no message and ``replace_empty`` lets it be deleted first (as the one the stack's
    startup creates)."""
    stream = str(stream_config["name"])
    await _make_way(connection, stream, replace_empty=replace_empty)
    response = await _api_request(
        connection,
        f"$JS.API.STREAM.RESTORE.{stream}",
        {"config": stream_config, "state": stream_state},
    )
    upload = str(response["deliver_subject"])
    for chunk in _chunks_of(source):
        await _send(connection, upload, chunk, reply_within=REQUEST_TIMEOUT_SECONDS)
    await _send(connection, upload, b"", reply_within=RESTORE_TIMEOUT_SECONDS)


async def _receive_archive(chunks: Subscription, stream: str, target: Path) -> None:
    """Writes the archive to ``target`` as its chunks come; removes it if the snapshot fails."""
    try:
        with target.open("wb") as archive:
            while chunk := await _next_chunk(chunks, stream):
                archive.write(chunk)
    except BaseException:
        target.unlink(missing_ok=True)  # noqa: ASYNC240 (a local file, once, on the way out)
        raise


async def _next_chunk(chunks: Subscription, stream: str) -> bytes:
    """The next chunk of the archive, acknowledged; empty at its end."""
    message = await chunks.next_msg(timeout=REQUEST_TIMEOUT_SECONDS)
    if message.data:
        if message.reply:
            await message.respond(b"")
        return message.data
    headers = message.headers or {}
    status = headers.get(Header.STATUS, SNAPSHOT_COMPLETE)
    if status != SNAPSHOT_COMPLETE:
        description = headers.get(Header.DESCRIPTION, "")
        raise StreamBackupError(f"snapshot of stream {stream} failed: {status} {description}")
    return b""


async def _make_way(connection: Client, stream: str, *, replace_empty: bool) -> None:
    """Deletes ``stream`` if it exists and may be replaced; raises if it exists otherwise."""
    try:
        info = await connection.jsm().stream_info(stream)
    except NotFoundError:
        return
    if info.state.messages or not replace_empty:
        raise StreamBackupError(
            f"stream {stream} exists, with {info.state.messages} messages: not restoring over it"
        )
    await connection.jsm().delete_stream(stream)


def _chunks_of(source: Path) -> Iterator[bytes]:
    with source.open("rb") as archive:
        while chunk := archive.read(CHUNK_BYTES):
            yield chunk


async def _api_request(connection: Client, subject: str, body: dict[str, object]) -> dict[str, Any]:
    reply = await connection.request(
        subject, json.dumps(body).encode(), timeout=REQUEST_TIMEOUT_SECONDS
    )
    return _checked(subject, reply.data)


async def _send(connection: Client, subject: str, chunk: bytes, *, reply_within: float) -> None:
    reply = await connection.request(subject, chunk, timeout=reply_within)
    _checked(subject, reply.data)


def _checked(subject: str, payload: bytes) -> dict[str, Any]:
    """The JSON response ``payload`` (an empty one is an ack); raises the server's error."""
    response: dict[str, Any] = json.loads(payload) if payload else {}
    if error := response.get("error"):
        raise StreamBackupError(
            f"{subject}: {error.get('description')}"
            f" (code {error.get('code')}, err_code {error.get('err_code')})"
        )
    return response
