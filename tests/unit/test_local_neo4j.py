"""The local Neo4j's Bolt TLS files (``devstack/neo4j.py``): the stores' certificate and key,
copied where neo4j.conf's SSL policy reads them, the key private, a renewed pair copied over."""

from __future__ import annotations

import stat
from pathlib import Path

from devstack import neo4j, tls

CONF = Path(__file__).resolve().parents[2] / "devstack" / "conf" / "neo4j" / "neo4j.conf"


def _policy() -> dict[str, str]:
    prefix = "dbms.ssl.policy.bolt."
    lines = (line.partition("=") for line in CONF.read_text().splitlines())
    return {key.removeprefix(prefix): value for key, _, value in lines if key.startswith(prefix)}


def test_the_stores_pair_lands_where_the_bolt_policy_reads_it(tmp_path: Path) -> None:
    store = tls.ensure(tls.Files.under(tmp_path / "tls")).store
    home = tmp_path / "neo4j"
    neo4j.install_certificate(home, store.certificate, store.key)
    policy = _policy()
    base = home / policy["base_directory"]
    assert (base / policy["public_certificate"]).read_bytes() == store.certificate.read_bytes()
    key = base / policy["private_key"]
    assert key.read_bytes() == store.key.read_bytes()
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_a_renewed_pair_replaces_the_copied_one(tmp_path: Path) -> None:
    home = tmp_path / "neo4j"
    first = tls.ensure(tls.Files.under(tmp_path / "first")).store
    renewed = tls.ensure(tls.Files.under(tmp_path / "renewed")).store
    neo4j.install_certificate(home, first.certificate, first.key)
    neo4j.install_certificate(home, renewed.certificate, renewed.key)
    base = home / neo4j.BOLT_CERTIFICATES
    assert (base / neo4j.BOLT_CERTIFICATE).read_bytes() == renewed.certificate.read_bytes()
    assert (base / neo4j.BOLT_KEY).read_bytes() == renewed.key.read_bytes()
