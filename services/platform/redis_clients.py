"""Chirp's Redis clients, chosen by the URL (``CHIRP_REDIS_URL``, ``StoreSettings.redis_url``):

* ``redis://[[user]:password@]host[:port][/db]``: one server. ``resp_client`` is ``Resp``
  (``resp.py``) on it, ``pubsub_client`` redis-py on it.
* ``redis+cluster://[[user]:password@]host:port[,host:port...]``: a Redis Cluster, through
  those seed nodes. ``resp_client`` is ``ClusterResp`` (``resp_cluster.py``). ``pubsub_client``
  is redis-py on one node: a cluster delivers every PUBLISH to every node, so a subscriber
  anywhere hears it; each connection goes to the first seed that accepts it, so a subscriber
  that lost its node (the stream ends, its client reconnects) subscribes through another.
* ``rediss://...`` and ``rediss+cluster://...``: the same over TLS, every client checking the
  server's certificate against ``CHIRP_STORE_TLS_CA_FILE`` and the name it dialled
  (``store_tls.py``; redis-py with ``redis_py_tls_options``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.connection import Connection, SSLConnection

from services.platform import resp, resp_cluster, store_tls
from services.platform.resp import TIMEOUT_SECONDS, Resp, RespClient
from services.platform.resp_cluster import Address, ClusterResp, ClusterUrl


def is_cluster(url: str) -> bool:
    return urlsplit(url).scheme in {resp_cluster.SCHEME, resp_cluster.TLS_SCHEME}


def resp_client(url: str, *, timeout: float = TIMEOUT_SECONDS) -> RespClient:
    """Chirp's own client (every command but pub/sub): see the module docstring."""
    if is_cluster(url):
        return ClusterResp.from_url(url, timeout=timeout)
    return Resp.from_url(url, timeout=timeout)


def redis_py_tls_options(url: str) -> dict[str, Any]:
    """The options that make a redis-py client of ``url`` (one server's, ``rediss://``) check
    the server as ``store_tls`` says; none for ``redis://``, whose connections take none."""
    return _checked_tls() if urlsplit(url).scheme == resp.TLS_SCHEME else {}


def _checked_tls() -> dict[str, Any]:
    """redis-py's TLS options: the certificate and the name dialled checked (``store_tls``)."""
    authority = store_tls.ca_file()
    return {
        "ssl_cert_reqs": "required",
        "ssl_check_hostname": True,
        **({"ssl_ca_certs": str(authority)} if authority else {}),
    }


def pubsub_client(url: str) -> Redis:
    """A redis-py client for pub/sub: see the module docstring."""
    if not is_cluster(url):
        return Redis.from_url(url, **redis_py_tls_options(url))
    cluster = ClusterUrl.parse(url)
    # The seed's address and credentials from its plain-text URL: given a rediss:// one,
    # redis-py would put its own SSLConnection in place of ``connection_class``.
    pool = ConnectionPool.from_url(
        replace(cluster, tls=False).node_url(cluster.seeds[0]),
        connection_class=_AnySeedTls if cluster.tls else _AnySeed,
        seeds=cluster.seeds,
        socket_connect_timeout=TIMEOUT_SECONDS,
        **(_checked_tls() if cluster.tls else {}),
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


class _AnySeedTls(_AnySeed, SSLConnection):
    """``_AnySeed`` over TLS: redis-py's ``SSLConnection`` (its ``ssl_*`` options) dialling each
    seed in turn, each checked under its own name."""
