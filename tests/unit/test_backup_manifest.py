"""A backup's manifest (``devstack/backup``): a restore trusts a folder only when every file it
lists is there, whole, and nothing else is; the graph's property values survive their JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devstack import backup
from devstack.backup import graph


def _backup_folder(folder: Path) -> Path:
    (folder / "neo4j").mkdir(parents=True)
    (folder / "neo4j" / "nodes.jsonl").write_text('{"id":"4:a:1"}\n')
    (folder / "keys").mkdir()
    (folder / "keys" / "jwt_ed25519.pem").write_bytes(b"secret")
    manifest = {
        "format": backup.FORMAT,
        "version": backup.VERSION,
        "stores": {},
        "files": backup.listing(folder),
    }
    (folder / backup.MANIFEST).write_text(json.dumps(manifest))
    return folder


def test_a_whole_backup_is_verified(tmp_path: Path) -> None:
    manifest = backup.verified(_backup_folder(tmp_path))
    assert set(manifest["files"]) == {"neo4j/nodes.jsonl", "keys/jwt_ed25519.pem"}
    assert manifest["files"]["keys/jwt_ed25519.pem"]["bytes"] == len(b"secret")


def test_a_changed_file_is_named(tmp_path: Path) -> None:
    folder = _backup_folder(tmp_path)
    (folder / "keys" / "jwt_ed25519.pem").write_bytes(b"secreT")
    with pytest.raises(backup.BackupError, match=r"keys/jwt_ed25519\.pem"):
        backup.verified(folder)


def test_a_missing_or_extra_file_is_refused(tmp_path: Path) -> None:
    folder = _backup_folder(tmp_path / "missing")
    (folder / "neo4j" / "nodes.jsonl").unlink()
    with pytest.raises(backup.BackupError, match=r"neo4j/nodes\.jsonl"):
        backup.verified(folder)
    folder = _backup_folder(tmp_path / "extra")
    (folder / "stray").write_text("?")
    with pytest.raises(backup.BackupError, match="stray"):
        backup.verified(folder)


def test_an_unfinished_backup_is_not_one(tmp_path: Path) -> None:
    with pytest.raises(backup.BackupError, match="not a backup"):
        backup.verified(tmp_path)


def test_graph_properties_keep_their_types_through_json() -> None:
    properties = {"id": 3, "rank": "17:3", "payload": b"\x00\xffproto", "tags": ["a", "b"]}
    written = json.loads(json.dumps({k: graph.encoded(v) for k, v in properties.items()}))
    assert {k: graph.decoded(v) for k, v in written.items()} == properties


def test_a_graph_property_without_a_format_is_refused() -> None:
    with pytest.raises(TypeError, match="complex"):
        graph.encoded(1j)
