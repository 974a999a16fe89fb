"""Neo4j community for the local stack, run from Maven Central's ``org.neo4j:neo4j`` jars.

``make install`` copies the jars (devstack/jars/neo4j/pom.xml) into ``.cache/jars/neo4j``;
``neo4j_command`` is the foreground ``CommunityEntryPoint`` command line. Without the neo4j launcher
script nothing turns neo4j.conf's JVM settings into java options, so this module does what the
script's bootloader does: every ``server.jvm.additional`` line of devstack/conf/neo4j/neo4j.conf
becomes a java option, in order, and ``server.memory.heap.initial_size``/``max_size`` become
``-Xms``/``-Xmx``. ``data_dir`` is Neo4j's home directory: the relative directories of neo4j.conf
resolve against it, so stores and transaction logs (``data/``), logs (``logs/``), the run
directory (``run/``) and Bolt's TLS key and certificate (``certificates/bolt/``, see
``install_certificate``) all land under it.
"""

import re
import shutil
from pathlib import Path

from devstack import maven

NAME = "neo4j"
NEO4J_VERSION = "5.26.30"
"""The ``org.neo4j:neo4j`` version pinned in devstack/jars/neo4j/pom.xml."""

ENTRY_POINT = "org.neo4j.server.CommunityEntryPoint"

#: neo4j.conf's Bolt SSL policy: its base directory (under the home directory) and its files.
BOLT_CERTIFICATES = Path("certificates") / "bolt"
BOLT_CERTIFICATE, BOLT_KEY = "store.pem", "store-key.pem"

_JVM_ADDITIONAL = "server.jvm.additional"
_HEAP_FLAGS = {"server.memory.heap.initial_size": "-Xms", "server.memory.heap.max_size": "-Xmx"}
# Sizes java understands; neo4j.conf also takes forms like "512MiB", which java does not.
_JAVA_SIZE = re.compile(r"\d+[kKmMgG]?")


def jvm_options(conf: Path) -> list[str]:
    """The java options a neo4j.conf asks for: heap sizes, then ``server.jvm.additional`` lines."""
    heap: list[str] = []
    additional: list[str] = []
    for raw in conf.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = (part.strip() for part in line.split("=", 1))
        if key == _JVM_ADDITIONAL:
            additional.append(value)
        elif key in _HEAP_FLAGS:
            if not _JAVA_SIZE.fullmatch(value):
                raise ValueError(f"{conf}: {key}={value} must be a java size such as 512m")
            heap.append(_HEAP_FLAGS[key] + value)
    return heap + additional


def neo4j_command(root: Path, data_dir: Path, java: str) -> list[str]:
    """The argv that runs Neo4j in the foreground with ``data_dir`` as its home directory.

    Bolt answers on 127.0.0.1:7687 (plain text, or TLS for a client that asks) and HTTP on
    127.0.0.1:7474. Stop it with SIGTERM: its shutdown hook checkpoints every database and the
    process exits 0 within about a second.
    """
    root, data_dir = root.resolve(), data_dir.resolve()
    jars = maven.jars_dir(root, NAME)
    if not (jars / f"neo4j-{NEO4J_VERSION}.jar").is_file():
        raise FileNotFoundError(f"no neo4j-{NEO4J_VERSION}.jar in {jars}: run `make install`")
    conf = maven.conf_dir(root, NAME)
    return [
        java,
        *jvm_options(conf / "neo4j.conf"),
        "-cp",
        f"{jars}/*",
        ENTRY_POINT,
        f"--home-dir={data_dir}",
        f"--config-dir={conf}",
        "--console-mode",
    ]


def install_certificate(data_dir: Path, certificate: Path, key: Path) -> None:
    """Copies Bolt's TLS certificate and key (the stores' own, ``devstack/tls.py``) into the SSL
    policy's base directory under ``data_dir``: Neo4j reads a policy's files from there, and
    refuses to start when the directory is missing. Copied on every start, so a renewed
    certificate is served; the key stays readable by its owner only."""
    target = data_dir / BOLT_CERTIFICATES
    target.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(certificate, target / BOLT_CERTIFICATE)
    copied_key = target / BOLT_KEY
    copied_key.touch(mode=0o600)
    copied_key.chmod(0o600)
    copied_key.write_bytes(key.read_bytes())
