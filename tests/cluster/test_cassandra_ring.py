"""Chirp's tables on the three-node Cassandra ring (``devstack/cassandra_ring.py``), as the cluster
suite runs it: ``CHIRP_CASSANDRA_HOSTS`` lists the three nodes and ``CHIRP_CASSANDRA_REPLICATION``
keeps three copies in the local datacenter. Every node sees the other two up, Chirp's session
knows all three and routes by token, and a write at LOCAL_QUORUM is read back through each node.
(Killing a node is the chaos test's part.)"""

from __future__ import annotations

import re
import subprocess
import uuid
from collections.abc import Iterator

import pytest
from cassandra import ConsistencyLevel
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Session
from cassandra.policies import TokenAwarePolicy

from devstack import probes
from devstack.cassandra_ring import nodetool_command
from devstack.maven import find_java17
from devstack.paths import ROOT
from services.platform.settings import StoreSettings

pytestmark = pytest.mark.cluster

SETTINGS = StoreSettings()
NODES = tuple(SETTINGS.cassandra_contact_points)
DATACENTER = SETTINGS.cassandra_local_dc


def test_the_settings_name_three_nodes() -> None:
    assert len(NODES) == 3


def test_each_node_sees_the_other_two_up() -> None:
    assert probes.cassandra_ring(NODES) is None


@pytest.mark.parametrize("index", range(3))
def test_nodetool_on_each_node_finds_all_three_up_and_normal(index: int) -> None:
    """Each node's own view, through its JMX port (``RING.jmx_ports``)."""
    status = subprocess.run(
        nodetool_command(index, ROOT, "status", java=find_java17()),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    # A node's row: its state (Up or Down, then Normal, Leaving, Joining or Moving), its address.
    nodes = [line.split()[:2] for line in status.splitlines() if re.match(r"[UD][NLJM] ", line)]
    assert sorted(nodes) == [["UN", node] for node in sorted(NODES)]
    assert f"Datacenter: {DATACENTER}" in status


def test_the_keyspace_keeps_three_copies_in_the_local_datacenter(session: Session) -> None:
    row = session.execute(
        "SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = %s",
        (SETTINGS.cassandra_keyspace,),
    ).one()
    assert dict(row.replication) == {
        "class": "org.apache.cassandra.locator.NetworkTopologyStrategy",
        DATACENTER: "3",
    }


def test_the_session_knows_every_node_and_routes_to_replicas(session: Session) -> None:
    hosts = session.cluster.metadata.all_hosts()
    assert sorted(host.address for host in hosts) == sorted(NODES)
    assert all(host.is_up and host.datacenter == DATACENTER for host in hosts)
    policy = session.cluster.profile_manager.profiles[EXEC_PROFILE_DEFAULT].load_balancing_policy
    assert isinstance(policy, TokenAwarePolicy)
    # Every node holds a copy of every partition, so each one is a replica.
    key = session.prepare("SELECT user_id FROM users_by_username WHERE username_folded = ?").bind(
        ("anyone",)
    )
    replicas = session.cluster.metadata.get_replicas(SETTINGS.cassandra_keyspace, key.routing_key)
    assert sorted(host.address for host in replicas) == sorted(NODES)
    assert next(iter(policy.make_query_plan(SETTINGS.cassandra_keyspace, key))) in replicas


@pytest.fixture
def username(session: Session) -> Iterator[str]:
    name = f"ring_{uuid.uuid4().hex[:12]}"
    yield name
    session.execute("DELETE FROM users_by_username WHERE username_folded = %s", (name,))


def test_a_write_at_local_quorum_is_read_back_through_every_node(
    session: Session, username: str
) -> None:
    claim = "INSERT INTO users_by_username (username_folded, user_id) VALUES (%s, %s) IF NOT EXISTS"
    assert session.execute(claim, (username, 1)).one().applied
    assert not session.execute(claim, (username, 2)).one().applied
    session.execute(
        "UPDATE users_by_username SET user_id = 3 WHERE username_folded = %s", (username,)
    )
    for host in session.cluster.metadata.all_hosts():
        result = session.execute(
            "SELECT user_id FROM users_by_username WHERE username_folded = %s",
            (username,),
            host=host,
        )
        assert result.response_future.coordinator_host == host
        assert result.response_future.message.consistency_level == ConsistencyLevel.LOCAL_QUORUM
        assert result.one().user_id == 3
