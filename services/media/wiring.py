"""Composition root of the media service: adapters are connected here and nowhere else."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence

import grpc
from chirp.media.v1 import media_service_pb2, media_service_pb2_grpc

from services.media.adapters.ffmpeg import FfmpegVideoTools, RunLimits
from services.media.adapters.objects import S3ObjectStore, s3_client
from services.media.adapters.store import CassandraMediaStore
from services.media.consumers.cleanup import DeletedMedia, UnattachedSweep
from services.media.consumers.transcode import VideoTranscoder
from services.media.images import ImageLimits
from services.media.routes import ContentRoutes
from services.media.service import MediaService, UploadLimiters, UploadRules
from services.media.servicer import MediaServicer
from services.media.video import VideoLimits
from services.platform import cql
from services.platform.background import in_background
from services.platform.http import http_site
from services.platform.ids import leased_snowflake
from services.platform.outbox import CassandraOutboxStore, Outbox, OutboxRelay, running_relay
from services.platform.ratelimit import Limits, RedisRateLimiter
from services.platform.redis_clients import resp_client
from services.platform.server import Registration
from services.platform.settings import Settings

SERVICE = media_service_pb2.DESCRIPTOR.services_by_name["MediaService"]


def rules(settings: Settings) -> UploadRules:
    media = settings.media
    return UploadRules(
        images=ImageLimits(
            max_bytes=media.max_upload_bytes,
            max_pixels=media.max_pixels,
            thumbnail_pixels=media.thumbnail_pixels,
        ),
        videos=VideoLimits(
            max_bytes=media.max_video_bytes,
            max_duration_ms=round(media.max_video_seconds * 1000),
            max_side=media.max_video_side,
            rendition_side=media.video_rendition_side,
        ),
    )


def video_tools(settings: Settings) -> FfmpegVideoTools:
    media = settings.media
    return FfmpegVideoTools(
        rules(settings).videos,
        RunLimits(media.transcode_seconds, media.transcode_memory_bytes, media.transcode_threads),
    )


@contextlib.asynccontextmanager
async def wiring(settings: Settings) -> AsyncIterator[Sequence[Registration]]:
    session = cql.connect(settings)
    redis = resp_client(settings.redis_url)
    try:
        outbox = Outbox(session)
        relay = OutboxRelay(CassandraOutboxStore(session, outbox), outbox, settings.nats_url)
        async with (
            s3_client(settings.s3) as s3,
            leased_snowflake(redis) as ids,
            running_relay(relay),
        ):
            objects = S3ObjectStore(s3, settings.s3.bucket)
            await objects.ensure_bucket()
            limits = Limits.from_settings(settings)
            media = MediaService(
                CassandraMediaStore(session, outbox),
                objects,
                video_tools(settings),
                ids,
                rules(settings),
                UploadLimiters(
                    uploads=RedisRateLimiter(redis, limits.uploads),
                    videos=RedisRateLimiter(redis, limits.video_uploads),
                ),
            )
            servicer = MediaServicer(media, settings.media.public_base_url)
            deleted = DeletedMedia(settings.nats_url, media)
            transcoder = VideoTranscoder(settings.nats_url, media)
            sweep = UnattachedSweep(
                media,
                settings.media.unattached_ttl_seconds,
                settings.media.cleanup_interval_seconds,
            )
            content = ContentRoutes(media).application()
            async with (
                in_background(deleted.run),
                in_background(transcoder.run),
                in_background(sweep.run),
                http_site(content, settings, settings.media.content_port),
            ):

                def add_to_server(server: grpc.aio.Server) -> None:
                    media_service_pb2_grpc.add_MediaServiceServicer_to_server(servicer, server)

                yield [Registration(SERVICE.full_name, add_to_server)]
    finally:
        await redis.aclose()
        session.cluster.shutdown()
