"""Composition root of the media service: adapters are connected here and nowhere else."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence

import grpc
from chirp.media.v1 import media_service_pb2, media_service_pb2_grpc

from services.media.adapters.objects import S3ObjectStore, s3_client
from services.media.adapters.store import CassandraMediaStore
from services.media.consumers.cleanup import DeletedTweetMedia, UnattachedSweep
from services.media.images import ImageLimits
from services.media.service import MediaService
from services.media.servicer import MediaServicer
from services.platform import cql
from services.platform.background import in_background
from services.platform.ids import leased_snowflake
from services.platform.ratelimit import Limits, RedisRateLimiter
from services.platform.resp import Resp
from services.platform.server import Registration
from services.platform.settings import Settings

SERVICE = media_service_pb2.DESCRIPTOR.services_by_name["MediaService"]


def limits(settings: Settings) -> ImageLimits:
    return ImageLimits(
        max_bytes=settings.media.max_upload_bytes,
        max_pixels=settings.media.max_pixels,
        thumbnail_pixels=settings.media.thumbnail_pixels,
    )


@contextlib.asynccontextmanager
async def wiring(settings: Settings) -> AsyncIterator[Sequence[Registration]]:
    session = cql.connect(settings)
    redis = Resp.from_url(settings.redis_url)
    try:
        async with s3_client(settings) as s3, leased_snowflake(redis) as ids:
            objects = S3ObjectStore(s3, settings.s3.bucket)
            await objects.ensure_bucket()
            media = MediaService(
                CassandraMediaStore(session),
                objects,
                ids,
                limits(settings),
                RedisRateLimiter(redis, Limits.from_settings(settings).uploads),
            )
            servicer = MediaServicer(media, settings.media.public_base_url)
            deleted = DeletedTweetMedia(settings.nats_url, media)
            sweep = UnattachedSweep(
                media,
                settings.media.unattached_ttl_seconds,
                settings.media.cleanup_interval_seconds,
            )
            async with in_background(deleted.run), in_background(sweep.run):

                def add_to_server(server: grpc.aio.Server) -> None:
                    media_service_pb2_grpc.add_MediaServiceServicer_to_server(servicer, server)

                yield [Registration(SERVICE.full_name, add_to_server)]
    finally:
        await redis.aclose()
        session.cluster.shutdown()
