"""The gateway over HTTPS: HTTP/2 and HTTP/1.1 by ALPN, with the certificate of the local
authority that the stack made on its first start; a client that does not trust the authority
is refused. Through curl, as a person would try it (the README's command)."""

from __future__ import annotations

import subprocess

import pytest

from devstack import tls
from tests.stack import GATEWAY_TLS


def _curl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["curl", "--silent", "--show-error", "--max-time", "10", *args],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize(("version", "spoken"), [("--http2", "2"), ("--http1.1", "1.1")])
def test_a_client_that_trusts_the_local_authority_is_answered(version: str, spoken: str) -> None:
    answer = _curl(
        version,
        "--cacert",
        str(tls.FILES.ca),
        "--dump-header",
        "-",
        "--output",
        "/dev/null",
        "--write-out",
        "%{http_code} %{http_version}",
        f"{GATEWAY_TLS}/v1/trends",
    )
    assert answer.returncode == 0, answer.stderr
    *headers, status = answer.stdout.splitlines()
    assert status == f"200 {spoken}"
    # HSTS is production's: on localhost it would hold every port of it to HTTPS.
    assert not [line for line in headers if line.lower().startswith("strict-transport")]


def test_a_client_that_does_not_trust_it_is_refused() -> None:
    answer = _curl("--output", "/dev/null", f"{GATEWAY_TLS}/v1/trends")
    assert answer.returncode == 60, answer.stderr  # curl: the peer's certificate not trusted
