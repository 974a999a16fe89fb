"""The JetStream stream every event goes to, and the durable consumers that read it.

One stream, ``CHIRP``, holds every subject of ``chirp.events.v1`` (``tweets.*``, ``graph.*``,
``users.*``) on disk. Publishers set ``Nats-Msg-Id`` to the event id, so a retried publish inside
the duplicate window is stored once; consumers acknowledge explicitly, after their side effect,
and their handlers are idempotent, so a redelivery changes nothing.
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
    subjects=["tweets.>", "graph.>", "users.>"],
    retention=RetentionPolicy.LIMITS,
    storage=StorageType.FILE,
    max_age=7 * 24 * 3600,  # a week of replay for consumers that were down; nats-py takes seconds
    duplicate_window=120,
    num_replicas=1,
)

#: Durable consumers, by the service that owns them. Each takes only the subjects it handles.
CONSUMERS = (
    ConsumerConfig(
        durable_name="timelines-fanout",
        description="timelines: fanout on write, follow merges, deletes",
        filter_subjects=[
            "tweets.created", "tweets.retweeted", "tweets.deleted",
            "graph.followed", "graph.unfollowed",
        ],
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.ALL,
        ack_wait=60,
        max_deliver=20,
    ),
    ConsumerConfig(
        durable_name="search-indexer",
        description="search: keeps the Tantivy index in step with tweets",
        filter_subjects=[
            "tweets.created", "tweets.edited", "tweets.deleted",
            "tweets.liked", "tweets.retweeted", "users.updated",
        ],
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.ALL,
        ack_wait=60,
        max_deliver=20,
    ),
    ConsumerConfig(
        durable_name="search-trends",
        description="search: counts hashtags and topics for trends",
        filter_subjects=["tweets.created"],
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.ALL,
        ack_wait=60,
        max_deliver=20,
    ),
)  # fmt: skip
