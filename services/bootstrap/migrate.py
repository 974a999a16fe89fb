"""``python -m services.bootstrap.migrate``: every store's versioned schema, applied idempotently.

Cassandra/Scylla and Neo4j migrations are numbered files under ``schema/``; each store records
the versions it has applied, and every statement is itself idempotent (``IF NOT EXISTS``), so a
run that died half-way is simply run again. The JetStream stream and consumers are declared in
``events.py`` and created or updated to match. The local stack runs this on every start; in
production it is a one-shot container that runs before the services.
"""

from __future__ import annotations

import asyncio
import re
import sys
from datetime import UTC, datetime
from pathlib import Path

import nats
import structlog
from cassandra.cluster import Cluster, Session
from nats.js.errors import NotFoundError
from neo4j import GraphDatabase

from services.bootstrap.events import CONSUMERS, STREAM
from services.bootstrap.logging import configure_logging
from services.bootstrap.settings import StoreSettings

SCHEMA = Path(__file__).parent / "schema"
log = structlog.get_logger()


def migration_files(kind: str) -> list[tuple[int, Path]]:
    """``NNNN_name.ext`` files of ``schema/<kind>`` in version order."""
    found = []
    for path in (SCHEMA / kind).iterdir():
        match = re.fullmatch(r"(\d{4})_\w+\.(cql|cypher)", path.name)
        if match:
            found.append((int(match.group(1)), path))
    return sorted(found)


def statements(path: Path) -> list[str]:
    """The statements of a migration file: ``;``-separated, comment lines dropped."""
    lines = [
        line for line in path.read_text().splitlines() if not line.lstrip().startswith(("--", "//"))
    ]
    return [statement.strip() for statement in "\n".join(lines).split(";") if statement.strip()]


def migrate_cassandra(settings: StoreSettings) -> list[int]:
    cluster = Cluster(settings.cassandra_contact_points, port=settings.cassandra_port)
    try:
        session: Session = cluster.connect()
        keyspace = settings.cassandra_keyspace
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", keyspace):
            raise ValueError(f"CHIRP_CASSANDRA_KEYSPACE {keyspace!r} is not a plain identifier")
        session.execute(
            f"CREATE KEYSPACE IF NOT EXISTS {keyspace} "
            f"WITH replication = {settings.cassandra_replication}"
        )
        session.set_keyspace(keyspace)
        session.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version int PRIMARY KEY, name text, applied_at timestamp)"
        )
        applied = {row.version for row in session.execute("SELECT version FROM schema_migrations")}
        done = []
        for version, path in migration_files("cassandra"):
            if version in applied:
                continue
            for statement in statements(path):
                session.execute(statement, timeout=60)
            session.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (%s, %s, %s)",
                (version, path.name, datetime.now(UTC)),
            )
            done.append(version)
        return done
    finally:
        cluster.shutdown()


def migrate_neo4j(settings: StoreSettings) -> list[int]:
    auth = (settings.neo4j_user, settings.neo4j_password) if settings.neo4j_password else None
    with GraphDatabase.driver(settings.neo4j_uri, auth=auth) as driver:
        records, _, _ = driver.execute_query(
            "MATCH (m:SchemaMigration) RETURN m.version AS version"
        )
        applied = {record["version"] for record in records}
        done = []
        for version, path in migration_files("neo4j"):
            if version in applied:
                continue
            with driver.session() as session:  # auto-commit: a backfill commits by batches
                for statement in statements(path):
                    session.run(statement).consume()
            driver.execute_query(
                "MERGE (m:SchemaMigration {version: $version}) "
                "SET m.name = $name, m.applied_at = datetime()",
                version=version,
                name=path.name,
            )
            done.append(version)
        return done


async def migrate_jetstream(settings: StoreSettings) -> None:
    connection = await nats.connect(settings.nats_url, connect_timeout=5, max_reconnect_attempts=3)
    try:
        jetstream = connection.jetstream()
        try:
            await jetstream.stream_info(STREAM.name or "")
            await jetstream.update_stream(STREAM)
        except NotFoundError:
            await jetstream.add_stream(STREAM)
        for consumer in CONSUMERS:
            # Creating a durable consumer with its current config is a no-op; a changed config
            # (new filter subjects, say) is updated in place, keeping the consumer's position.
            await jetstream.add_consumer(STREAM.name or "", consumer)
    finally:
        await connection.close()


def main() -> int:
    settings = StoreSettings()
    configure_logging("migrate", settings.log_level)
    log.info("cassandra migrated", applied=migrate_cassandra(settings))
    log.info("neo4j migrated", applied=migrate_neo4j(settings))
    asyncio.run(migrate_jetstream(settings))
    log.info(
        "jetstream migrated", stream=STREAM.name, consumers=[c.durable_name for c in CONSUMERS]
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
