"""The indexer: the durable JetStream consumer ``search-indexer``, with near-real-time commits.

Every fetched batch is read into the ``Changes`` it makes (the wire events are decoded here,
not in the domain) and applied to the index writers at once; a commit loop commits whatever was
written at most every ``commit_seconds`` (0.5 s by default) and only then acknowledges the
messages behind it, so a change is searchable within about a second and an acknowledged event
is always on disk. A process killed before its commit leaves its messages unacknowledged:
JetStream redelivers them after the consumer's ack wait, and applying them again is harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Iterable, Sequence

import grpc
import structlog
from chirp.events.v1 import graph_events_pb2, tweet_events_pb2, user_events_pb2
from google.protobuf.message import DecodeError
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig

from services.platform.background import in_background, pause, rounds
from services.platform.consumers import RETRY_DELAY_SECONDS, DurableConsumer
from services.platform.events import consumer
from services.search import metrics
from services.search.model import Changes
from services.search.service import SearchService

CONSUMER = consumer("search-indexer")

MAX_RETRY_DELAY_SECONDS = 15.0
#: Messages per fetch; at most this many wait for one commit per fetch.
FETCH_BATCH = 500

log = structlog.get_logger()


class Indexer:
    def __init__(
        self,
        nats_url: str,
        search: SearchService,
        *,
        commit_seconds: float,
        config: ConsumerConfig = CONSUMER,
    ) -> None:
        self._nats_url = nats_url
        self._search = search
        self._commit_seconds = commit_seconds
        self._config = config
        # Half the ack wait at most, so a batch marked in progress is never redelivered.
        self._max_retry_delay = min(MAX_RETRY_DELAY_SECONDS, (config.ack_wait or 60) / 2)
        self._pending: list[Msg] = []
        self._written = asyncio.Event()

    async def run(self) -> None:
        """Consumes and commits until cancelled."""
        async with in_background(self._commit_loop):
            await DurableConsumer(
                self._nats_url, self._config, self._handle, batch_size=FETCH_BATCH
            ).run()

    async def _handle(self, messages: list[Msg]) -> None:
        """While a service the indexer reads from is down, the batch is retried here (the
        messages marked in progress) rather than redelivered: redeliveries are limited, and
        an outage must not use them up and lose events. Other failures are redelivered."""
        backoff = min(RETRY_DELAY_SECONDS, self._max_retry_delay)
        for _ in rounds():
            try:
                await self._search.apply(changes_of(messages))
                break
            except grpc.aio.AioRpcError as error:
                log.warning("cannot read tweets or users; retrying", code=error.code().name)
                metrics.EVENTS.labels("retried").inc(len(messages))
                await settle(m.in_progress() for m in messages)
                await pause(backoff)
                backoff = min(backoff * 2, self._max_retry_delay)
            except Exception:
                log.warning("indexing failed; redelivering", count=len(messages), exc_info=True)
                metrics.EVENTS.labels("redelivered").inc(len(messages))
                await settle(m.nak(delay=RETRY_DELAY_SECONDS) for m in messages)
                return
        self._pending.extend(messages)
        self._written.set()

    async def _commit_loop(self) -> None:
        last_commit = 0.0
        for _ in rounds():
            await self._written.wait()
            await pause(max(0.0, last_commit + self._commit_seconds - time.monotonic()))
            self._written.clear()
            batch, self._pending = self._pending, []
            last_commit = time.monotonic()
            try:
                await self._search.commit()
            except Exception:
                log.exception("search index commit failed; redelivering", count=len(batch))
                metrics.EVENTS.labels("redelivered").inc(len(batch))
                await settle(m.nak(delay=RETRY_DELAY_SECONDS) for m in batch)
                continue
            await settle(m.ack() for m in batch)
            _observe(batch)


async def settle(replies: Iterable[Awaitable[None]]) -> None:
    """Sends acks or naks; one that is lost only means a (harmless) redelivery."""
    for outcome in await asyncio.gather(*replies, return_exceptions=True):
        if isinstance(outcome, Exception):
            log.warning("could not ack or nak a message", error=str(outcome))


def _observe(committed: list[Msg]) -> None:
    metrics.EVENTS.labels("committed").inc(len(committed))
    now = time.time()
    for message in committed:
        with contextlib.suppress(Exception):  # a message without JetStream metadata
            metrics.INDEX_LAG.observe(max(now - message.metadata.timestamp.timestamp(), 0.0))


def changes_of(messages: Sequence[Msg]) -> Changes:
    """What the events of a batch touched. Unknown subjects change nothing; an unreadable event
    is logged and dropped (it would fail the same way on every redelivery)."""
    changes = Changes()
    for message in messages:
        try:
            _note(changes, message.subject, message.data)
        except DecodeError:
            log.warning("unreadable event; dropped", subject=message.subject)
    return changes


def _note(changes: Changes, subject: str, data: bytes) -> None:
    if subject in ("tweets.created", "tweets.edited"):
        tweet = tweet_events_pb2.TweetCreatedEvent.FromString(data).tweet  # same layout
        changes.tweets.add(tweet.id)
        if tweet.reply_to_id:  # the parent's reply count changed
            changes.tweets.add(tweet.reply_to_id)
    elif subject == "tweets.deleted":
        deleted = tweet_events_pb2.TweetDeletedEvent.FromString(data)
        changes.deleted_tweets.add(deleted.tweet_id)
        if deleted.reply_to_id:
            changes.tweets.add(deleted.reply_to_id)
    elif subject in ("tweets.liked", "tweets.unliked"):
        changes.tweets.add(tweet_events_pb2.TweetLikedEvent.FromString(data).tweet_id)
    elif subject in ("tweets.retweeted", "tweets.unretweeted"):
        changes.tweets.add(tweet_events_pb2.TweetRetweetedEvent.FromString(data).tweet_id)
    elif subject in ("users.created", "users.updated"):
        changes.users.add(user_events_pb2.UserCreatedEvent.FromString(data).user.id)
    elif subject in ("graph.followed", "graph.unfollowed"):
        changes.users.add(graph_events_pb2.UserFollowedEvent.FromString(data).followee_id)
