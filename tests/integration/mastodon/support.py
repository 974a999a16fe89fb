"""Shared pieces of the Mastodon API's tests against the real Cassandra."""

from __future__ import annotations

from cassandra.cluster import Session

from services.platform.migrate import SERVICES, change_schema, statements

#: The OAuth tables by account, which the erasure of deleted accounts reads.
BY_ACCOUNT = SERVICES / "mastodon" / "schema" / "0015_oauth_by_account.cql"


def with_oauth_tables(session: Session) -> Session:
    """``session`` (the product keyspace's) with the OAuth tables by account in it, created as
    the migration creates them in case the local stack has not run it since it was added (every
    statement is ``IF NOT EXISTS``)."""
    for statement in statements(BY_ACCOUNT):
        change_schema(session, statement)
    return session
