"""The JetStream stream every event goes to, and the durable consumers that read it.

One stream, ``CHIRP``, holds every subject of the catalogue (``subjects.py``: ``tweets.*``,
``graph.*``, ``users.*``, ``media.*``, ``timelines.*``) on disk. Publishers set ``Nats-Msg-Id``
to the event id, so a retried publish inside the duplicate window is stored once; consumers
acknowledge explicitly, after their side effect, and their handlers are idempotent, so a
redelivery changes nothing. How a consumer settles each message (and why nothing limits
redeliveries) is ``consumers.py``'s policy.

The stream is kept on ``CHIRP_NATS_REPLICAS`` servers (``stream``): 1 on the local single
server, 3 on a three-node cluster, where it survives the loss of any one node. The consumers
inherit the stream's replicas, and follow them when they change.
"""

from __future__ import annotations

from typing import Any

from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)

from services.platform.subjects import (
    GRAPH_FOLLOWED,
    GRAPH_UNFOLLOWED,
    MEDIA_VIDEO_UPLOADED,
    TIMELINES_FANOUT_PART,
    TWEETS_CREATED,
    TWEETS_DELETED,
    TWEETS_EDITED,
    TWEETS_LIKED,
    TWEETS_RETWEETED,
    TWEETS_UNLIKED,
    TWEETS_UNRETWEETED,
    USERS_CREATED,
    USERS_DELETED,
    USERS_UPDATED,
    Subject,
)

STREAM = StreamConfig(
    name="CHIRP",
    subjects=["tweets.>", "graph.>", "users.>", "media.>", "timelines.>"],
    retention=RetentionPolicy.LIMITS,
    storage=StorageType.FILE,
    max_age=7 * 24 * 3600,  # a week of replay for consumers that were down; nats-py takes seconds
    duplicate_window=120,
)


def stream(replicas: int) -> StreamConfig:
    """``STREAM`` kept on ``replicas`` servers (``StoreSettings.nats_replicas``)."""
    return STREAM.evolve(num_replicas=replicas)


#: Deliveries of a message at most: unlimited. A message is given up only when it cannot be
#: decoded (``term``); a dependency's outage is retried for as long as it lasts.
MAX_DELIVER = -1


def durable(
    name: str, description: str, subjects: list[str], ack_wait_seconds: float = 60
) -> ConsumerConfig:
    """A durable consumer that takes ``subjects`` from the start and is acknowledged explicitly,
    redelivered when unacknowledged for ``ack_wait_seconds``, as often as it takes."""
    return ConsumerConfig(
        durable_name=name,
        description=description,
        filter_subjects=subjects,
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.ALL,
        ack_wait=ack_wait_seconds,
        max_deliver=MAX_DELIVER,
        # As many as the stream's, followed when they change (a consumer of fixed replicas
        # would stay at 1 when the stream goes to 3).
        num_replicas=0,
    )


def _names(*subjects: Subject[Any]) -> list[str]:
    return [subject.name for subject in subjects]


#: Durable consumers, by the service that owns them. Each takes only the subjects it handles.
CONSUMERS = (
    durable(
        "timelines-fanout",
        "timelines: fanout on write, follow merges, deletes, deleted accounts' timelines",
        _names(
            TWEETS_CREATED,
            TWEETS_RETWEETED,
            TWEETS_UNRETWEETED,
            TWEETS_DELETED,
            GRAPH_FOLLOWED,
            GRAPH_UNFOLLOWED,
            USERS_DELETED,
        ),
    ),
    # One part of a large fanout at a time per worker (``FanoutWorker``): the parts of one
    # author's fanout spread over every timelines process.
    durable(
        "timelines-fanout-parts",
        "timelines: the parts of large fanouts, shared by every timelines process",
        _names(TIMELINES_FANOUT_PART),
    ),
    durable(
        "search-indexer",
        "search: keeps the Tantivy tweet and user indexes in step with tweets and accounts",
        _names(
            TWEETS_CREATED,
            TWEETS_EDITED,
            TWEETS_DELETED,
            TWEETS_LIKED,
            TWEETS_UNLIKED,
            TWEETS_RETWEETED,
            TWEETS_UNRETWEETED,
            USERS_CREATED,
            USERS_UPDATED,
            USERS_DELETED,
            GRAPH_FOLLOWED,  # follower counts rank user search
            GRAPH_UNFOLLOWED,
        ),
    ),
    durable(
        "search-trends", "search: counts hashtags and topics for trends", _names(TWEETS_CREATED)
    ),
    durable(
        "tweets-cleanup", "tweets: undoes the retweets of deleted tweets", _names(TWEETS_DELETED)
    ),
    # An account's erasure can take one step per tweet and like: its own consumer, so posts'
    # cleanups never queue behind it.
    durable(
        "tweets-accounts",
        "tweets: erases deleted accounts' tweets, retweets and likes",
        _names(USERS_DELETED),
    ),
    durable(
        "graph-users",
        "graph: gives every new account its node, removes deleted ones with their follows",
        _names(USERS_CREATED, USERS_DELETED),
    ),
    durable(
        "media-cleanup",
        "media: removes the photos of deleted tweets and deleted accounts' uploads",
        _names(TWEETS_DELETED, USERS_DELETED),
    ),
    durable(
        "mastodon-accounts",
        "mastodon: revokes deleted accounts' OAuth tokens",
        _names(USERS_DELETED),
    ),
    # A transcode takes minutes: its worker says it is still at work every few seconds
    # (in-progress acks), so a worker that died has its job redelivered within seconds.
    durable(
        "media-transcode",
        "media: transcodes uploaded videos and extracts their posters",
        _names(MEDIA_VIDEO_UPLOADED),
        ack_wait_seconds=15,
    ),
)


def consumer(durable_name: str) -> ConsumerConfig:
    """The declared consumer of that name; its owner binds to it (and declares it again, which
    changes nothing, so a service started before ``migrate`` ran still works)."""
    return next(config for config in CONSUMERS if config.durable_name == durable_name)
