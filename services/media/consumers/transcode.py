"""Processing uploaded videos: the ``media-transcode`` consumer of ``media.video_uploaded``.

One job at a time per media process (a transcode takes the cores it can get; more processes
take more jobs). While a job runs, the consumer tells JetStream every few seconds that it is
still at work (``Settle.settled`` keeps the message alive), so the message is not redelivered to
another worker meanwhile; if the process dies, those signals stop and the job is redelivered
within the consumer's ack wait (15 s) to any media process, which starts it again
(``MediaService.process_video`` is idempotent). A message is acknowledged once the outcome
(ready, or failed for good) is stored; a store outage is redelivered later, as the platform's
policy says (``services/platform/consumers.py``).
"""

from __future__ import annotations

import time

from chirp.events.v1 import media_events_pb2
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig

from services.media import metrics
from services.media.service import MediaService
from services.platform.consumers import DurableConsumer, Settle
from services.platform.events import consumer
from services.platform.subjects import MEDIA_VIDEO_UPLOADED

CONSUMER = consumer("media-transcode")


class VideoTranscoder:
    def __init__(
        self, nats_url: str, media: MediaService, config: ConsumerConfig = CONSUMER
    ) -> None:
        """``config`` is the declared ``media-transcode`` consumer but in tests."""
        self._nats_url = nats_url
        self._media = media
        self._config = config
        self._settle = Settle(config)

    async def run(self) -> None:
        """Consumes ``media.video_uploaded`` until cancelled."""
        await DurableConsumer(self._nats_url, self._config, self._handle, batch_size=1).run()

    async def _handle(self, messages: list[Msg]) -> None:
        for message in messages:
            event = await self._settle.decoded(message, MEDIA_VIDEO_UPLOADED)
            if event is not None:
                await self._settle.settled(message, self._process(event, message))

    async def _process(self, event: media_events_pb2.VideoUploadedEvent, message: Msg) -> bool:
        """Processes the video and counts the outcome (from the event's arrival in JetStream)."""
        try:
            outcome = await self._media.process_video(event.media_id)
        except Exception:
            metrics.VIDEOS.labels("retried").inc()
            raise
        if outcome is None:
            metrics.VIDEOS.labels("gone").inc()
            return True
        metrics.VIDEOS.labels(outcome.state.name.lower()).inc()
        uploaded = message.metadata.timestamp.timestamp()
        metrics.PROCESSING_SECONDS.observe(max(time.time() - uploaded, 0.0))
        return True
