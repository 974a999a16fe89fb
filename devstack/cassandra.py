"""Apache Cassandra for the local stack, run from Maven Central's ``cassandra-all`` jars.

``make install`` copies the jars named by devstack/jars/cassandra/pom.xml into
``.cache/jars/cassandra``; ``cassandra_command`` is the foreground ``CassandraDaemon`` command
line: the JVM options of devstack/conf/cassandra/jvm17.options, jamm as a java agent (Cassandra
measures objects with it), the node's cassandra.yaml and the dev stack's logback.xml, and
``data_dir`` as Cassandra's storage directory, under which it keeps data, commitlog, hints and
saved caches.

A node runs a copy of devstack/conf/cassandra/cassandra.yaml written under its ``data_dir``
(``write_config``) before each start, beside its TLS keystore: the stores' certificate of the
local authority (``devstack/tls.py``), key and chain in one PEM file, as Cassandra's
``PEMBasedSslContextFactory`` reads it. The yaml names that file only (a path relative to the
copy's folder); the copy names it in full, since Cassandra would read a relative path from its
working directory.

The single node serves JMX on 127.0.0.1 only (``JMX_PORT``), for nodetool (``nodetool_command``):
``make backup`` snapshots the keyspace and ``make restore`` imports the snapshot's files with it.

Cassandra calls mlockall at start, so what is mapped then stays resident: the heap starts small
(-Xms in jvm17.options) to keep the dev node's resident memory modest.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from devstack import maven, tls

NAME = "cassandra"
CASSANDRA_VERSION = "5.0.9"
"""The ``org.apache.cassandra:cassandra-all`` version pinned in devstack/jars/cassandra/pom.xml."""
#: The single node's JMX port (Cassandra's usual), on 127.0.0.1 only.
JMX_PORT = 7199


def jvm_options(path: Path) -> list[str]:
    """The options of a jvm*.options file: one a line, blank lines and ``#`` comments skipped."""
    lines = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def jamm_jar(root: Path) -> Path:
    """The jamm jar among the installed jars; ``FileNotFoundError`` if the jars are missing."""
    found = sorted(maven.jars_dir(root, NAME).glob("jamm-*.jar"))
    if not found:
        raise FileNotFoundError(f"no jamm jar in {maven.jars_dir(root, NAME)}: run `make install`")
    return found[-1]


def node_conf_dir(data_dir: Path) -> Path:
    """Where a node's written configuration is: its cassandra.yaml and TLS keystore."""
    return data_dir / "conf"


def base_config(root: Path) -> dict[str, Any]:
    """devstack/conf/cassandra/cassandra.yaml: the single node's configuration, which the ring's
    nodes derive theirs from."""
    return dict(yaml.safe_load((maven.conf_dir(root, NAME) / "cassandra.yaml").read_text("utf-8")))


def with_keystore(config: dict[str, Any], conf: Path) -> dict[str, Any]:
    """``config`` with its client encryption's keystore, named relative to ``conf`` in the
    yaml, named in full."""
    encryption = config["client_encryption_options"]
    keystore = conf.resolve() / encryption["keystore"]
    return config | {"client_encryption_options": encryption | {"keystore": str(keystore)}}


def write_config(config: dict[str, Any], data_dir: Path, files: tls.Files = tls.FILES) -> None:
    """Writes ``config`` as the node's cassandra.yaml under ``data_dir`` (``with_keystore``), and
    its keystore from the stores' certificate of ``files``, made first if missing or due. The
    keystore holds the key: only its owner may read it."""
    store = tls.ensure(files).store
    conf = node_conf_dir(data_dir)
    conf.mkdir(parents=True, exist_ok=True)
    written = with_keystore(config, conf)
    keystore = Path(written["client_encryption_options"]["keystore"])
    keystore.touch(mode=0o600)
    keystore.chmod(0o600)
    keystore.write_bytes(store.key.read_bytes() + store.certificate.read_bytes())
    header = "# Written from devstack/conf/cassandra/cassandra.yaml at each start: edit that.\n"
    (conf / "cassandra.yaml").write_text(
        header + yaml.safe_dump(written, sort_keys=False), encoding="utf-8"
    )


def cassandra_command(
    root: Path,
    data_dir: Path,
    java: str = "java",
    *,
    options: Sequence[str] = (),
) -> list[str]:
    """The argv that runs one Cassandra node in the foreground, its files under ``data_dir``
    (its cassandra.yaml written there first by ``write_config``).

    ``options`` come after jvm17.options' and so win over them (a second ``-Xmx``, say).
    Stop it with SIGTERM: its shutdown hook drains the node and flushes the commit log.
    """
    root, data_dir = root.resolve(), data_dir.resolve()
    conf = maven.conf_dir(root, NAME)
    config = node_conf_dir(data_dir) / "cassandra.yaml"
    return [
        java,
        *jvm_options(conf / "jvm17.options"),
        *options,
        f"-javaagent:{jamm_jar(root)}",
        f"-Dcassandra.config={config.as_uri()}",
        f"-Dlogback.configurationFile={(conf / 'logback.xml').as_uri()}",
        f"-Dcassandra.storagedir={data_dir}",
        f"-Dcassandra.logdir={data_dir / 'logs'}",
        # No triggers: an existing folder without jars keeps Cassandra from warning about it.
        f"-Dcassandra.triggers_dir={conf}",
        f"-XX:HeapDumpPath={data_dir}",
        f"-XX:ErrorFile={data_dir / 'hs_err_pid%p.log'}",
        "-Dcassandra-foreground=yes",
        "-cp",
        f"{maven.jars_dir(root, 'cassandra')}/*",
        "org.apache.cassandra.service.CassandraDaemon",
    ]


def jmx_options(port: int) -> list[str]:
    """The JVM options that serve JMX on 127.0.0.1 only, at ``port`` (RMI on the same port)."""
    return [f"-Dcassandra.jmx.local.port={port}", f"-Dcom.sun.management.jmxremote.rmi.port={port}"]


def nodetool_command(root: Path, jmx_port: int, *arguments: str, java: str = "java") -> list[str]:
    """nodetool run against the node whose JMX is on ``jmx_port`` (``status``, ``snapshot``,
    ``import``, ...): on Java 17 it needs two JDK packages exported to it; it logs warnings only,
    to stderr, so stdout is its answer."""
    return [
        java,
        "--add-exports=java.base/jdk.internal.ref=ALL-UNNAMED",
        "--add-exports=java.base/sun.nio.ch=ALL-UNNAMED",
        "-Dlogback.configurationFile="
        + (maven.conf_dir(root, NAME) / "logback-tools.xml").resolve().as_uri(),
        "-cp",
        f"{maven.jars_dir(root, NAME).resolve()}/*",
        "org.apache.cassandra.tools.NodeTool",
        "-h", "127.0.0.1",
        "-p", str(jmx_port),
        *arguments,
    ]  # fmt: skip
