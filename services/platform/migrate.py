"""``python -m services.platform.migrate``: every store's versioned schema, applied idempotently.

Each table lives beside the code that owns it: ``services/<owner>/schema/NNNN_name.cql`` for
Cassandra/Scylla, ``.cypher`` for Neo4j (``services/platform/schema`` holds the outbox, which
every service writes). Versions are numbered across the whole product, so the files of one
version (in several owners' folders) are applied together, in version order; each store records
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

import structlog
from cassandra.cluster import Session
from nats.js.errors import NotFoundError

from services.platform import cql, graph_db
from services.platform.consumers import connect
from services.platform.events import CONSUMERS, STREAM, stream
from services.platform.logging import configure_logging
from services.platform.settings import StoreSettings

#: The folder of the service packages, each with its own ``schema/``.
SERVICES = Path(__file__).parent.parent
log = structlog.get_logger()


def migration_files(suffix: str) -> list[tuple[int, list[Path]]]:
    """Every owner's ``schema/NNNN_name<suffix>`` files, grouped by version, in version order."""
    versions: dict[int, list[Path]] = {}
    for path in sorted(SERVICES.glob(f"*/schema/*{suffix}")):
        match = re.fullmatch(r"(\d{4})_\w+" + re.escape(suffix), path.name)
        if match:
            versions.setdefault(int(match.group(1)), []).append(path)
    return sorted(versions.items())


def _names(paths: list[Path]) -> str:
    return ", ".join(str(path.relative_to(SERVICES)) for path in paths)


def statements(path: Path) -> list[str]:
    """The statements of a migration file: ``;``-separated, comment lines dropped."""
    lines = [
        line for line in path.read_text().splitlines() if not line.lstrip().startswith(("--", "//"))
    ]
    return [statement.strip() for statement in "\n".join(lines).split(";") if statement.strip()]


class SchemaDisagreement(Exception):
    """A schema change did not reach every node in time; the next change must not be made on
    top of it (two nodes could each create the same table, with different ids)."""


def change_schema(session: Session, statement: str) -> None:
    """Runs ``statement`` and waits until every node that is up has its schema (the driver
    waits after each schema change it sees acknowledged, up to ``cql.SCHEMA_AGREEMENT_SECONDS``,
    but only warns if that runs out)."""
    result = session.execute(statement, timeout=60)
    if not result.response_future.is_schema_agreed:
        raise SchemaDisagreement(f"the nodes disagree on the schema after: {statement}")


def migrate_cassandra(settings: StoreSettings) -> list[int]:
    """Each statement runs once the one before it is on every node (``change_schema``), and
    the versions applied are read and written at LOCAL_QUORUM (``cql.cluster``)."""
    cluster = cql.cluster(settings)
    try:
        session: Session = cluster.connect()
        keyspace = settings.cassandra_keyspace
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", keyspace):
            raise ValueError(f"CHIRP_CASSANDRA_KEYSPACE {keyspace!r} is not a plain identifier")
        change_schema(
            session,
            f"CREATE KEYSPACE IF NOT EXISTS {keyspace} "
            f"WITH replication = {settings.cassandra_replication}"
            + (
                f" AND {settings.cassandra_keyspace_options}"
                if settings.cassandra_keyspace_options
                else ""
            ),
        )
        session.set_keyspace(keyspace)
        change_schema(
            session,
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version int PRIMARY KEY, name text, applied_at timestamp)",
        )
        applied = {row.version for row in session.execute("SELECT version FROM schema_migrations")}
        done = []
        for version, paths in migration_files(".cql"):
            if version in applied:
                continue
            for statement in (statement for path in paths for statement in statements(path)):
                change_schema(session, statement)
            session.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (%s, %s, %s)",
                (version, _names(paths), datetime.now(UTC)),
            )
            done.append(version)
        return done
    finally:
        cluster.shutdown()


def migrate_neo4j(settings: StoreSettings) -> list[int]:
    with graph_db.driver(settings) as driver:
        records, _, _ = driver.execute_query(
            "MATCH (m:SchemaMigration) RETURN m.version AS version"
        )
        applied = {record["version"] for record in records}
        done = []
        for version, paths in migration_files(".cypher"):
            if version in applied:
                continue
            with driver.session() as session:  # auto-commit: a backfill commits by batches
                for statement in (statement for path in paths for statement in statements(path)):
                    session.run(statement).consume()
            driver.execute_query(
                "MERGE (m:SchemaMigration {version: $version}) "
                "SET m.name = $name, m.applied_at = datetime()",
                version=version,
                name=_names(paths),
            )
            done.append(version)
        return done


async def migrate_jetstream(settings: StoreSettings) -> None:
    """Creates the stream on ``CHIRP_NATS_REPLICAS`` servers, or updates it in place (a change of
    replicas included: the consumers follow), and declares the consumers."""
    connection = await connect(settings.nats_url, connect_timeout=5, max_reconnect_attempts=3)
    try:
        jetstream = connection.jetstream()
        config = stream(settings.nats_replicas)
        try:
            await jetstream.stream_info(STREAM.name or "")
            await jetstream.update_stream(config)
        except NotFoundError:
            await jetstream.add_stream(config)
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
        "jetstream migrated",
        stream=STREAM.name,
        replicas=settings.nats_replicas,
        consumers=[c.durable_name for c in CONSUMERS],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
