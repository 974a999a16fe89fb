"""redis-py clients of the stack's Redis for tests that look at keys themselves: on the cluster
shape a cluster client (the same commands, each routed by its key; FLUSHALL to every master);
over TLS when the URL says so, checking the server as Chirp's clients do."""

from __future__ import annotations

from typing import cast

import redis
from redis.asyncio import Redis, RedisCluster

from services.platform.redis_clients import is_cluster, redis_py_tls_options
from services.platform.resp_cluster import ClusterUrl
from services.platform.settings import StoreSettings


def _url() -> tuple[str, bool]:
    """The URL redis-py takes (a cluster's first seed) and whether it is a cluster."""
    url = StoreSettings().redis_url
    if not is_cluster(url):
        return url, False
    cluster = ClusterUrl.parse(url)
    return cluster.node_url(cluster.seeds[0]), True


def async_client() -> Redis:
    url, cluster = _url()
    tls = redis_py_tls_options(url)
    # Typed as a plain client: the tests use only commands both route alike.
    return (
        cast("Redis", RedisCluster.from_url(url, **tls)) if cluster else Redis.from_url(url, **tls)
    )


def sync_client() -> redis.Redis:
    url, cluster = _url()
    tls = redis_py_tls_options(url)
    return (
        cast("redis.Redis", redis.RedisCluster.from_url(url, **tls))
        if cluster
        else redis.Redis.from_url(url, **tls)
    )
