"""The Cassandra keyspace: ``nodetool snapshot`` while the node serves, ``nodetool import`` into
the empty tables that the migrations create.

A snapshot flushes every table's memtable, then hard-links its SSTables (immutable files) under
the table's ``snapshots/<tag>/``: consistent per table, as of the flush, taken in a second
whatever the size. Those files are copied into the backup, one folder per table, the snapshot is
cleared, and the keyspace's whole schema is written beside them (``schema.cql``, from the
driver's metadata), for a restore by hand or into another version. ``make restore`` imports each
table's files with ``nodetool import --copy-data`` (verified, the backup left as it was) into the
tables the migrations have just created.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from services.platform import cql
from services.platform.settings import StoreSettings

#: What a snapshot folder holds besides the SSTables' components.
SNAPSHOT_EXTRAS = frozenset({"manifest.json", "schema.cql"})
#: Tables imported at once: each import is a nodetool JVM, mostly waiting on the node.
PARALLEL_IMPORTS = 4

Nodetool = Callable[..., str]


def back_up(target: Path, data_dir: Path, settings: StoreSettings, nodetool: Nodetool) -> list[str]:
    """Copies a fresh snapshot of the keyspace's tables into ``target/<table>/`` and the schema
    into ``target/schema.cql``; the tables' names."""
    keyspace = settings.cassandra_keyspace
    tag = f"chirp-backup-{time.time_ns()}"
    target.mkdir(parents=True)
    (target / "schema.cql").write_text(_schema(settings), encoding="utf-8")
    nodetool("snapshot", "-t", tag, "--", keyspace)
    try:
        tables = []
        for table_dir in sorted((data_dir / "data" / keyspace).iterdir()):
            snapshot = table_dir / "snapshots" / tag
            if not snapshot.is_dir():
                continue  # a dropped table's leftover folder
            table = table_dir.name.rsplit("-", 1)[0]
            copy = target / table
            copy.mkdir()
            for part in snapshot.iterdir():
                if part.is_file() and part.name not in SNAPSHOT_EXTRAS:
                    shutil.copy2(part, copy / part.name)
            tables.append(table)
        return tables
    finally:
        nodetool("clearsnapshot", "-t", tag, "--", keyspace)


def restore(source: Path, settings: StoreSettings, nodetool: Nodetool) -> list[str]:
    """Imports every table folder of ``source`` into the node's table of the same name; the
    tables' names. The tables must exist (the migrations ran) and be empty."""
    keyspace = settings.cassandra_keyspace
    tables = sorted(folder.name for folder in source.iterdir() if folder.is_dir())
    filled = _with_rows(settings, tables)
    if filled:
        raise RuntimeError(
            f"{keyspace} tables have rows ({', '.join(filled)}): restore into an empty stack"
        )

    def load(table: str) -> None:
        if any((source / table).iterdir()):  # an empty table has no SSTable
            nodetool("import", "--copy-data", "--", keyspace, table, str(source / table))

    with ThreadPoolExecutor(PARALLEL_IMPORTS) as imports:
        list(imports.map(load, tables))
    return tables


def nodetool_runner(command: Callable[..., list[str]]) -> Nodetool:
    """Runs ``command(*arguments)``'s argv; its output, or ``RuntimeError`` with what it said."""

    def run(*arguments: str) -> str:
        done = subprocess.run(
            command(*arguments), capture_output=True, text=True, timeout=600, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"nodetool {arguments[0]} failed: {done.stderr or done.stdout}")
        return done.stdout

    return run


def _schema(settings: StoreSettings) -> str:
    cluster = cql.cluster(settings)
    try:
        cluster.connect()
        schema: str = cluster.metadata.keyspaces[settings.cassandra_keyspace].export_as_string()
        return schema + "\n"
    finally:
        cluster.shutdown()


def _with_rows(settings: StoreSettings, tables: list[str]) -> list[str]:
    """Those of ``tables`` that have a row (but the migrations' own record, which they have just
    written and the backup holds as well)."""
    cluster = cql.cluster(settings)
    try:
        session = cluster.connect(settings.cassandra_keyspace)
        return [
            table
            for table in tables
            if table != "schema_migrations"
            and session.execute(f"SELECT * FROM {table} LIMIT 1").one() is not None  # noqa: S608
        ]
    finally:
        cluster.shutdown()
