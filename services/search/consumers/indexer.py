"""The indexer: the durable JetStream consumer ``search-indexer``, with near-real-time commits.

Every fetched batch is decoded through the catalogue (``services/platform/subjects.py``) and read
into the ``Changes`` it makes (the wire events are decoded here, not in the domain), which are
applied to the index writers at once; a commit loop commits whatever was written at most every
``commit_seconds`` (0.5 s by default) and only then acknowledges the messages behind it, so a
change is searchable within about a second and an acknowledged event is always on disk. A batch
that fails (a service the indexer reads from is down) or a commit that fails is redelivered
later, for as long as the failure lasts (``services/platform/consumers.py``). A process killed
before its commit leaves its messages unacknowledged: JetStream redelivers them after the
consumer's ack wait, and applying them again is harmless.

Likes and retweets (and their undoing) only move a tweet in ``top``, and follows and unfollows
only move the followee among the users a search finds: they wait up to ``engagement_seconds``
(5 s in the service) before being applied, together, unacknowledged until the commit after, so a
tweet liked a hundred times in that window is read from the tweets service and indexed once, and
an account followed a hundred times is read from the users and graph services once, not once a
commit. The counts a search answers with are read when it answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable

from chirp.events.v1 import graph_events_pb2, tweet_events_pb2, user_events_pb2
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig

from services.platform.background import in_background, pause, rounds
from services.platform.consumers import DurableConsumer, Settle
from services.platform.events import consumer
from services.platform.subjects import Event
from services.search import metrics
from services.search.model import Changes
from services.search.service import SearchService

CONSUMER = consumer("search-indexer")


def replica_consumer(replica: str) -> ConsumerConfig:
    """The indexer's consumer for search process ``replica`` (``SearchSettings.replica``): each
    index reads every event."""
    if not replica:
        return CONSUMER
    return CONSUMER.evolve(durable_name=f"{CONSUMER.durable_name}-{replica}")


#: Messages per fetch; at most this many wait for one commit per fetch.
FETCH_BATCH = 500
#: The events that change nothing but a tweet's engagement counts ...
ENGAGEMENT = (
    tweet_events_pb2.TweetLikedEvent,
    tweet_events_pb2.TweetUnlikedEvent,
    tweet_events_pb2.TweetRetweetedEvent,
    tweet_events_pb2.TweetUnretweetedEvent,
)
#: ... or a user's follower count: the events held for a window.
RANKING_ONLY = (
    *ENGAGEMENT,
    graph_events_pb2.UserFollowedEvent,
    graph_events_pb2.UserUnfollowedEvent,
)


class Indexer:
    def __init__(
        self,
        nats_url: str,
        search: SearchService,
        *,
        commit_seconds: float,
        engagement_seconds: float = 0.0,
        config: ConsumerConfig = CONSUMER,
    ) -> None:
        self._nats_url = nats_url
        self._search = search
        self._commit_seconds = commit_seconds
        self._engagement_seconds = engagement_seconds
        self._config = config
        self._settle = Settle(config)
        self._pending: list[Msg] = []
        self._written = asyncio.Event()
        #: Engagement events waiting for their window to end (``_engaged_due`` once it has).
        self._engaged: list[tuple[Msg, Event]] = []
        self._engaged_due = False
        self._applying = asyncio.Lock()

    async def run(self) -> None:
        """Consumes and commits until cancelled."""
        async with in_background(self._commit_loop):
            await DurableConsumer(
                self._nats_url, self._config, self._handle, batch_size=FETCH_BATCH
            ).run()

    async def _handle(self, messages: list[Msg]) -> None:
        read = [
            (m, event) for m in messages if (event := await self._settle.decoded(m)) is not None
        ]
        if self._engagement_seconds:
            self._hold_for_window([(m, e) for m, e in read if isinstance(e, RANKING_ONLY)])
            read = [(m, e) for m, e in read if not isinstance(e, RANKING_ONLY)]
        if await self._apply(read):
            self._written.set()

    def _hold_for_window(self, engaged: list[tuple[Msg, Event]]) -> None:
        """Keeps ``engaged`` for the current window, opening one (and the commit loop's wake-up
        at its end) if none is open."""
        if not engaged:
            return
        if not self._engaged:
            asyncio.get_running_loop().call_later(self._engagement_seconds, self._window_ended)
        self._engaged.extend(engaged)

    def _window_ended(self) -> None:
        self._engaged_due = True
        self._written.set()

    async def _apply(self, read: list[tuple[Msg, Event]]) -> bool:
        """Applies the events of ``read``; True if they are to be committed, False if there
        were none or they failed (and were settled for redelivery)."""
        applied = [message for message, _ in read]
        if not applied:
            return False
        try:
            with self._settle.kept_alive(applied):
                async with self._applying:
                    await self._search.apply(changes_of(event for _, event in read))
        except Exception as error:
            metrics.EVENTS.labels("redelivered").inc(len(applied))
            await self._settle.failed(applied, error)
            return False
        self._pending.extend(applied)
        return True

    async def _commit_loop(self) -> None:
        last_commit = 0.0
        for _ in rounds():
            await self._written.wait()
            await pause(max(0.0, last_commit + self._commit_seconds - time.monotonic()))
            self._written.clear()
            if self._engaged_due:
                self._engaged_due = False
                engaged, self._engaged = self._engaged, []
                await self._apply(engaged)
            if not self._pending:
                continue
            batch, self._pending = self._pending, []
            last_commit = time.monotonic()
            try:
                await self._search.commit()
            except Exception as error:
                metrics.EVENTS.labels("redelivered").inc(len(batch))
                await self._settle.failed(batch, error)
                continue
            await self._settle.done(batch)
            _observe(batch)


def _observe(committed: list[Msg]) -> None:
    metrics.EVENTS.labels("committed").inc(len(committed))
    now = time.time()
    for message in committed:
        with contextlib.suppress(Exception):  # a message without JetStream metadata
            metrics.INDEX_LAG.observe(max(now - message.metadata.timestamp.timestamp(), 0.0))


def changes_of(events: Iterable[Event]) -> Changes:
    """What a batch of events touched; events of other types change nothing."""
    changes = Changes()
    for event in events:
        _note(changes, event)
    return changes


def _note(changes: Changes, event: Event) -> None:
    if isinstance(event, tweet_events_pb2.TweetCreatedEvent | tweet_events_pb2.TweetEditedEvent):
        changes.tweets.add(event.tweet.id)
        if event.tweet.reply_to_id:  # the parent's reply count changed
            changes.tweets.add(event.tweet.reply_to_id)
    elif isinstance(event, tweet_events_pb2.TweetDeletedEvent):
        changes.deleted_tweets.add(event.tweet_id)
        if event.reply_to_id:
            changes.tweets.add(event.reply_to_id)
    elif isinstance(event, ENGAGEMENT):
        changes.tweets.add(event.tweet_id)
    elif isinstance(event, user_events_pb2.UserCreatedEvent | user_events_pb2.UserUpdatedEvent):
        changes.users.add(event.user.id)
    elif isinstance(event, user_events_pb2.UserDeletedEvent):
        changes.deleted_users[event.user_id] = event.username
    elif isinstance(
        event, graph_events_pb2.UserFollowedEvent | graph_events_pb2.UserUnfollowedEvent
    ):
        changes.users.add(event.followee_id)
