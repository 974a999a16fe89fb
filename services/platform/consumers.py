"""Connecting to NATS, running a service's durable JetStream consumer, and the one policy every
consumer settles its messages by.

``connect`` is how every process reaches NATS: one server, or a cluster's servers (any of which
may be down), as ``CHIRP_NATS_URL`` lists them.

``DurableConsumer.run`` binds to a consumer declared in ``events.py`` (declaring it again, which
changes nothing, or updates a changed declaration in place, so a service started before
``migrate`` still works), hands every fetched batch to the service's handler, reconnects with
backoff whenever NATS goes away, and every few seconds samples how many messages wait
(``chirp_events_backlog{consumer}``: not yet delivered, or delivered and not yet acknowledged).

Every handler settles its messages through a ``Settle`` of its consumer, which does it one way:

- **Undecodable:** a message that holds no event of its subject's type (``Settle.decoded``) is
  set aside: terminated (no redelivery could help, and a poison message must not stall the
  consumer), with an error log line naming the consumer and the subject, and counted in
  ``chirp_events_set_aside_total{consumer,subject}``.
- **Failed:** a message whose handling raised, or cannot be done yet (a dependency down), is
  redelivered later (``Settle.failed``): nak'd with a delay that grows with its deliveries (1 s,
  2 s, 4 s, ... up to 30 s: ``Retries``) and counted in ``chirp_events_retried_total``. Nothing
  limits its deliveries (``events.MAX_DELIVER``), so an outage of any length delays events and
  drops none, and once it is over every message waiting is handled within 30 s.
- **Done:** a message is acknowledged only after its effect is stored (``Settle.done``).
- **Long handlers:** while a handler works, its messages are marked in progress every quarter
  of the consumer's ack wait (``Settle.kept_alive``), so a long one is not redelivered to another
  process meanwhile, and one whose process died is redelivered within the ack wait.

``each_event`` is that policy for a consumer that applies one event at a time; the batch
consumers (indexer, trends, fanout) call the same ``Settle`` methods on their batches.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar, overload
from urllib.parse import urlsplit

import nats
import structlog
from google.protobuf.timestamp_pb2 import Timestamp
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig
from nats.js.client import JetStreamContext
from prometheus_client import Counter, Gauge

from services.platform import store_tls, tracing
from services.platform.background import pause, raise_if_cancelled, rounds
from services.platform.events import STREAM
from services.platform.settings import comma_separated
from services.platform.subjects import Event, Subject, decode

log = structlog.get_logger()

BatchHandler = Callable[[list[Msg]], Awaitable[None]]
E = TypeVar("E", bound=Event)

#: How long closing a NATS connection may take before it is abandoned.
CLOSE_TIMEOUT_SECONDS = 5.0
#: The ack wait of a consumer that declares none (the server's default).
DEFAULT_ACK_WAIT_SECONDS = 30.0
#: A message in progress is marked so this often, as a share of its consumer's ack wait (a
#: quarter: a beat or two lost to a reconnect still leaves it unexpired).
BEAT_SHARE = 0.25
Tick = Callable[[JetStreamContext.PullSubscription], Awaitable[None]]

SET_ASIDE = Counter(
    "chirp_events_set_aside_total",
    "Messages terminated because they hold no event of their subject's type.",
    ("consumer", "subject"),
)
RETRIED = Counter(
    "chirp_events_retried_total",
    "Deliveries whose handling failed (a dependency down), redelivered after a delay.",
    ("consumer", "subject"),
)
BACKLOG = Gauge(
    "chirp_events_backlog",
    "Messages of a durable consumer not yet delivered or not yet acknowledged.",
    ("consumer",),
    multiprocess_mode="max",
)
#: How often a consumer samples its backlog (one consumer-info request to JetStream).
BACKLOG_EVERY_SECONDS = 5.0


async def _no_tick(_subscription: JetStreamContext.PullSubscription) -> None:
    return None


class DurableConsumer:
    def __init__(
        self,
        nats_url: str,
        config: ConsumerConfig,
        handle: BatchHandler,
        *,
        batch_size: int = 100,
        tick: Tick = _no_tick,
    ) -> None:
        """``tick`` runs before every fetch, at least once a second (periodic work of the
        handler's own; the backlog is sampled here for every consumer)."""
        self._nats_url = nats_url
        self._config = config
        self._handle = handle
        self._batch_size = batch_size
        self._tick = tick

    async def run(self) -> None:
        """Consumes until cancelled."""
        backoff = 0.5
        for _ in rounds():
            try:
                await self._consume()
            except Exception:
                log.warning(
                    "cannot consume yet; retrying",
                    consumer=self._config.durable_name,
                    exc_info=True,
                )
                await pause(backoff)
                backoff = min(backoff * 2, 10.0)

    async def _consume(self) -> None:
        connection = await connect(
            self._nats_url, connect_timeout=2, max_reconnect_attempts=-1, reconnect_time_wait=1
        )
        try:
            jetstream = connection.jetstream(timeout=5)
            stream = STREAM.name or ""
            await jetstream.add_consumer(stream, self._config)
            subscription = await jetstream.pull_subscribe_bind(
                self._config.durable_name or "", stream=stream
            )
            measured = float("-inf")
            for _ in rounds():
                if time.monotonic() - measured >= BACKLOG_EVERY_SECONDS:
                    measured = time.monotonic()
                    await self._measure_backlog(subscription)
                await self._tick(subscription)
                try:
                    messages = await subscription.fetch(self._batch_size, timeout=1.0)
                except TimeoutError:
                    continue
                # nats-py can swallow a cancellation that arrives while it waits (above, or in
                # the tick): no batch is begun once the task is asked to stop (it is redelivered).
                raise_if_cancelled()
                consumer = self._config.durable_name or ""
                with tracing.consume_span(consumer, [m.headers for m in messages]):
                    await self._handle(messages)
        finally:
            await close_connection(connection)

    async def _measure_backlog(self, subscription: JetStreamContext.PullSubscription) -> None:
        try:
            info = await subscription.consumer_info()
        except Exception:
            log.debug("consumer info failed", consumer=self._config.durable_name, exc_info=True)
            return
        backlog = (info.num_pending or 0) + (info.num_ack_pending or 0)
        BACKLOG.labels(self._config.durable_name or "").set(backlog)


async def connect(
    nats_url: str,
    *,
    connect_timeout: float = 2,
    max_reconnect_attempts: int = 60,
    reconnect_time_wait: float = 2,
) -> Client:
    """A connection to the servers ``nats_url`` lists (``StoreSettings.nats_url``: one server, or
    a cluster's, comma-separated), moving to another of them when its server goes away; over
    TLS when they are ``tls://`` URLs (``store_tls``). The options are nats-py's, with its
    defaults; ``max_reconnect_attempts`` counts per server."""
    servers = comma_separated(nats_url)
    secure = any(urlsplit(server).scheme == "tls" for server in servers)
    return await nats.connect(
        servers,
        connect_timeout=connect_timeout,
        max_reconnect_attempts=max_reconnect_attempts,
        reconnect_time_wait=reconnect_time_wait,
        # TLS before a word is said: a server cannot talk a tls:// client down to plain text.
        **({"tls": store_tls.client_context(), "tls_handshake_first": True} if secure else {}),
    )


async def close_connection(connection: Client) -> None:
    """Closes ``connection``, giving up after ``CLOSE_TIMEOUT_SECONDS``: nats-py's close flushes
    and waits for its reader, which can wait forever on a connection that is reconnecting, and
    a stuck close must not stall a shutdown (the server drops the connection anyway)."""
    if connection.is_closed:
        return
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(CLOSE_TIMEOUT_SECONDS):
            await connection.close()


class Publisher:
    """A JetStream publisher's connection, opened on first use and again once it closed. Few
    reconnect attempts: its caller owns the retrying (a redelivery, a relay's backoff), so an
    unreachable server fails a publish instead of hanging it."""

    def __init__(self, nats_url: str) -> None:
        self._nats_url = nats_url
        self._connection: Client | None = None

    async def jetstream(self) -> JetStreamContext:
        if self._connection is None or self._connection.is_closed:
            self._connection = await connect(
                self._nats_url, connect_timeout=2, max_reconnect_attempts=2, reconnect_time_wait=0.5
            )
        return self._connection.jetstream(timeout=5)

    async def close(self) -> None:
        if self._connection is not None:
            await close_connection(self._connection)


@dataclass(frozen=True)
class Retries:
    """How long a message whose handling failed waits for its next delivery: ``first_seconds``
    after its first delivery, twice as long after each next one, ``cap_seconds`` at most."""

    first_seconds: float = 1.0
    cap_seconds: float = 30.0

    def delay(self, delivered: int) -> float:
        """The wait after the ``delivered``-th delivery (counted from 1) failed."""
        doublings = min(max(delivered - 1, 0), 64)  # unlimited deliveries: keep 2**n finite
        return min(self.first_seconds * 2.0**doublings, self.cap_seconds)


#: The schedule of every consumer of the product: 1, 2, 4, 8, 16, then every 30 seconds.
RETRIES = Retries()


class InProgress:
    """Marks ``messages`` in progress every ``every_seconds`` while the block runs, so that
    JetStream does not redeliver them meanwhile. A timer, not a task: nearly every handler is
    done long before the first beat."""

    def __init__(self, messages: Sequence[Msg], every_seconds: float) -> None:
        self._messages = messages
        self._every = every_seconds
        self._loop = asyncio.get_running_loop()
        self._timer: asyncio.TimerHandle | None = None
        self._telling: set[asyncio.Task[None]] = set()

    def __enter__(self) -> None:
        self._timer = self._loop.call_later(self._every, self._beat)

    def __exit__(self, *_exc: object) -> None:
        if self._timer is not None:
            self._timer.cancel()
        for task in self._telling:
            task.cancel()

    def _beat(self) -> None:
        task = self._loop.create_task(_replies(m.in_progress() for m in self._messages))
        self._telling.add(task)
        task.add_done_callback(self._telling.discard)
        self._timer = self._loop.call_later(self._every, self._beat)


class Settle:
    """The settling of one consumer's messages (see the module's docstring)."""

    def __init__(self, config: ConsumerConfig, retries: Retries = RETRIES) -> None:
        """``retries`` is the product's schedule but in tests."""
        self.consumer = config.durable_name or ""
        self._retries = retries
        self._beat_seconds = (config.ack_wait or DEFAULT_ACK_WAIT_SECONDS) * BEAT_SHARE

    @overload
    async def decoded(self, message: Msg) -> Event | None: ...

    @overload
    async def decoded(self, message: Msg, subject: Subject[E]) -> E | None: ...

    async def decoded(self, message: Msg, subject: Subject[E] | None = None) -> Event | None:
        """The event ``message`` holds, as ``subject``'s type (by default as the catalogue's type
        of the message's own subject); None once a message that holds none is set aside."""
        try:
            if subject is None:
                return decode(message.subject, message.data)
            return subject.decode(message.data)
        except Exception:
            await self.set_aside(message)
            return None

    async def set_aside(self, message: Msg) -> None:
        """Terminates ``message``, which holds no event this consumer can apply."""
        log.error(
            "undecodable event; set aside",
            consumer=self.consumer,
            subject=message.subject,
            exc_info=sys.exc_info()[1],
        )
        SET_ASIDE.labels(self.consumer, message.subject).inc()
        await _replies([message.term()])

    def kept_alive(self, messages: Sequence[Msg]) -> InProgress:
        """A block during which ``messages`` are marked in progress (for handlers that may run
        long: a transcode, a celebrity's fanout, a batch waiting for a service)."""
        return InProgress(messages, self._beat_seconds)

    async def done(self, messages: Sequence[Msg]) -> None:
        """Acknowledges ``messages``: their effect is stored."""
        await _replies(message.ack() for message in messages)

    async def failed(self, messages: Sequence[Msg], error: Exception | None = None) -> None:
        """Redelivers ``messages`` later, each after the delay its deliveries so far call for;
        ``error`` is what failed (None when the handling cannot be done yet)."""
        if not messages:
            return
        delays = [self._retries.delay(message.metadata.num_delivered) for message in messages]
        log.warning(
            "event handling failed; redelivering later",
            consumer=self.consumer,
            subject=messages[0].subject,
            count=len(messages),
            delivered=messages[0].metadata.num_delivered,
            delay=delays[0],
            exc_info=error,
        )
        for message in messages:
            RETRIED.labels(self.consumer, message.subject).inc()
        await _replies(
            message.nak(delay=delay) for message, delay in zip(messages, delays, strict=True)
        )

    async def settled(self, message: Msg, work: Awaitable[bool]) -> bool:
        """Awaits ``work``, the handling of ``message``'s event, with the message kept alive;
        acknowledges the message once ``work`` returns True, redelivers it later when ``work``
        returns False (cannot be done yet) or raises. Returns whether it was done."""
        try:
            with self.kept_alive([message]):
                done = await work
        except Exception as error:
            await self.failed([message], error)
            return False
        if done:
            await self.done([message])
        else:
            await self.failed([message])
        return done


async def _replies(replies: Iterable[Awaitable[None]]) -> None:
    """Sends acks, naks, terms or progress marks at once; one that is lost only means a
    (harmless) redelivery."""
    for outcome in await asyncio.gather(*replies, return_exceptions=True):
        if isinstance(outcome, Exception):
            log.warning("could not settle a message", error=str(outcome))


#: How long after an account's deletion (``users.deleted``) its erasure may start, in every
#: service: its tokens are refused everywhere within about a second
#: (``revocations.REFRESH_SECONDS``), but a write accepted just before may still be at work for
#: as long as its calls may take (a post: its users and media calls, its Cassandra batch). An
#: erasure that started earlier could miss what such a write lands after it.
ERASURE_GRACE_SECONDS = 10.0


async def until_aged(occur_time: Timestamp, seconds: float) -> None:
    """Returns once the event that occurred at ``occur_time`` is ``seconds`` old."""
    age = (datetime.now(UTC) - occur_time.ToDatetime(UTC)).total_seconds()
    await asyncio.sleep(max(seconds - age, 0.0))


@dataclass(frozen=True)
class Applies(Generic[E]):
    """How a consumer applies the events of one of its subjects: ``apply`` returns True once the
    event's effect is stored, False while it cannot be yet."""

    subject: Subject[E]
    apply: Callable[[E], Awaitable[bool]]


def each_event(
    settle: Settle, subject: Subject[E], apply: Callable[[E], Awaitable[bool]]
) -> BatchHandler:
    """``each_event_of`` for a consumer of one subject."""
    return each_event_of(settle, Applies(subject, apply))


def each_event_of(settle: Settle, *handlers: Applies[Any]) -> BatchHandler:
    """A batch handler that applies each message's event, by the handler of the message's
    subject, in stream order, settled by ``settle``. A message of a subject no handler takes
    holds no event this consumer knows: it is set aside as undecodable."""
    by_subject = {handler.subject.name: handler for handler in handlers}

    async def handle_batch(messages: list[Msg]) -> None:
        for message in messages:
            handler = by_subject.get(message.subject)
            if handler is None:
                await settle.set_aside(message)
                continue
            event = await settle.decoded(message, handler.subject)
            if event is not None:
                await settle.settled(message, handler.apply(event))

    return handle_batch
