"""A Redis client for the hot read paths: one connection per process, every command of an
event-loop turn written together, replies matched to their callers in order.

redis-py's asyncio client spends about 60 µs of CPU on a command (its connection pool, lock,
stream reader and retry wrapper around each call), and a home page, a profile or a tweet read
makes one to four of them: on a GetTweet that was a third of what the tweets service did beyond
a no-op. Redis answers the commands of one connection in the order it received them, so a
single connection can carry every caller's commands at once (what Lettuce and ioredis call
pipelining); hiredis parses the replies. Measured on this machine: about 6 µs of CPU a
command, ten times less.

Failures are redis-py's exception classes (``ConnectionError``, ``TimeoutError``,
``ResponseError``, ``NoScriptError``, all ``RedisError``), so callers degrade as they did: a
lost connection fails the commands in flight and the next command connects again; a command
unanswered after ``timeout`` seconds aborts the connection (every command on it fails with
``TimeoutError``). Replies are hiredis's: bytes, ints, lists, None; nothing is decoded.

Not for blocking commands, pub/sub or a transaction held open across awaits, which would hold or
change the shared connection (a transaction is one ``pipeline`` call from MULTI to EXEC, written
contiguously): redis-py serves pub/sub.

A ``rediss://`` URL reaches the server over TLS, its certificate and the name dialled checked
as every store's are (``store_tls.py``); ``redis://`` stays plain text.

Callers depend on ``RespClient``, which ``ClusterResp`` (``resp_cluster.py``, built on one
``Resp`` per node) implements too; ``redis_clients.py`` picks one from ``CHIRP_REDIS_URL``.
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, cast
from urllib.parse import unquote, urlsplit

import hiredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from services.platform import store_tls, tracing

Arg = str | bytes | int | float
Command = Sequence[Arg]

#: The schemes of a server's URL: plain text, TLS.
SCHEME, TLS_SCHEME = "redis", "rediss"

#: How long a command, or connecting, may take before it fails: long enough for a loaded
#: machine's stalls and a fanout's thousand-script pipeline, short enough that a hung Redis
#: answers 503 within seconds (caches that fall back to their owners pass a shorter one).
TIMEOUT_SECONDS = 5.0


@dataclass(slots=True)
class _Waiter:
    """The caller of ``count`` commands sent together, waiting for their replies."""

    future: asyncio.Future[list[Any]]
    count: int
    sent_at: float
    replies: list[Any] = field(default_factory=list)


class _Connection(asyncio.Protocol):
    def __init__(self, timeout: float) -> None:
        self._loop = asyncio.get_running_loop()
        self._timeout = timeout
        self._transport: asyncio.Transport | None = None
        self._reader = hiredis.Reader()
        self._waiting: deque[_Waiter] = deque()
        self._outgoing: list[bytes] = []
        self._watchdog: asyncio.TimerHandle | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast("asyncio.Transport", transport)  # uvloop's are not subclasses

    def send(self, commands: Sequence[Command]) -> asyncio.Future[list[Any]]:
        """Queues ``commands`` to be written with the rest of this loop turn's; the future
        holds their replies."""
        if self.closed:
            raise RedisConnectionError("connection to Redis closed")
        if not self._outgoing:
            self._loop.call_soon(self._flush)
        self._outgoing.extend(
            hiredis.pack_command(tuple(command))  # type: ignore[arg-type]  # its stub takes 1
            for command in commands
        )
        future: asyncio.Future[list[Any]] = self._loop.create_future()
        self._waiting.append(_Waiter(future, len(commands), self._loop.time()))
        if self._watchdog is None:
            self._watchdog = self._loop.call_later(self._timeout, self._check_timeout)
        return future

    def _flush(self) -> None:
        if self._transport is not None and not self.closed:
            self._transport.writelines(self._outgoing)
        self._outgoing = []

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        try:
            while (reply := self._reader.gets()) is not False:
                waiter = self._waiting[0]
                waiter.replies.append(reply)
                if len(waiter.replies) == waiter.count:
                    self._waiting.popleft()
                    if not waiter.future.done():  # its caller may have been cancelled
                        waiter.future.set_result(waiter.replies)
        except (hiredis.ProtocolError, IndexError) as error:
            self._abort(RedisConnectionError(f"unexpected reply from Redis: {error}"))

    def _check_timeout(self) -> None:
        self._watchdog = None
        if not self._waiting:
            return
        oldest = self._waiting[0].sent_at
        if self._loop.time() - oldest >= self._timeout:
            self._abort(RedisTimeoutError(f"no reply from Redis in {self._timeout} s"))
        else:
            self._watchdog = self._loop.call_at(oldest + self._timeout, self._check_timeout)

    def _abort(self, error: Exception) -> None:
        self._fail(error)
        if self._transport is not None:
            self._transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(RedisConnectionError(f"connection to Redis lost: {exc or 'closed'}"))

    def _fail(self, error: Exception) -> None:
        self.closed = True
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        while self._waiting:
            future = self._waiting.popleft().future
            if not future.done():
                future.set_exception(error)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


def raise_errors(commands: Sequence[Command], replies: list[Any]) -> list[Any]:
    """``replies`` of ``commands``; the first error among them raises, an error inside a
    transaction's EXEC reply too (as redis-py does)."""
    for command, reply in zip(commands, replies, strict=True):
        for each in reply if command[0] == "EXEC" and isinstance(reply, list) else (reply,):
            if isinstance(each, hiredis.ReplyError):
                message = str(each)
                if message.startswith("NOSCRIPT"):
                    raise NoScriptError(message)
                raise ResponseError(message)
    return replies


class Script:
    """A Lua script, run by its SHA1 (taken once) and sent whole only when Redis does not know
    it yet."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()


class RespClient(Protocol):
    """What Chirp asks of Redis, on one server (``Resp``) or a cluster (``ClusterResp``): every
    script's keys, and the keys of the commands of a MULTI..EXEC block, in one hash slot."""

    async def call(self, *command: Arg) -> Any:
        """One command's reply; an error reply raises."""
        ...

    async def pipeline(self, commands: Sequence[Command]) -> list[Any]:
        """The replies of ``commands``, in order; the first error reply raises, after every
        command has run."""
        ...

    async def run(self, script: Script, keys: Sequence[Arg], args: Sequence[Arg]) -> Any:
        """``script`` on ``keys`` and ``args``."""
        ...

    async def run_each(
        self, script: Script, calls: Sequence[tuple[Sequence[Arg], Sequence[Arg]]]
    ) -> list[Any]:
        """``script`` once per (keys, args) of ``calls``, pipelined."""
        ...

    def slot_groups(self, keys: Sequence[Arg]) -> list[list[Arg]]:
        """``keys`` in groups that one script call or transaction can take together (for a
        script that handles its keys one by one): all of them on one server, one group per
        hash slot on a cluster."""
        ...

    async def aclose(self) -> None: ...


def _span_name(commands: Sequence[Command]) -> str:
    """The first command's name, and how many more went with it: ``MGET``, ``EVALSHA +999``."""
    first = commands[0][0]
    name = first.decode() if isinstance(first, bytes) else str(first)
    return f"{name} +{len(commands) - 1}" if len(commands) > 1 else name


class Resp:
    """The shared connection to one Redis server; see the module docstring."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 6379,
        *,
        handshake: Sequence[Command] = (),
        timeout: float = TIMEOUT_SECONDS,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        """``handshake``: the commands each new connection sends first (AUTH, SELECT); ``tls``:
        the context of a TLS connection (None: plain text)."""
        self._address = (host, port)
        self._handshake = list(handshake)
        self._timeout = timeout
        self._tls = tls
        self._connection: _Connection | None = None
        self._connecting = asyncio.Lock()

    @classmethod
    def from_url(cls, url: str, *, timeout: float = TIMEOUT_SECONDS) -> Resp:
        """``redis://[[user]:password@]host[:port][/db]``, as redis-py takes it; ``rediss://``
        the same over TLS (see the module docstring)."""
        parts = urlsplit(url)
        if parts.scheme not in {SCHEME, TLS_SCHEME}:
            raise ValueError(f"unsupported Redis URL scheme {parts.scheme!r} in {url!r}")
        handshake: list[Command] = []
        if parts.password:
            credentials = (unquote(parts.username or "default"), unquote(parts.password))
            handshake.append(("AUTH", *credentials))
        if db := int(parts.path.strip("/") or 0):
            handshake.append(("SELECT", db))
        return cls(
            parts.hostname or "127.0.0.1",
            parts.port or 6379,
            handshake=handshake,
            timeout=timeout,
            tls=store_tls.client_context() if parts.scheme == TLS_SCHEME else None,
        )

    async def call(self, *command: Arg) -> Any:
        """One command's reply; an error reply raises."""
        return (await self.pipeline([command]))[0]

    async def pipeline(self, commands: Sequence[Command]) -> list[Any]:
        """The replies of ``commands``, sent together; the first error reply raises (after
        every command has run, as redis-py's non-transactional pipelines do)."""
        if not commands:
            return []
        return raise_errors(commands, await self.replies(commands))

    async def replies(self, commands: Sequence[Command]) -> list[Any]:
        """The replies of ``commands`` (at least one) as they came, error replies as
        ``hiredis.ReplyError`` values, raising none (``ClusterResp`` reads its redirections
        from them). One round trip: one span of the current trace."""
        connection = await self._connected()
        with tracing.client_span(_span_name(commands), "redis"):
            return await connection.send(commands)

    async def run(self, script: Script, keys: Sequence[Arg], args: Sequence[Arg]) -> Any:
        """``script`` on ``keys`` and ``args``."""
        return (await self.run_each(script, [(keys, args)]))[0]

    async def run_each(
        self, script: Script, calls: Sequence[tuple[Sequence[Arg], Sequence[Arg]]]
    ) -> list[Any]:
        """``script`` once per (keys, args) of ``calls``, pipelined, by its SHA1; when Redis
        lacks the script (none of them ran), it is loaded and they are sent again."""
        commands = [("EVALSHA", script.sha, len(keys), *keys, *args) for keys, args in calls]
        try:
            return await self.pipeline(commands)
        except NoScriptError:
            await self.call("SCRIPT", "LOAD", script.source)
            return await self.pipeline(commands)

    def slot_groups(self, keys: Sequence[Arg]) -> list[list[Arg]]:
        """One group: a single server takes any keys together."""
        return [list(keys)]

    async def _connected(self) -> _Connection:
        connection = self._connection
        if connection is not None and not connection.closed:
            return connection
        async with self._connecting:
            if self._connection is None or self._connection.closed:
                self._connection = await self._connect()
            return self._connection

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        host, port = self._address
        try:  # the TLS handshake too
            async with asyncio.timeout(self._timeout):
                _, connection = await loop.create_connection(
                    lambda: _Connection(self._timeout),
                    host,
                    port,
                    ssl=self._tls,
                    server_hostname=host if self._tls else None,
                )
        except (OSError, TimeoutError) as error:
            raise RedisConnectionError(
                f"cannot connect to Redis at {host}:{port}: {error}"
            ) from error
        if self._handshake:
            try:  # the connection's own timeout bounds it
                raise_errors(self._handshake, await connection.send(self._handshake))
            except RedisError:
                connection.close()
                raise
        return connection

    async def aclose(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
