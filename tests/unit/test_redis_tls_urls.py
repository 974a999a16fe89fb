"""TLS to Redis chosen by the URL (``services/platform/redis_clients.py``): ``rediss://`` and
``rediss+cluster://`` give clients that check the server as ``store_tls`` says, ``redis://``
and ``redis+cluster://`` plain ones. (Against the real server: test_redis_tls.py.)"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis.asyncio.connection import Connection, SSLConnection

from devstack import tls
from services.platform import store_tls
from services.platform.redis_clients import (
    is_cluster,
    pubsub_client,
    redis_py_tls_options,
    resp_client,
)
from services.platform.resp import Resp
from services.platform.resp_cluster import ClusterResp, ClusterUrl

CHECKED = {"ssl_cert_reqs": "required", "ssl_check_hostname": True}


def test_a_tls_cluster_url_gives_every_node_a_tls_url() -> None:
    url = ClusterUrl.parse("rediss+cluster://:s%40cret@10.0.0.1:7001,[::1]:7002")
    assert (url.seeds, url.tls) == ((("10.0.0.1", 7001), ("::1", 7002)), True)
    assert url.node_url(("10.0.0.3", 7003)) == "rediss://:s%40cret@10.0.0.3:7003"
    assert url.node_url(("::1", 7002)) == "rediss://:s%40cret@[::1]:7002"
    assert not ClusterUrl.parse("redis+cluster://10.0.0.1:7001").tls
    assert is_cluster("rediss+cluster://10.0.0.1:7001")
    assert not is_cluster("rediss://10.0.0.1:6380")
    with pytest.raises(ValueError, match="rediss\\+cluster"):
        ClusterUrl.parse("rediss://10.0.0.1:6380")


@pytest.fixture
def authority(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """A throwaway authority, the one ``CHIRP_STORE_TLS_CA_FILE`` names."""
    ca = tls.ensure(tls.Files.under(tmp_path)).ca
    monkeypatch.setenv("CHIRP_STORE_TLS_CA_FILE", str(ca))
    store_tls.client_context.cache_clear()
    yield ca
    store_tls.client_context.cache_clear()


def test_redis_py_checks_a_tls_server_against_the_store_authority(
    monkeypatch: pytest.MonkeyPatch, authority: Path
) -> None:
    assert redis_py_tls_options("rediss://10.0.0.1:6380/0") == {
        **CHECKED,
        "ssl_ca_certs": str(authority),
    }
    assert redis_py_tls_options("redis://10.0.0.1:6379/0") == {}
    monkeypatch.delenv("CHIRP_STORE_TLS_CA_FILE")
    assert redis_py_tls_options("rediss://10.0.0.1:6380/0") == CHECKED  # the system's authorities


async def test_a_tls_url_chooses_tls_clients(authority: Path) -> None:
    assert isinstance(resp_client("rediss://127.0.0.1:6380/0"), Resp)
    assert isinstance(resp_client("rediss+cluster://127.0.0.1:7001", timeout=0.5), ClusterResp)
    one = pubsub_client("rediss://127.0.0.1:6380/0").connection_pool
    assert one.connection_class is SSLConnection
    assert one.connection_kwargs["ssl_ca_certs"] == str(authority)
    seeded = pubsub_client("rediss+cluster://reader@127.0.0.1:7001,127.0.0.1:7002").connection_pool
    assert issubclass(seeded.connection_class, SSLConnection)
    assert seeded.connection_kwargs["seeds"] == (("127.0.0.1", 7001), ("127.0.0.1", 7002))
    assert seeded.connection_kwargs["username"] == "reader"
    assert seeded.connection_kwargs["ssl_ca_certs"] == str(authority)
    plain = pubsub_client("redis+cluster://127.0.0.1:7001").connection_pool
    assert issubclass(plain.connection_class, Connection)
    assert not issubclass(plain.connection_class, SSLConnection)
    await asyncio.gather(one.aclose(), seeded.aclose(), plain.aclose())
