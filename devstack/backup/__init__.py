"""``make backup`` and ``make restore``: every store that holds data of record, copied while the
stack serves into one timestamped folder with a manifest, and loaded back into an empty stack.

What is backed up, each by its own module: the Cassandra keyspace (``cassandra.py``: a snapshot
and the schema), the Neo4j graph (``graph.py``: a logical export), the JetStream stream with its
consumers (``jetstream.py``: the server's own snapshot), the object store's bucket
(``objects.py``) and the token signing keys. What is derived is not backed up but rebuilt: Redis
(home timelines rebuild on their first read, caches fill again, the users service writes the
revoked accounts back within seconds) and the search indexes (rebuilt from the stores by the
restore, as ``make reindex`` does).

Each store's copy is consistent in itself; across stores the copies are some seconds apart, in
this order: keys, Cassandra, Neo4j, objects, stream. A post acknowledged between two copies may be
in one store's and not yet in the next one's, which the stack already reconciles: its events are
in the outbox until published, a stream message is handled idempotently, an object without a row
is never shown. ``manifest.json`` lists every file with its size and SHA-256, and a restore checks
them all before it touches a store.

A restore starts the stores, lets the migrations create the empty schema, stream and bucket, loads
each store (refusing any store that is not empty), then starts the services and the gateway and
rebuilds the search indexes. The single-node shape only: a ring's backup is per node, with the
stores' own tools (the README's "Backups and restores").
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from devstack import cassandra as cassandra_node
from devstack import maven, stack
from devstack.backup import cassandra, graph, jetstream, objects
from devstack.components import COMPONENTS
from devstack.paths import DATA, PYTHON, ROOT, SHAPE
from services.platform.consumers import connect
from services.platform.events import STREAM
from services.platform.settings import ObjectStoreSettings, StoreSettings

FORMAT, VERSION = "chirp-backup", 1
MANIFEST = "manifest.json"
#: Where ``make backup`` writes unless told otherwise: beside ``.data``, never in it.
BACKUPS = ROOT / "backups"
KEY_FILES = ("jwt_ed25519.pem", "jwt_ed25519.pub.pem")
STREAM_ARCHIVE = "stream.tar.s2"


class BackupError(Exception):
    """A backup that cannot be made or restored, said plainly."""


def back_up(backups: Path = BACKUPS) -> Path:
    """A new backup of the running stack under ``backups``; its folder."""
    _single_shape_only()
    started = time.monotonic()
    folder = backups / datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    building = folder.with_name(folder.name + ".partial")
    settings = _settings()
    stores: dict[str, Any] = {}
    keys = building / "keys"
    keys.mkdir(parents=True)
    for name in KEY_FILES:
        shutil.copy2(DATA / "keys" / name, keys / name)
    stores["keys"] = list(KEY_FILES)
    stores["cassandra"] = {
        "keyspace": settings.cassandra_keyspace,
        "tables": cassandra.back_up(
            building / "cassandra", DATA / "cassandra", settings, _nodetool()
        ),
    }
    stores["neo4j"] = graph.back_up(building / "neo4j", settings)
    for part in ("objects", "jetstream"):
        (building / part).mkdir()
    bucket = ObjectStoreSettings()
    stores["objects"] = {
        "bucket": bucket.bucket,
        "count": asyncio.run(objects.back_up(building / "objects", bucket)),
    }
    stores["jetstream"] = asyncio.run(_back_up_stream(building / "jetstream", settings))
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "created_at": datetime.now(UTC).isoformat(),
        "seconds": round(time.monotonic() - started, 3),
        "stores": stores,
        "files": listing(building),
    }
    (building / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    building.rename(folder)  # a folder without ".partial" is a whole backup
    return folder


def restore(folder: Path) -> dict[str, Any]:
    """Loads the backup in ``folder`` into an empty stack, which it starts (the supervisor
    included); what it loaded, store by store."""
    _single_shape_only()
    manifest = verified(folder)
    loaded: dict[str, Any] = {}

    def load_stores() -> None:  # the stores are up and migrated, the services not yet started
        settings = _settings()
        loaded["keys"] = _restore_keys(folder / "keys")
        loaded["cassandra"] = len(cassandra.restore(folder / "cassandra", settings, _nodetool()))
        loaded["neo4j"] = graph.restore(folder / "neo4j", settings)
        loaded["objects"] = asyncio.run(objects.restore(folder / "objects", ObjectStoreSettings()))
        stream = manifest["stores"]["jetstream"]
        asyncio.run(_restore_stream(folder / "jetstream", stream, settings))
        loaded["jetstream"] = stream["state"].get("messages", 0)

    stack.start(list(COMPONENTS), before_services=load_stores)
    stack.start_supervisor()
    _reindex()
    loaded["search"] = "rebuilt"
    return loaded


def verified(folder: Path) -> dict[str, Any]:
    """The backup's manifest, once every file it lists is there with its size and SHA-256."""
    path = folder / MANIFEST
    if not path.is_file():
        raise BackupError(
            f"{folder} is not a backup (no {MANIFEST}; a .partial one never finished)"
        )
    manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    if (manifest.get("format"), manifest.get("version")) != (FORMAT, VERSION):
        raise BackupError(f"{path} is not a {FORMAT} v{VERSION} manifest")
    found = listing(folder, skip=MANIFEST)
    wrong = sorted(name for name, listed in manifest["files"].items() if found.get(name) != listed)
    if wrong or found.keys() != manifest["files"].keys():
        extra = sorted(found.keys() - manifest["files"].keys())
        raise BackupError(
            f"{folder} does not match its manifest: changed or missing {wrong}, extra {extra}"
        )
    return manifest


def listing(folder: Path, skip: str = "") -> dict[str, dict[str, Any]]:
    """Every file under ``folder`` (but ``skip``): its size and SHA-256, by relative path."""
    files = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name != skip:
            digest = hashlib.sha256()
            with path.open("rb") as content:
                while chunk := content.read(1 << 20):
                    digest.update(chunk)
            files[str(path.relative_to(folder))] = {
                "bytes": path.stat().st_size,
                "sha256": digest.hexdigest(),
            }
    return files


def _restore_keys(source: Path) -> list[str]:
    """The signing keys put back; refused if the stack already has other keys."""
    keys = DATA / "keys"
    keys.mkdir(parents=True, exist_ok=True)
    for name in KEY_FILES:
        present = keys / name
        if present.exists() and present.read_bytes() != (source / name).read_bytes():
            raise BackupError(f"{present} is another key: restore into an empty stack")
        shutil.copy2(source / name, present)
    return list(KEY_FILES)


async def _back_up_stream(target: Path, settings: StoreSettings) -> dict[str, Any]:
    connection = await connect(settings.nats_url)
    try:
        name = STREAM.name or ""
        snapshot = await jetstream.back_up_stream(connection, name, target / STREAM_ARCHIVE)
        return {"stream": name, **snapshot}
    finally:
        await connection.close()


async def _restore_stream(source: Path, stream: dict[str, Any], settings: StoreSettings) -> None:
    connection = await connect(settings.nats_url)
    try:
        await jetstream.restore_stream(
            connection,
            stream["config"],
            stream["state"],
            source / STREAM_ARCHIVE,
            replace_empty=True,
        )
    finally:
        await connection.close()


def _reindex() -> None:
    subprocess.run(
        [str(PYTHON), "-m", "services.search.reindex"], cwd=ROOT, env=stack.env(), check=True
    )


def _nodetool() -> cassandra.Nodetool:
    java = maven.find_java17()
    return cassandra.nodetool_runner(
        lambda *arguments: cassandra_node.nodetool_command(
            ROOT, cassandra_node.JMX_PORT, *arguments, java=java
        )
    )


def _settings() -> StoreSettings:
    return StoreSettings(data_dir=DATA)


def _single_shape_only() -> None:
    if SHAPE != "single":
        raise BackupError(
            "make backup and make restore are for the single-node stack; a ring is backed up "
            "node by node with the stores' own tools (the README's Backups and restores)"
        )
