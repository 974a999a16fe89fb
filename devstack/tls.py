"""The local stack's certificates: a certificate authority made on first start, and from it
the gateway's certificate, so Envoy serves HTTPS on localhost that clients can verify, the
services' own, for mutual TLS between them (``CHIRP_MTLS_*``, ``services/platform/mtls.py``),
and the stores', for their TLS listeners (``CHIRP_STORE_TLS_*``, ``store_tls.py``).

``.data/tls/`` (``.data-cluster/tls/``) holds ``ca.pem`` (give it to curl's ``--cacert`` or a
client's trust store; its key, ``ca-key.pem``, never leaves the directory), ``gateway.pem`` and
``gateway-key.pem``, ``mesh.pem`` and ``mesh-key.pem`` (for the mesh's name, as server and as
client), ``store.pem`` and ``store-key.pem`` (for the stores' addresses). The authority is kept
across starts, so a client that trusts it once keeps trusting the stack; a certificate is made
again when it is missing, no longer from that authority, or within ``RENEW_BEFORE`` of its end.
Production brings its own certificates (``docker-compose.yml``'s secrets).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from devstack.paths import DATA
from services.platform.settings import MESH_SERVER_NAME, MutualTlsSettings

DIRECTORY = DATA / "tls"
#: The names the gateway answers to on this machine.
GATEWAY_NAMES = ("localhost",)
GATEWAY_ADDRESSES = ("127.0.0.1", "::1")
#: Where the stores' TLS listeners are: every store's address in either shape.
STORE_NAMES = ("localhost",)
STORE_ADDRESSES = ("127.0.0.1", "127.0.0.2", "127.0.0.3")
CA_LIFETIME = dt.timedelta(days=3650)
LEAF_LIFETIME = dt.timedelta(days=397)  # the longest browsers accept
RENEW_BEFORE = dt.timedelta(days=30)


@dataclass(frozen=True)
class Leaf:
    """A certificate of the authority: its files, whom it names, what it may be used for."""

    certificate: Path
    key: Path
    names: tuple[str, ...]
    addresses: tuple[str, ...]
    usages: tuple[ObjectIdentifier, ...]


@dataclass(frozen=True)
class Files:
    ca: Path
    ca_key: Path
    gateway: Leaf
    mesh: Leaf
    store: Leaf

    @classmethod
    def under(cls, directory: Path) -> Files:
        return cls(
            directory / "ca.pem",
            directory / "ca-key.pem",
            Leaf(
                directory / "gateway.pem",
                directory / "gateway-key.pem",
                GATEWAY_NAMES,
                GATEWAY_ADDRESSES,
                (ExtendedKeyUsageOID.SERVER_AUTH,),
            ),
            Leaf(
                directory / "mesh.pem",
                directory / "mesh-key.pem",
                (MESH_SERVER_NAME,),
                (),
                (ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH),
            ),
            Leaf(
                directory / "store.pem",
                directory / "store-key.pem",
                STORE_NAMES,
                STORE_ADDRESSES,
                (ExtendedKeyUsageOID.SERVER_AUTH,),
            ),
        )


FILES = Files.under(DIRECTORY)


def ensure(files: Files = FILES, now: dt.datetime | None = None) -> Files:
    """Makes whatever of ``files`` is missing or due (see the module docstring)."""
    now = now or dt.datetime.now(dt.UTC)
    files.ca.parent.mkdir(parents=True, exist_ok=True)
    if not (files.ca.exists() and files.ca_key.exists()):
        _write_authority(files, now)
    ca = x509.load_pem_x509_certificate(files.ca.read_bytes())
    for leaf in (files.gateway, files.mesh, files.store):
        if _due(leaf, ca, now):
            _issue(files, leaf, ca, now)
    return files


def _write_authority(files: Files, now: dt.datetime) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Chirp local CA")])
    certificate = (
        _builder(name, name, key.public_key(), now, CA_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    _write_key(files.ca_key, key)
    files.ca.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))


def _due(leaf: Leaf, ca: x509.Certificate, now: dt.datetime) -> bool:
    if not (leaf.certificate.exists() and leaf.key.exists()):
        return True
    certificate = x509.load_pem_x509_certificate(leaf.certificate.read_bytes())
    try:
        certificate.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return True  # an authority made again since
    return certificate.not_valid_after_utc - now < RENEW_BEFORE


def _issue(files: Files, leaf: Leaf, ca: x509.Certificate, now: dt.datetime) -> None:
    ca_key = serialization.load_pem_private_key(files.ca_key.read_bytes(), password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, leaf.names[0])])
    names: list[x509.GeneralName] = [x509.DNSName(name) for name in leaf.names]
    names += [x509.IPAddress(ipaddress.ip_address(address)) for address in leaf.addresses]
    certificate = (
        _builder(subject, ca.subject, key.public_key(), now, LEAF_LIFETIME)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage(list(leaf.usages)), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    _write_key(leaf.key, key)
    leaf.certificate.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))


def _builder(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    now: dt.datetime,
    lifetime: dt.timedelta,
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))  # clocks a little behind
        .not_valid_after(now + lifetime)
    )


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def local_mtls() -> MutualTlsSettings:
    """Mutual TLS as the local stack runs it: on when ``CHIRP_MTLS_ENABLED`` says so (off by
    default), with this authority's mesh certificate for every service."""
    return MutualTlsSettings(
        ca_file=FILES.ca, certificate_file=FILES.mesh.certificate, key_file=FILES.mesh.key
    )


def mtls_env() -> dict[str, str]:
    """What every Chirp process is told of mutual TLS in the local stack: nothing when it is
    off; when on, the files of the mesh certificate (made if due)."""
    mesh = local_mtls()
    if not mesh.enabled:
        return {}
    ensure()
    return {
        "CHIRP_MTLS_ENABLED": "true",
        "CHIRP_MTLS_CA_FILE": str(mesh.ca_file),
        "CHIRP_MTLS_CERTIFICATE_FILE": str(mesh.certificate_file),
        "CHIRP_MTLS_KEY_FILE": str(mesh.key_file),
    }
