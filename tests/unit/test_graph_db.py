"""The Neo4j address says whether the driver speaks TLS (``services/platform/graph_db.py``)."""

from __future__ import annotations

import pytest

from services.platform import graph_db
from services.platform.settings import StoreSettings

PLAIN, SECURE = "bolt://neo4j:7687", "bolt+s://neo4j:7687"


@pytest.mark.parametrize(
    ("uri", "given"),
    [
        (SECURE, PLAIN),
        ("neo4j+s://graph.example:7687?policy=eu", "neo4j://graph.example:7687?policy=eu"),
        ("BOLT+S://neo4j:7687", PLAIN),
    ],
)
def test_a_tls_scheme_is_dialled_as_its_plain_one_over_tls(uri: str, given: str) -> None:
    assert graph_db.dialled(uri) == (given, True)


@pytest.mark.parametrize("uri", [PLAIN, "neo4j://neo4j:7687", "bolt://127.0.0.1:7687"])
def test_a_plain_scheme_is_dialled_as_written(uri: str) -> None:
    assert graph_db.dialled(uri) == (uri, False)


@pytest.mark.parametrize("uri", ["bolt+ssc://neo4j:7687", "neo4j+ssc://neo4j:7687"])
def test_a_scheme_that_trusts_any_certificate_is_refused(uri: str) -> None:
    with pytest.raises(ValueError, match="trusts any certificate"):
        graph_db.dialled(uri)


async def test_both_drivers_encrypt_exactly_when_the_address_says_so() -> None:
    for uri, encrypted in ((PLAIN, False), (SECURE, True)):
        settings = StoreSettings(neo4j_uri=uri)
        with graph_db.driver(settings) as driver:
            assert driver.encrypted is encrypted
        async with graph_db.async_driver(settings) as async_driver:
            assert async_driver.encrypted is encrypted
