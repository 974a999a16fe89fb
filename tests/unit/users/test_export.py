"""The archive of an account (``services/users/export.py``), from in-memory sources: a ZIP whose
files hold what the sources gave, in order, with a manifest that describes each of them."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from services.platform.auth import Caller
from services.users.export import README, AccountExport
from services.users.model import Record, Section
from tests.unit.users.fakes import PASSWORD, World

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8


@dataclass
class Sources:
    pages_of: dict[Section, list[list[Record]]] = field(default_factory=dict)
    photos: dict[int, tuple[str, bytes]] = field(default_factory=dict)
    photos_asked: list[int] = field(default_factory=list)
    usernames_asked: set[str] = field(default_factory=set)

    async def pages(self, section: Section, username: str) -> AsyncIterator[list[Record]]:
        self.usernames_asked.add(username)
        for page in self.pages_of.get(section, []):
            yield page

    async def photo(self, media_id: int) -> tuple[str, bytes] | None:
        self.photos_asked.append(media_id)
        return self.photos.get(media_id)


async def _archive(world: World, sources: Sources) -> tuple[list[bytes], zipfile.ZipFile]:
    user = await world.accounts.register("Ada", PASSWORD, "Ada L.")
    export = AccountExport(world.accounts, sources)
    when = datetime(2026, 6, 2, tzinfo=UTC)
    chunks = [chunk async for chunk in export.archive(Caller(user.id, "Ada"), when)]
    return chunks, zipfile.ZipFile(io.BytesIO(b"".join(chunks)))


async def test_the_archive_holds_every_list_in_order_and_the_photos(world: World) -> None:
    tweets = [[Record({"id": "3", "text": "third"}, (30,))], [Record({"id": "2"}, (20, 30))]]
    sources = Sources(
        pages_of={
            Section.TWEETS: tweets,
            Section.LIKES: [[Record({"id": "9", "text": "liked"})]],
            Section.FOLLOWING: [[Record({"username": "bob"}), Record({"username": "cy"})]],
        },
        photos={30: ("image/png", PNG), 20: ("image/jpeg", b"\xff\xd8jpeg")},
    )
    chunks, archive = await _archive(world, sources)
    assert len([chunk for chunk in chunks if chunk]) > 3  # streamed as written, not at the end
    assert json.loads(archive.read("tweets.json")) == [{"id": "3", "text": "third"}, {"id": "2"}]
    assert json.loads(archive.read("likes.json")) == [{"id": "9", "text": "liked"}]
    assert json.loads(archive.read("following.json")) == [{"username": "bob"}, {"username": "cy"}]
    assert json.loads(archive.read("followers.json")) == []
    assert sources.photos_asked == [30, 20]  # each once
    assert sources.usernames_asked == {"Ada"}
    assert archive.read("media/30.png") == PNG
    assert archive.read("media/20.jpg") == b"\xff\xd8jpeg"
    account = json.loads(archive.read("account.json"))
    assert (account["username"], account["displayName"]) == ("Ada", "Ada L.")
    assert archive.read("README.txt").decode() == README


async def test_the_manifest_describes_every_other_file(world: World) -> None:
    sources = Sources(
        pages_of={Section.TWEETS: [[Record({"id": "1"}, (5,))]]},
        photos={},  # a photo gone since: left out
    )
    _, archive = await _archive(world, sources)
    manifest = json.loads(archive.read("manifest.json"))
    assert (manifest["format"], manifest["version"]) == ("chirp-export", 1)
    assert manifest["user"]["username"] == "Ada"
    assert manifest["createTime"] == "2026-06-02T00:00:00Z"
    assert manifest["counts"] == {
        "tweets.json": 1,
        "likes.json": 0,
        "following.json": 0,
        "followers.json": 0,
        "media": 0,
    }
    listed = {entry["path"]: entry for entry in manifest["files"]}
    assert set(listed) == set(archive.namelist()) - {"manifest.json"}
    for path, entry in listed.items():
        data = archive.read(path)
        assert (entry["bytes"], entry["sha256"]) == (len(data), hashlib.sha256(data).hexdigest())
    assert archive.testzip() is None
