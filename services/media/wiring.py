"""Composition root of the media service: adapters are connected here and nowhere else."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence

import grpc
from chirp.media.v1 import media_service_pb2, media_service_pb2_grpc

from services.bootstrap import cql
from services.bootstrap.background import in_background
from services.bootstrap.ids import leased_snowflake
from services.bootstrap.ratelimit import Limits as RateLimits
from services.bootstrap.ratelimit import RedisRateLimiter
from services.bootstrap.resp import Resp
from services.bootstrap.server import Registration
from services.bootstrap.settings import Settings
from services.media.cleanup import DeletedTweetMedia, UnattachedSweep
from services.media.images import Limits
from services.media.objects import S3ObjectStore, s3_client
from services.media.service import MediaService
from services.media.servicer import MediaServicer
from services.media.store import CassandraMediaStore

SERVICE = media_service_pb2.DESCRIPTOR.services_by_name["MediaService"]


def limits(settings: Settings) -> Limits:
    return Limits(
        max_bytes=settings.media_max_upload_bytes,
        max_pixels=settings.media_max_pixels,
        thumbnail_pixels=settings.media_thumbnail_pixels,
    )


@contextlib.asynccontextmanager
async def wiring(settings: Settings) -> AsyncIterator[Sequence[Registration]]:
    session = cql.connect(settings)
    redis = Resp.from_url(settings.redis_url)
    try:
        async with s3_client(settings) as s3, leased_snowflake(redis) as ids:
            objects = S3ObjectStore(s3, settings.s3_bucket)
            await objects.ensure_bucket()
            media = MediaService(CassandraMediaStore(session), objects, ids, limits(settings))
            uploads = RedisRateLimiter(redis, RateLimits.from_settings(settings).uploads)
            servicer = MediaServicer(media, uploads, settings.media_public_base_url)
            deleted = DeletedTweetMedia(settings.nats_url, media)
            sweep = UnattachedSweep(
                media,
                settings.media_unattached_ttl_seconds,
                settings.media_cleanup_interval_seconds,
            )
            async with in_background(deleted.run), in_background(sweep.run):

                def add_to_server(server: grpc.aio.Server) -> None:
                    media_service_pb2_grpc.add_MediaServiceServicer_to_server(servicer, server)

                yield [Registration(SERVICE.full_name, add_to_server)]
    finally:
        await redis.aclose()
        session.cluster.shutdown()
