"""Fixtures of the Mastodon API's integration tests."""

from __future__ import annotations

import pytest
from cassandra.cluster import Session

from tests.integration.mastodon.support import with_oauth_tables


@pytest.fixture(scope="module")
def oauth_session(session: Session) -> Session:
    """The product keyspace's session, with the OAuth tables by account in it."""
    return with_oauth_tables(session)
