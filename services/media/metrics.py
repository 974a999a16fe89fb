"""Prometheus metrics of video processing."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

PROCESSING_SECONDS = Histogram(
    "chirp_media_video_processing_seconds",
    "From a video's upload (its event in JetStream) to its outcome stored, ready or failed.",
    buckets=(1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0),
)
VIDEOS = Counter(
    "chirp_media_videos_processed_total",
    "Video processing jobs, by outcome (ready, failed, gone, retried).",
    ("outcome",),
)
