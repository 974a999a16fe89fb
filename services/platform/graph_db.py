"""Chirp's Neo4j drivers, from the address (``CHIRP_NEO4J_URI``, ``StoreSettings.neo4j_uri``):
every process that reaches Neo4j gets its driver here, so the address and the credentials mean
the same everywhere.

* ``bolt://`` or ``neo4j://`` (one server, or a cluster's routing): plain text.
* ``bolt+s://`` or ``neo4j+s://``: TLS, under the stores' one rule (``store_tls.py``: the
  certificate checked against ``CHIRP_STORE_TLS_CA_FILE``, the name or address dialled checked
  against the certificate). The driver refuses its own trust settings beside a ``+s`` scheme,
  so it is given the plain scheme and the rule's context.
* ``bolt+ssc://`` or ``neo4j+ssc://`` (the driver's "trust any certificate") are refused: they
  would break the rule without a word.

The credentials are sent only when ``CHIRP_NEO4J_PASSWORD`` is set (the local stack runs Neo4j
without authentication).
"""

from __future__ import annotations

from typing import Any

from neo4j import AsyncDriver, AsyncGraphDatabase, Driver, GraphDatabase

from services.platform import store_tls
from services.platform.settings import StoreSettings

#: Each TLS scheme, and the plain one the driver is given in its place.
TLS_SCHEMES = {"bolt+s": "bolt", "neo4j+s": "neo4j"}
UNVERIFIED_SCHEMES = ("bolt+ssc", "neo4j+ssc")


def dialled(uri: str) -> tuple[str, bool]:
    """The address the driver is given for ``uri``, and whether it is reached over TLS."""
    written, separator, rest = uri.partition("://")
    scheme = written.lower()
    if scheme in UNVERIFIED_SCHEMES:
        raise ValueError(
            f"{written}:// trusts any certificate: use +s and CHIRP_STORE_TLS_CA_FILE instead"
        )
    plain = TLS_SCHEMES.get(scheme) if separator else None
    return (f"{plain}://{rest}", True) if plain else (uri, False)


def driver(settings: StoreSettings, **options: Any) -> Driver:
    """A driver of ``settings.neo4j_uri`` (see the module docstring); ``options`` are the
    driver's own (``notifications_min_severity``...)."""
    uri, connection = _connection(settings)
    return GraphDatabase.driver(uri, **connection, **options)


def async_driver(settings: StoreSettings, **options: Any) -> AsyncDriver:
    """The asyncio twin of ``driver``."""
    uri, connection = _connection(settings)
    return AsyncGraphDatabase.driver(uri, **connection, **options)


def _connection(settings: StoreSettings) -> tuple[str, dict[str, Any]]:
    uri, tls = dialled(settings.neo4j_uri)
    auth = (settings.neo4j_user, settings.neo4j_password) if settings.neo4j_password else None
    if not tls:
        return uri, {"auth": auth}
    # The context decides; ``encrypted`` keeps the driver's own report (``Driver.encrypted``) true.
    return uri, {"auth": auth, "encrypted": True, "ssl_context": store_tls.client_context()}
