"""Chirp's events on the three-node NATS cluster (``devstack/nats_cluster.py``), as the cluster
suite runs it: ``CHIRP_NATS_URL`` lists the three nodes and ``CHIRP_NATS_REPLICAS`` is 3. The
stream and every consumer live on all three nodes, and an event published through one node is
consumed through another. (Killing a node is the chaos test's part.)"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest
from nats.aio.msg import Msg
from nats.js.api import ClusterInfo
from nats.js.client import JetStreamContext

from devstack.nats_cluster import SERVER_NAMES
from services.platform.background import in_background
from services.platform.consumers import DurableConsumer, close_connection, connect
from services.platform.events import CONSUMERS, STREAM, durable
from services.platform.settings import StoreSettings
from tests.integration.streams import temporary_consumer
from tests.polling import WAIT_SECONDS, eventually

pytestmark = pytest.mark.cluster

SETTINGS = StoreSettings()
REPLICAS = len(SERVER_NAMES)


@pytest.fixture
async def jetstream() -> AsyncIterator[JetStreamContext]:
    connection = await connect(SETTINGS.nats_url)
    yield connection.jetstream()
    await close_connection(connection)


def _on_every_node(cluster: ClusterInfo | None) -> bool:
    """Whether ``cluster`` has a leader and a current replica on each other node."""
    if cluster is None or cluster.leader is None:
        return False
    replicas = cluster.replicas or []
    return all(replica.current for replica in replicas) and {
        cluster.leader,
        *(replica.name for replica in replicas),
    } == set(SERVER_NAMES)


def test_the_settings_name_the_three_nodes() -> None:
    assert len(SETTINGS.nats_servers) == REPLICAS
    assert SETTINGS.nats_replicas == REPLICAS


async def test_the_stream_has_a_leader_and_two_current_replicas(
    jetstream: JetStreamContext,
) -> None:
    info = await eventually(
        lambda: jetstream.stream_info(STREAM.name or ""), lambda i: _on_every_node(i.cluster)
    )
    assert info.config.num_replicas == REPLICAS


@pytest.mark.parametrize("name", [c.durable_name or "" for c in CONSUMERS])
async def test_each_consumer_is_on_every_node(jetstream: JetStreamContext, name: str) -> None:
    await eventually(
        lambda: jetstream.consumer_info(STREAM.name or "", name),
        lambda i: _on_every_node(i.cluster),
    )


async def test_an_event_published_through_one_node_is_consumed_through_another() -> None:
    publishing, consuming = SETTINGS.nats_servers[:2]
    # A subject of the stream that no consumer of the product takes.
    subject = f"tweets.cluster-check.{uuid.uuid4().hex}"
    config = durable(f"test-cluster-{uuid.uuid4().hex[:10]}", "a test's", [subject])
    received: list[bytes] = []
    arrived = asyncio.Event()

    async def handle(messages: list[Msg]) -> None:
        received.extend(message.data for message in messages)
        await asyncio.gather(*(message.ack() for message in messages))
        arrived.set()

    async with temporary_consumer(config):
        publisher = await connect(publishing)
        try:
            assert publisher.connected_url is not None
            assert publisher.connected_url.port == urlsplit(publishing).port
            ack = await publisher.jetstream().publish(subject, b"across")
        finally:
            await close_connection(publisher)
        assert ack.stream == STREAM.name
        async with in_background(DurableConsumer(consuming, config, handle).run):
            async with asyncio.timeout(WAIT_SECONDS):
                await arrived.wait()
        assert received == [b"across"]
