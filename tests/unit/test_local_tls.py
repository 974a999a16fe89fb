"""The local stack's certificates (``devstack/tls.py``): an authority kept across starts, the
gateway's certificate from it for localhost and the mesh's for the services, made again when
due."""

from __future__ import annotations

import datetime as dt
import ipaddress
import stat
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from devstack import tls


def _certificate(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_the_gateway_and_mesh_certificates_are_the_authoritys(tmp_path: Path) -> None:
    files = tls.ensure(tls.Files.under(tmp_path))
    ca, gateway = _certificate(files.ca), _certificate(files.gateway.certificate)
    gateway.verify_directly_issued_by(ca)
    names = gateway.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert names.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    ]
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert not gateway.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    mesh = _certificate(files.mesh.certificate)
    mesh.verify_directly_issued_by(ca)
    mesh_names = mesh.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert mesh_names.get_values_for_type(x509.DNSName) == ["chirp.internal"]
    usages = mesh.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(usages) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    for key in (files.gateway.key, files.mesh.key, files.ca_key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_a_start_keeps_what_is_good_and_renews_what_is_due(tmp_path: Path) -> None:
    files = tls.ensure(tls.Files.under(tmp_path))
    ca, gateway = files.ca.read_bytes(), files.gateway.certificate.read_bytes()
    assert tls.ensure(files) == files
    assert (files.ca.read_bytes(), files.gateway.certificate.read_bytes()) == (ca, gateway)

    ends = _certificate(files.gateway.certificate).not_valid_after_utc
    tls.ensure(files, now=ends - tls.RENEW_BEFORE + dt.timedelta(days=1))
    assert files.ca.read_bytes() == ca  # a client that trusts it keeps trusting the stack
    assert files.gateway.certificate.read_bytes() != gateway
    assert _certificate(files.gateway.certificate).not_valid_after_utc > ends


def test_a_new_authority_gets_a_new_gateway_certificate(tmp_path: Path) -> None:
    files = tls.ensure(tls.Files.under(tmp_path))
    files.ca.unlink()
    tls.ensure(files)
    _certificate(files.gateway.certificate).verify_directly_issued_by(_certificate(files.ca))
