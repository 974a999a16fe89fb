"""TLS to the stores, one rule for all of them: the client checks the store's certificate
against the authority of ``CHIRP_STORE_TLS_CA_FILE`` (the system's authorities when unset) and
the name or address it dialled against the certificate's names. Whether a store is reached over
TLS is said by its address's scheme, or by ``CHIRP_CASSANDRA_TLS`` (``StoreTlsSettings``).
"""

from __future__ import annotations

import functools
import ssl
from pathlib import Path

from services.platform.settings import StoreTlsSettings


def ca_file() -> Path | None:
    """The authority of ``CHIRP_STORE_TLS_CA_FILE``, or None for the system's."""
    return StoreTlsSettings().ca_file


@functools.cache
def client_context() -> ssl.SSLContext:
    """A client's TLS context (one per process): TLS 1.2 or later, the store's certificate and
    name checked (see the module docstring)."""
    authority = ca_file()
    context = ssl.create_default_context(cafile=str(authority) if authority else None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context
