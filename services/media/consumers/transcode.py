"""Processing uploaded videos: the ``media-transcode`` consumer of ``media.video_uploaded``.

One job at a time per media process (a transcode takes the cores it can get; more processes
take more jobs). While a job runs, the consumer tells JetStream every few seconds that it is
still at work, so the message is not redelivered to another worker meanwhile; if the process
dies, those signals stop and the job is redelivered within the consumer's ack wait (15 s) to any
media process, which starts it again (``MediaService.process_video`` is idempotent). A message
is acknowledged once the outcome (ready, or failed for good) is stored; a store outage is
retried a few seconds later.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Awaitable, Callable

import structlog
from chirp.events.v1 import media_events_pb2
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig

from services.media import metrics
from services.media.service import MediaService
from services.platform.background import in_background, pause, rounds
from services.platform.consumers import RETRY_DELAY_SECONDS, DurableConsumer
from services.platform.events import consumer

CONSUMER = consumer("media-transcode")
#: How often a running job says it is still at work (well inside the ack wait).
PROGRESS_SECONDS = 5.0

log = structlog.get_logger()


class VideoTranscoder:
    def __init__(
        self, nats_url: str, media: MediaService, config: ConsumerConfig = CONSUMER
    ) -> None:
        """``config`` is the declared ``media-transcode`` consumer but in tests."""
        self._nats_url = nats_url
        self._media = media
        self._config = config

    async def run(self) -> None:
        """Consumes ``media.video_uploaded`` until cancelled."""
        await DurableConsumer(self._nats_url, self._config, self._handle, batch_size=1).run()

    async def _handle(self, messages: list[Msg]) -> None:
        for message in messages:
            try:
                event = media_events_pb2.VideoUploadedEvent.FromString(message.data)
            except Exception:
                log.exception("undecodable event; dropped", subject=message.subject)
                await message.term()
                continue
            try:
                async with in_background(_progress(message)):
                    outcome = await self._media.process_video(event.media_id)
            except Exception:
                log.warning(
                    "processing a video failed; redelivering",
                    media_id=event.media_id,
                    exc_info=True,
                )
                metrics.VIDEOS.labels("retried").inc()
                await message.nak(delay=RETRY_DELAY_SECONDS)
                continue
            await message.ack()
            if outcome is None:
                metrics.VIDEOS.labels("gone").inc()
                continue
            metrics.VIDEOS.labels(outcome.state.name.lower()).inc()
            uploaded = message.metadata.timestamp.timestamp()
            metrics.PROCESSING_SECONDS.observe(max(time.time() - uploaded, 0.0))


def _progress(message: Msg) -> Callable[[], Awaitable[None]]:
    async def beat() -> None:
        for _ in rounds():
            await pause(PROGRESS_SECONDS)
            # A missed beat (NATS reconnecting) costs at worst a redelivery, which is harmless.
            with contextlib.suppress(Exception):
                await message.in_progress()

    return beat
