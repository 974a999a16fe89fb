"""Removing media nobody needs: the media of deleted tweets, and uploads never attached.

``DeletedTweetMedia`` consumes ``tweets.deleted`` on the durable consumer ``media-cleanup`` and
removes the deleted tweet's media (objects, then rows); a message is acknowledged only once
they are gone, and a failure is redelivered later, as the platform's policy says
(``services/platform/consumers.py``). ``UnattachedSweep`` runs in every media process: each
round removes the uploads older than the configured age that were never attached (24 hours by
default). Both are idempotent, so several processes, a retry or a redelivery change nothing
more.
"""

from __future__ import annotations

import structlog
from chirp.events.v1 import tweet_events_pb2

from services.media.service import MediaService
from services.platform.background import pause, rounds
from services.platform.consumers import DurableConsumer, Settle, each_event
from services.platform.events import consumer
from services.platform.subjects import TWEETS_DELETED

CONSUMER = consumer("media-cleanup")

log = structlog.get_logger()


class DeletedTweetMedia:
    def __init__(self, nats_url: str, media: MediaService, batch_size: int = 20) -> None:
        self._nats_url = nats_url
        self._media = media
        self._batch_size = batch_size

    async def run(self) -> None:
        """Consumes ``tweets.deleted`` until cancelled."""
        handle = each_event(Settle(CONSUMER), TWEETS_DELETED, self._remove)
        await DurableConsumer(self._nats_url, CONSUMER, handle, batch_size=self._batch_size).run()

    async def _remove(self, event: tweet_events_pb2.TweetDeletedEvent) -> bool:
        await self._media.remove_of_tweet(event.tweet_id)
        return True


class UnattachedSweep:
    def __init__(self, media: MediaService, max_age_seconds: float, every_seconds: float) -> None:
        self._media = media
        self._max_age_seconds = max_age_seconds
        self._every_seconds = every_seconds

    async def run(self) -> None:
        """Sweeps every ``every_seconds`` until cancelled; a failed round is retried next time."""
        for _ in rounds():
            try:
                removed = await self._media.sweep(self._max_age_seconds)
                if removed:
                    log.info("unattached media removed", count=removed)
            except Exception:
                log.warning("sweeping unattached media failed", exc_info=True)
            await pause(self._every_seconds)
