"""The Neo4j graph (the follows, and the graph service's outbox), exported over Bolt while it
serves and loaded back into the empty database that the migrations prepare.

Neo4j's community edition dumps a database only while it is stopped (``neo4j-admin database
dump``) and has no online backup (an enterprise feature), so the backup is logical: every node
with its labels and properties, then every relationship with its type, properties and the two
nodes it joins, read in one transaction into JSON lines (``nodes.jsonl``,
``relationships.jsonl``). Property values are JSON's own types, lists of them, and bytes as
``{"$bytes": base64}``; any other type is refused rather than written wrong. The migrations'
own record (``SchemaMigration`` nodes) is not exported: a restore runs the migrations first.

The load creates nodes in batches with dynamic labels (Cypher 5.26's ``$(...)``), each marked
with its old element id under a temporary label and index, then the relationships between the
marked nodes, then removes the marks and drops the index.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any

from neo4j import Driver, ManagedTransaction

from services.platform import graph_db
from services.platform.settings import StoreSettings

NODES, RELATIONSHIPS = "nodes.jsonl", "relationships.jsonl"
#: The migrations' record of themselves: not data, written again by a restore's migrations.
SCHEMA_LABEL = "SchemaMigration"
#: The temporary label and property of the nodes being restored, and their index.
RESTORING, OLD_ID, RESTORING_INDEX = "ChirpRestoring", "chirp_restore_id", "chirp_restoring"
#: Rows written per transaction on restore.
BATCH = 5_000

_EXPORT_NODES = f"""
MATCH (n) WHERE NOT n:{SCHEMA_LABEL}
RETURN elementId(n) AS id, labels(n) AS labels, properties(n) AS properties
"""
_EXPORT_RELATIONSHIPS = f"""
MATCH (a)-[r]->(b) WHERE NOT a:{SCHEMA_LABEL} AND NOT b:{SCHEMA_LABEL}
RETURN elementId(a) AS start, elementId(b) AS end, type(r) AS type, properties(r) AS properties
"""
_CREATE_NODES = f"""
UNWIND $rows AS row
CREATE (n:$(row.labels):{RESTORING})
SET n = row.properties, n.{OLD_ID} = row.id
"""
_CREATE_RELATIONSHIPS = f"""
UNWIND $rows AS row
MATCH (a:{RESTORING} {{{OLD_ID}: row.start}}), (b:{RESTORING} {{{OLD_ID}: row.end}})
CREATE (a)-[r:$(row.type)]->(b)
SET r = row.properties
"""
_UNMARK = f"""
MATCH (n:{RESTORING})
CALL (n) {{ REMOVE n:{RESTORING}, n.{OLD_ID} }} IN TRANSACTIONS OF {BATCH} ROWS
"""


def back_up(target: Path, settings: StoreSettings) -> dict[str, int]:
    """Writes the graph into ``target``; how many nodes and relationships it wrote."""
    target.mkdir(parents=True)
    with _driver(settings) as driver, driver.session() as session:
        return session.execute_read(_export, target)


def restore(source: Path, settings: StoreSettings) -> dict[str, int]:
    """Loads ``source`` into a database that has no node but the migrations' record; how many
    nodes and relationships it created."""
    with _driver(settings) as driver:
        records, _, _ = driver.execute_query(
            f"MATCH (n) WHERE NOT n:{SCHEMA_LABEL} RETURN count(n) AS nodes"
        )
        if records[0]["nodes"]:
            raise RuntimeError("the graph has nodes: restore into an empty stack")
        driver.execute_query(
            f"CREATE INDEX {RESTORING_INDEX} IF NOT EXISTS FOR (n:{RESTORING}) ON (n.{OLD_ID})"
        )
        driver.execute_query("CALL db.awaitIndexes(300)")
        counts = {
            "nodes": _load(driver, _CREATE_NODES, _rows(source / NODES)),
            "relationships": _load(driver, _CREATE_RELATIONSHIPS, _rows(source / RELATIONSHIPS)),
        }
        with driver.session() as session:  # CALL ... IN TRANSACTIONS needs an implicit one
            session.run(_UNMARK).consume()
        driver.execute_query(f"DROP INDEX {RESTORING_INDEX} IF EXISTS")
        return counts


def _driver(settings: StoreSettings) -> Driver:
    return graph_db.driver(settings)


def _export(transaction: ManagedTransaction, target: Path) -> dict[str, int]:
    return {
        "nodes": _write(target / NODES, transaction.run(_EXPORT_NODES)),
        "relationships": _write(target / RELATIONSHIPS, transaction.run(_EXPORT_RELATIONSHIPS)),
    }


def _write(path: Path, records: Iterable[Any]) -> int:
    count = 0
    with path.open("w", encoding="utf-8") as lines:
        for record in records:
            row = dict(record)
            row["properties"] = {key: encoded(value) for key, value in row["properties"].items()}
            lines.write(json.dumps(row, separators=(",", ":")) + "\n")
            count += 1
    return count


def _rows(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            row = json.loads(line)
            row["properties"] = {key: decoded(value) for key, value in row["properties"].items()}
            yield row


def _load(driver: Driver, query: str, rows: Iterator[dict[str, Any]]) -> int:
    """What the batches of ``rows`` created (nodes or relationships)."""
    created = 0
    while batch := list(islice(rows, BATCH)):
        _, summary, _ = driver.execute_query(query, rows=batch)
        created += summary.counters.nodes_created + summary.counters.relationships_created
    return created


def encoded(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"$bytes": base64.b64encode(value).decode("ascii")}
    if isinstance(value, list):
        return [encoded(item) for item in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise TypeError(f"a graph property of type {type(value).__name__} has no backup format")


def decoded(value: Any) -> Any:
    if isinstance(value, dict):
        return base64.b64decode(value["$bytes"])
    if isinstance(value, list):
        return [decoded(item) for item in value]
    return value
