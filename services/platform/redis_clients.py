"""Chirp's Redis clients, chosen by the URL (``CHIRP_REDIS_URL``, ``StoreSettings.redis_url``):

* ``redis://[[user]:password@]host[:port][/db]``: one server. ``resp_client`` is ``Resp``
  (``resp.py``) on it, ``pubsub_client`` redis-py on it.
* ``redis+cluster://[[user]:password@]host:port[,host:port...]``: a Redis Cluster, through
  those seed nodes. ``resp_client`` is ``ClusterResp`` (``resp_cluster.py``). ``pubsub_client``
  is redis-py on one node: a cluster delivers every PUBLISH to every node, so a subscriber
  anywhere hears it; each connection goes to the first seed that accepts it, so a subscriber
  that lost its node (the stream ends, its client reconnects) subscribes through another.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.connection import Connection

from services.platform import resp_cluster
from services.platform.resp import TIMEOUT_SECONDS, Resp, RespClient
from services.platform.resp_cluster import Address, ClusterResp, ClusterUrl


def is_cluster(url: str) -> bool:
    return urlsplit(url).scheme == resp_cluster.SCHEME


def resp_client(url: str, *, timeout: float = TIMEOUT_SECONDS) -> RespClient:
    """Chirp's own client (every command but pub/sub): see the module docstring."""
    if is_cluster(url):
        return ClusterResp.from_url(url, timeout=timeout)
    return Resp.from_url(url, timeout=timeout)


def pubsub_client(url: str) -> Redis:
    """A redis-py client for pub/sub: see the module docstring."""
    if not is_cluster(url):
        return Redis.from_url(url)
    cluster = ClusterUrl.parse(url)
    pool = ConnectionPool.from_url(
        cluster.node_url(cluster.seeds[0]),
        connection_class=_AnySeed,
        seeds=cluster.seeds,
        socket_connect_timeout=TIMEOUT_SECONDS,
    )
    return Redis.from_pool(pool)


class _AnySeed(Connection):
    """A connection to the first of ``seeds`` that accepts it."""

    def __init__(self, *, seeds: Sequence[Address], **options: Any) -> None:
        super().__init__(**options)
        self._seeds = seeds

    async def _connect(self) -> None:
        failure: Exception | None = None
        for host, port in self._seeds:
            self.host, self.port = host, port
            try:
                await super()._connect()  # type: ignore[no-untyped-call]  # redis-py's, untyped
            except (OSError, TimeoutError) as error:
                failure = error
            else:
                return
        raise failure or OSError("no seed node")
