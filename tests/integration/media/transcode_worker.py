"""A transcode worker process for the kill test: the real ``VideoTranscoder`` and
``MediaService`` (Cassandra, SeaweedFS, ffmpeg) on a test consumer (``argv[1]``, a short ack
wait) of a test subject (``argv[2]``). Not a test module."""

from __future__ import annotations

import asyncio
import sys

from services.media.adapters.objects import S3ObjectStore, s3_client
from services.media.adapters.store import CassandraMediaStore
from services.media.consumers.transcode import VideoTranscoder
from services.media.service import MediaService, UploadLimiters
from services.media.wiring import rules, video_tools
from services.platform import cql
from services.platform.ids import leased_snowflake
from services.platform.outbox import Outbox
from services.platform.redis_clients import resp_client
from tests.integration import streams
from tests.integration.media.conftest import SETTINGS
from tests.limiting import CountingLimiter


async def main(name: str, subject: str) -> None:
    session = cql.connect(SETTINGS)
    resp = resp_client(SETTINGS.redis_url)
    try:
        async with s3_client(SETTINGS.s3) as s3, leased_snowflake(resp) as ids:
            media = MediaService(
                CassandraMediaStore(session, Outbox(session)),
                S3ObjectStore(s3, SETTINGS.s3.bucket),
                video_tools(SETTINGS),
                ids,
                rules(SETTINGS),
                UploadLimiters(CountingLimiter(), CountingLimiter()),
            )
            config = streams.killable_consumer(name, [subject])
            print("running", flush=True)
            await VideoTranscoder(SETTINGS.nats_url, media, config).run()
    finally:
        await resp.aclose()
        session.cluster.shutdown()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
