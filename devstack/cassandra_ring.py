"""A three-node Apache Cassandra ring on loopback: production's shape for Chirp's tables.

Each node is the dev stack's Cassandra (``devstack/cassandra.py``: the same jars, JVM options
and logging) on its own loopback address (Linux routes all of 127/8 to ``lo``), so all three keep
the usual ports, 9042 for CQL and 7000 between nodes. ``write_node_config`` writes a node's
cassandra.yaml, derived from the single node's (``node_config``), and ``node_command`` runs it.

A node is ready when it answers CQL on its address and sees the other two up
(``probes.cassandra_node``); the ring, when all three are (``probes.cassandra_ring``).

Chirp uses the ring through ``CHIRP_CASSANDRA_HOSTS`` (``contact_points()``) and keeps every
table on all three nodes with ``CHIRP_CASSANDRA_REPLICATION`` (``REPLICATION``); it reads and
writes at LOCAL_QUORUM (``services/platform/cql.py``), so any one node can die without an
acknowledged write lost or a request refused.

Like the single node, each takes CQL clients over TLS on 9042 beside plain ones, with the
cluster shape's own certificate of the stores (``.data-cluster/tls/store.pem``, which names the
three addresses), since a node's configuration is the single node's (``write_node_config``).

Each node also serves JMX on 127.0.0.1 only, at its own port (``Ring.jmx_ports``), for nodetool
(``nodetool_command``): ``status`` says what each node thinks of the others; ``repair`` brings
back in line a node that was down longer than the hint window (3 h).

A node keeps the tokens it started with in its data, so a node whose data was deleted cannot
simply rejoin (the others know its address with another host id): delete all three nodes' data
for a clean slate.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devstack import cassandra, tls

CLUSTER_NAME = "chirp-ring"
#: The snitch's datacenter: SimpleSnitch's (the single node's), so that one
#: ``CHIRP_CASSANDRA_LOCAL_DC`` default serves both shapes.
DATACENTER = "datacenter1"
RACK = "rack1"
#: ``CHIRP_CASSANDRA_REPLICATION`` on the ring: a copy of every row on each of the three nodes.
REPLICATION = f"{{'class': 'NetworkTopologyStrategy', '{DATACENTER}': 3}}"
#: Each node's heap ceiling (the single node's is 768 MiB): three nodes next to the rest of the
#: stack. A node measured 0.7 GiB resident after start and 0.9 GiB under a write/read loop.
HEAP = "-Xmx512M"


@dataclass(frozen=True)
class Ring:
    """Where the nodes are: one loopback address and one JMX port each."""

    addresses: tuple[str, ...] = ("127.0.0.1", "127.0.0.2", "127.0.0.3")
    jmx_ports: tuple[int, ...] = (7200, 7201, 7202)

    def contact_points(self) -> str:
        """Every node's address, comma-separated, as ``CHIRP_CASSANDRA_HOSTS`` takes them."""
        return ",".join(self.addresses)


#: The ring of the local stack's cluster shape.
RING = Ring()

_MURMUR3_MIN = -(2**63)


def initial_token(index: int, nodes: int) -> int:
    """Node ``index``'s one token: the nodes split Murmur3's ring evenly."""
    return _MURMUR3_MIN + index * 2**64 // nodes


def node_config(index: int, base: dict[str, Any], ring: Ring = RING) -> dict[str, Any]:
    """Node ``index``'s cassandra.yaml: the single node's (``base``) made a member of ``ring``.

    - Every node is a seed and none bootstraps, so all three can start at once on a fresh ring:
      a node that is not a seed refuses to start until a seed answers it, and bootstrapping
      (streaming its ranges from their owners) has nothing to stream from on a fresh ring and
      needs the others settled first. Each node takes one fixed token (``initial_token``), so no
      node needs to see the others' tokens to choose its own.
    - GossipingPropertyFileSnitch, as production runs, with SimpleSnitch's datacenter name
      (its ``cassandra-rackdc.properties`` is written beside the yaml).
    - Periodic commitlog sync (every 10 s): a node killed between two syncs comes back without
      its last writes, but each one acknowledged at QUORUM is also on another node's commitlog,
      so one dead node loses nothing acknowledged (the single node must sync every write, see
      its yaml). Two nodes killed within one period could; on one machine the three share a
      kernel, so a machine crash can take all three at once.
    - Hints on: the writes a node missed while down are replayed to it when it is back.
    - A dead node is convicted sooner (``phi_convict_threshold`` 5, the lowest Cassandra takes,
      not 8): until it is, its peers still pick it to hold a logged batch's batchlog (the two
      other nodes of a three-node ring are the only candidates, and no
      ``batchlog_endpoint_strategy`` chooses fewer), so those batches time out and are tried
      again (``services/platform/cql.py``). With gossip's 1 s heartbeats, phi 5 convicts about
      5 / 0.434 = 11.5 s after the last one (8: 18.4 s; the chaos test measured 17 s of failed
      posts at 8, about 12 s at 5), whether or not the supervisor has started the node again
      (it boots for longer than that). What remains is a write path that needs no logged
      batch across partitions (the performance issue on writes).
    """
    address = ring.addresses[index]
    storage_port = base["storage_port"]
    config = {key: value for key, value in base.items() if key != "commitlog_sync_group_window"}
    seeds = ",".join(f"{seed}:{storage_port}" for seed in ring.addresses)
    return config | {
        "cluster_name": CLUSTER_NAME,
        "num_tokens": 1,
        "initial_token": str(initial_token(index, len(ring.addresses))),
        "auto_bootstrap": False,
        "listen_address": address,
        "broadcast_address": address,
        "rpc_address": address,
        "broadcast_rpc_address": address,
        "seed_provider": [
            {
                "class_name": "org.apache.cassandra.locator.SimpleSeedProvider",
                "parameters": [{"seeds": seeds}],
            }
        ],
        "endpoint_snitch": "GossipingPropertyFileSnitch",
        "commitlog_sync": "periodic",
        "commitlog_sync_period": "10000ms",
        "hinted_handoff_enabled": True,
        "phi_convict_threshold": 5,
    }


def write_node_config(
    index: int, root: Path, data_dir: Path, ring: Ring = RING, files: tls.Files = tls.FILES
) -> None:
    """Writes node ``index``'s cassandra.yaml, its TLS keystore (from the stores' certificate of
    ``files``, this shape's, which names every node's address: ``cassandra.write_config``) and
    its cassandra-rackdc.properties under ``data_dir``/conf (its storage directory is
    ``data_dir``)."""
    cassandra.write_config(node_config(index, cassandra.base_config(root), ring), data_dir, files)
    (cassandra.node_conf_dir(data_dir) / "cassandra-rackdc.properties").write_text(
        f"dc={DATACENTER}\nrack={RACK}\n", encoding="utf-8"
    )


def node_command(
    index: int, root: Path, data_dir: Path, java: str = "java", ring: Ring = RING
) -> list[str]:
    """The argv of node ``index`` (0, 1 or 2), its files under ``data_dir`` (written first by
    ``write_node_config``): a smaller heap, and JMX on 127.0.0.1 at the node's own port (its
    RMI objects too, or they would take a random port)."""
    conf = cassandra.node_conf_dir(data_dir.resolve())
    jmx_port = ring.jmx_ports[index]
    return cassandra.cassandra_command(
        root,
        data_dir,
        java,
        options=[
            HEAP,
            f"-Dcassandra-rackdc.properties={(conf / 'cassandra-rackdc.properties').as_uri()}",
            *cassandra.jmx_options(jmx_port),
        ],
    )


def nodetool_command(
    index: int, root: Path, *arguments: str, java: str = "java", ring: Ring = RING
) -> list[str]:
    """nodetool run against node ``index`` (``status``, ``repair``, ...)."""
    return cassandra.nodetool_command(root, ring.jmx_ports[index], *arguments, java=java)
