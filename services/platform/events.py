"""The JetStream stream every event goes to, and the durable consumers that read it.

One stream, ``CHIRP``, holds every subject of ``chirp.events.v1`` (``tweets.*``, ``graph.*``,
``users.*``, ``media.*``) on disk. Publishers set ``Nats-Msg-Id`` to the event id, so a retried
publish inside the duplicate window is stored once; consumers acknowledge explicitly, after
their side effect, and their handlers are idempotent, so a redelivery changes nothing.
"""

from __future__ import annotations

from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)

STREAM = StreamConfig(
    name="CHIRP",
    subjects=["tweets.>", "graph.>", "users.>", "media.>"],
    retention=RetentionPolicy.LIMITS,
    storage=StorageType.FILE,
    max_age=7 * 24 * 3600,  # a week of replay for consumers that were down; nats-py takes seconds
    duplicate_window=120,
    num_replicas=1,
)


def _durable(
    name: str, description: str, subjects: list[str], ack_wait_seconds: float = 60
) -> ConsumerConfig:
    """A durable consumer that takes ``subjects`` from the start and is acknowledged explicitly,
    redelivered when unacknowledged for ``ack_wait_seconds``, at most 20 times."""
    return ConsumerConfig(
        durable_name=name,
        description=description,
        filter_subjects=subjects,
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.ALL,
        ack_wait=ack_wait_seconds,
        max_deliver=20,
    )


#: Durable consumers, by the service that owns them. Each takes only the subjects it handles.
CONSUMERS = (
    _durable(
        "timelines-fanout",
        "timelines: fanout on write, follow merges, deletes",
        [
            "tweets.created",
            "tweets.retweeted",
            "tweets.unretweeted",
            "tweets.deleted",
            "graph.followed",
            "graph.unfollowed",
        ],
    ),
    _durable(
        "search-indexer",
        "search: keeps the Tantivy tweet and user indexes in step with tweets and accounts",
        [
            "tweets.created",
            "tweets.edited",
            "tweets.deleted",
            "tweets.liked",
            "tweets.unliked",
            "tweets.retweeted",
            "tweets.unretweeted",
            "users.created",
            "users.updated",
            "graph.followed",  # follower counts rank user search
            "graph.unfollowed",
        ],
    ),
    _durable("search-trends", "search: counts hashtags and topics for trends", ["tweets.created"]),
    _durable("tweets-cleanup", "tweets: undoes the retweets of deleted tweets", ["tweets.deleted"]),
    _durable("graph-users", "graph: gives every new account its node", ["users.created"]),
    _durable("media-cleanup", "media: removes the photos of deleted tweets", ["tweets.deleted"]),
    # A transcode takes minutes: its worker says it is still at work every few seconds
    # (in-progress acks), so a worker that died has its job redelivered within seconds.
    _durable(
        "media-transcode",
        "media: transcodes uploaded videos and extracts their posters",
        ["media.video_uploaded"],
        ack_wait_seconds=15,
    ),
)


def consumer(durable_name: str) -> ConsumerConfig:
    """The declared consumer of that name; its owner binds to it (and declares it again, which
    changes nothing, so a service started before ``migrate`` ran still works)."""
    return next(config for config in CONSUMERS if config.durable_name == durable_name)
