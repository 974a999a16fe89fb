"""Chirp's tables on one Cassandra node or on a three-node ring: each node's cassandra.yaml is the
single node's made a member of the ring (``devstack/cassandra_ring.py``), written with the path
of its TLS keystore in full (``devstack/cassandra.py``), and Chirp's session routes to replicas
in its datacenter and waits for a quorum of them there."""

from __future__ import annotations

import ipaddress
import stat
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from cassandra import ConsistencyLevel
from cassandra.cluster import EXEC_PROFILE_DEFAULT
from cassandra.connection import DefaultEndPoint
from cassandra.policies import HostDistance, SimpleConvictionPolicy, TokenAwarePolicy
from cassandra.pool import Host
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from devstack import cassandra, tls
from devstack.cassandra_ring import (
    CLUSTER_NAME,
    DATACENTER,
    HEAP,
    REPLICATION,
    RING,
    Ring,
    initial_token,
    node_command,
    node_config,
    nodetool_command,
    write_node_config,
)
from devstack.paths import ROOT
from services.platform import cql, migrate
from services.platform.settings import StoreSettings

BASE_FILE = ROOT / "devstack/conf/cassandra/cassandra.yaml"
BASE = yaml.safe_load(BASE_FILE.read_text())
SCRATCH = Ring(addresses=("127.0.0.11", "127.0.0.12", "127.0.0.13"), jmx_ports=(7210, 7211, 7212))
#: What a ring node changes in the single node's cassandra.yaml; everything else is kept.
RING_KEYS = {
    "cluster_name", "num_tokens", "initial_token", "auto_bootstrap", "listen_address",
    "broadcast_address", "rpc_address", "broadcast_rpc_address", "seed_provider",
    "endpoint_snitch", "commitlog_sync", "commitlog_sync_period", "commitlog_sync_group_window",
    "hinted_handoff_enabled", "phi_convict_threshold",
}  # fmt: skip


def test_the_single_node_binds_loopback_127_0_0_1_only() -> None:
    """So a ring elsewhere in 127/8 (a scratch one on 127.0.0.11 to .13, say) can take the same
    ports beside it."""
    assert (BASE["listen_address"], BASE["rpc_address"]) == ("127.0.0.1", "127.0.0.1")


@pytest.mark.parametrize("ring", [RING, SCRATCH])
def test_each_node_is_a_seed_on_its_own_address(ring: Ring) -> None:
    seeds = ",".join(f"{address}:7000" for address in ring.addresses)
    for index, address in enumerate(ring.addresses):
        config = node_config(index, BASE, ring)
        assert config["cluster_name"] == CLUSTER_NAME
        for key in ("listen_address", "broadcast_address", "rpc_address", "broadcast_rpc_address"):
            assert config[key] == address
        assert config["seed_provider"][0]["parameters"] == [{"seeds": seeds}]
        assert (config["storage_port"], config["native_transport_port"]) == (7000, 9042)
        assert config["auto_bootstrap"] is False


def test_the_nodes_split_the_token_ring_evenly() -> None:
    tokens = [int(node_config(index, BASE)["initial_token"]) for index in range(3)]
    assert tokens == [-(2**63), -3074457345618258603, 3074457345618258602]
    assert {node_config(index, BASE)["num_tokens"] for index in range(3)} == {1}
    assert initial_token(1, 2) == 0


def test_a_ring_node_keeps_the_rest_of_the_single_nodes_configuration() -> None:
    config = node_config(1, BASE)
    assert {key: value for key, value in config.items() if key not in RING_KEYS} == {
        key: value for key, value in BASE.items() if key not in RING_KEYS
    }
    # A quorum of three replicas keeps what one killed node had not synced yet.
    assert (config["commitlog_sync"], config["commitlog_sync_period"]) == ("periodic", "10000ms")
    assert "commitlog_sync_group_window" not in config
    assert config["hinted_handoff_enabled"] is True
    assert config["phi_convict_threshold"] == 5  # a dead node convicted sooner
    assert config["endpoint_snitch"] == "GossipingPropertyFileSnitch"


def test_the_ring_and_chirp_agree_on_the_datacenter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CHIRP_CASSANDRA_LOCAL_DC", raising=False)
    assert StoreSettings().cassandra_local_dc == DATACENTER
    assert REPLICATION == "{'class': 'NetworkTopologyStrategy', 'datacenter1': 3}"
    assert RING.contact_points() == "127.0.0.1,127.0.0.2,127.0.0.3"


def test_the_written_configuration_is_the_derived_one(tmp_path: Path) -> None:
    write_node_config(2, ROOT, tmp_path, SCRATCH, tls.Files.under(tmp_path / "tls"))
    conf = tmp_path / "conf"
    written = yaml.safe_load((conf / "cassandra.yaml").read_text())
    assert written == cassandra.with_keystore(node_config(2, BASE, SCRATCH), conf)
    rackdc = (conf / "cassandra-rackdc.properties").read_text()
    assert rackdc.splitlines() == [f"dc={DATACENTER}", "rack=rack1"]


def test_the_single_node_takes_cql_over_tls_beside_plain_text_without_client_certificates() -> None:
    assert BASE["client_encryption_options"] == {
        "enabled": True,
        "optional": True,
        "ssl_context_factory": {
            "class_name": "org.apache.cassandra.security.PEMBasedSslContextFactory"
        },
        "keystore": "keystore.pem",
        "require_client_auth": False,
    }


@pytest.mark.parametrize("index", range(3))
def test_each_ring_node_takes_tls_with_a_keystore_certifying_its_address(
    tmp_path: Path, index: int
) -> None:
    """As the single node does: the node's keystore is this shape's stores' certificate, with
    its key, and the certificate names the node's address (the one its clients dial)."""
    files = tls.Files.under(tmp_path / "tls")
    data_dir = tmp_path / f"cassandra-{index + 1}"
    write_node_config(index, ROOT, data_dir, RING, files)
    written = yaml.safe_load((data_dir / "conf" / "cassandra.yaml").read_text())
    encryption = written["client_encryption_options"]
    keystore = Path(encryption["keystore"])
    assert keystore == (data_dir / "conf" / "keystore.pem").resolve()
    assert encryption | {"keystore": "keystore.pem"} == BASE["client_encryption_options"]
    assert stat.S_IMODE(keystore.stat().st_mode) == 0o600
    key, certificate = _keystore(keystore)
    assert certificate == files.store.certificate.read_bytes()
    assert key.public_key() == x509.load_pem_x509_certificate(certificate).public_key()
    names = x509.load_pem_x509_certificate(certificate).extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    )
    assert ipaddress.ip_address(RING.addresses[index]) in names.value.get_values_for_type(
        x509.IPAddress
    )


def test_the_single_nodes_written_configuration_is_its_yaml_with_the_keystore_in_full(
    tmp_path: Path,
) -> None:
    files = tls.Files.under(tmp_path / "tls")
    cassandra.write_config(BASE, tmp_path / "cassandra", files)
    conf = (tmp_path / "cassandra" / "conf").resolve()
    written = yaml.safe_load((conf / "cassandra.yaml").read_text())
    assert written == cassandra.with_keystore(BASE, conf)
    assert cassandra.with_keystore(BASE, conf)["client_encryption_options"]["keystore"] == str(
        conf / "keystore.pem"
    )
    key, certificate = _keystore(conf / "keystore.pem")
    assert certificate == files.store.certificate.read_bytes()
    assert key.private_numbers() == _private_key(files.store.key.read_bytes()).private_numbers()


def _keystore(path: Path) -> tuple[ec.EllipticCurvePrivateKey, bytes]:
    """A keystore's key and the certificate after it, as PEMBasedSslContextFactory reads them."""
    pem = path.read_bytes()
    end_of_key = b"-----END PRIVATE KEY-----\n"
    key, certificate = pem.split(end_of_key)
    return _private_key(key + end_of_key), certificate


def _private_key(pem: bytes) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


def _jamm(root: Path) -> Path:
    return root / "jamm.jar"


def test_a_node_runs_its_own_configuration_with_a_smaller_heap_and_its_own_jmx_port(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cassandra, "jamm_jar", _jamm)
    argv = node_command(1, ROOT, tmp_path, "java", SCRATCH)
    conf = tmp_path.resolve() / "conf"
    assert f"-Dcassandra.config={(conf / 'cassandra.yaml').as_uri()}" in argv
    rackdc = (conf / "cassandra-rackdc.properties").as_uri()
    assert f"-Dcassandra-rackdc.properties={rackdc}" in argv
    assert f"-Dcassandra.storagedir={tmp_path.resolve()}" in argv
    # The last -Xmx wins: the ring's, after jvm17.options' own.
    assert [option for option in argv if option.startswith("-Xmx")][-1] == HEAP
    assert "-Dcassandra.jmx.local.port=7211" in argv
    assert "-Dcom.sun.management.jmxremote.rmi.port=7211" in argv
    assert argv[-1] == "org.apache.cassandra.service.CassandraDaemon"
    # Otherwise the single node's command line.
    single = cassandra.cassandra_command(ROOT, tmp_path)
    assert single == [option for option in argv if not _ring_only(option)]


def _ring_only(option: str) -> bool:
    return option == HEAP or option.startswith(
        ("-Dcassandra-rackdc", "-Dcassandra.jmx", "-Dcom.sun.management")
    )


def test_nodetool_asks_the_nodes_jmx_port_on_loopback() -> None:
    argv = nodetool_command(2, ROOT, "status", java="/opt/java")
    assert argv[0] == "/opt/java"
    assert argv[-6:] == [
        "org.apache.cassandra.tools.NodeTool",
        "-h",
        "127.0.0.1",
        "-p",
        "7202",
        "status",
    ]


def _host(address: str, datacenter: str) -> Host:
    return Host(DefaultEndPoint(address), SimpleConvictionPolicy, datacenter, "rack1", uuid.uuid4())


def test_chirps_session_is_token_aware_in_its_datacenter_at_local_quorum(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CHIRP_CASSANDRA_HOSTS", RING.contact_points())
    monkeypatch.setenv("CHIRP_CASSANDRA_LOCAL_DC", "dc-east")
    cluster = cql.cluster(StoreSettings())
    assert cluster.contact_points == list(RING.addresses)
    profile = cluster.profile_manager.profiles[EXEC_PROFILE_DEFAULT]
    assert profile.consistency_level == ConsistencyLevel.LOCAL_QUORUM
    assert profile.serial_consistency_level == ConsistencyLevel.LOCAL_SERIAL
    policy = profile.load_balancing_policy
    assert isinstance(policy, TokenAwarePolicy)
    # Only the local datacenter's nodes are queried.
    assert policy.distance(_host("127.0.0.1", "dc-east")) == HostDistance.LOCAL
    assert policy.distance(_host("10.0.0.1", "dc-west")) == HostDistance.IGNORED


def _session(*, agreed: bool) -> Any:
    """A session whose every statement is a schema change, ``agreed`` on in time or not."""
    result = SimpleNamespace(response_future=SimpleNamespace(is_schema_agreed=agreed))
    return SimpleNamespace(execute=lambda *_args, **_options: result)


def test_a_schema_change_not_agreed_in_time_stops_the_migration() -> None:
    statement = "CREATE TABLE t (k int PRIMARY KEY)"
    migrate.change_schema(_session(agreed=True), statement)
    with pytest.raises(migrate.SchemaDisagreement, match="CREATE TABLE t"):
        migrate.change_schema(_session(agreed=False), statement)
