"""A person's archive (``GET /v1/users/me/export``): everything they put into Chirp, as a ZIP
streamed while it is written, so its size is bounded by neither memory nor a message. What it
holds is ``README`` below, which the archive carries as its ``README.txt``.

The lists are read from the services that own them page by page, as each page is read: an
archive made while its owner posts is a sequence of consistent pages, not one snapshot.
"""

from __future__ import annotations

import hashlib
import io
import json
import mimetypes
import zipfile
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import IO, Any

from services.platform.auth import Caller
from services.users import convert
from services.users.model import Section
from services.users.ports import AccountData
from services.users.service import UserService

FORMAT = "chirp-export"
VERSION = 1
README = """\
A Chirp account's archive (format chirp-export, version 1).

account.json     the profile, as GET /v1/users/me answers it
tweets.json      their tweets and retweets, newest first, as GET /v1/users/{username}/tweets
                 answers them; an edited tweet carries its earlier versions under "versions"
                 (as GET /v1/tweets/{id}/history answers them)
likes.json       the tweets they liked, newest like first
following.json   the users they follow
followers.json   the users who follow them
media/<id>.<ext> the photos of their tweets, full size
manifest.json    the format and version, when and for whom the archive was made, how many
                 items each list holds, and every other file's size in bytes and SHA-256

Lists are JSON arrays in the API's own JSON (proto3 JSON: lowerCamelCase names, 64-bit ids
as strings, times in RFC 3339).
"""
#: The files each section is written to.
FILES = {
    Section.TWEETS: "tweets.json",
    Section.LIKES: "likes.json",
    Section.FOLLOWING: "following.json",
    Section.FOLLOWERS: "followers.json",
}


class AccountExport:
    def __init__(self, accounts: UserService, data: AccountData) -> None:
        self._accounts = accounts
        self._data = data

    async def archive(self, caller: Caller, now: datetime | None = None) -> AsyncIterator[bytes]:
        """The caller's archive, in chunks as they are written."""
        profile = await self._accounts.own_profile(caller)
        username = profile.user.username
        archive = _Archive()
        archive.write("README.txt", README.encode())
        archive.writejson_of("account.json", convert.json_of(convert.full(profile)))
        yield archive.drain()
        photos: list[int] = []
        counts: dict[str, int] = {}
        for section, path in FILES.items():
            with archive.json_array(path) as items:
                async for page in self._data.pages(section, username):
                    for record in page:
                        items.add(record.json)
                        if section is Section.TWEETS:
                            photos.extend(record.photo_ids)
                    yield archive.drain()
            counts[path] = items.count
        for media_id in dict.fromkeys(photos):
            photo = await self._data.photo(media_id)
            if photo is not None:
                content_type, data = photo
                extension = mimetypes.guess_extension(content_type) or ".bin"
                archive.write(f"media/{media_id}{extension}", data)
                yield archive.drain()
        counts["media"] = archive.media_count
        manifest = {
            "format": FORMAT,
            "version": VERSION,
            "createTime": (now or datetime.now(UTC)).isoformat().replace("+00:00", "Z"),
            "user": {"id": str(profile.user.id), "username": username},
            "counts": counts,
            "files": archive.files,
        }
        archive.writejson_of("manifest.json", manifest, listed=False)
        archive.close()
        yield archive.drain()


class _Sink(io.RawIOBase):
    """A write-only stream whose bytes are taken as they come (zipfile writes an unseekable
    stream with data descriptors, so nothing is ever rewritten)."""

    def __init__(self) -> None:
        super().__init__()
        self._parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self._parts.append(chunk)
        return len(chunk)

    def drain(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data


class _JsonArray:
    """A JSON array written item by item into an open archive entry."""

    def __init__(self, entry: IO[bytes], digest: Any) -> None:
        self._entry = entry
        self._digest = digest
        self.count = 0
        self.size = 0

    def add(self, item: dict[str, Any]) -> None:
        self._put(("[\n" if self.count == 0 else ",\n") + json.dumps(item, ensure_ascii=False))
        self.count += 1

    def close(self) -> None:
        self._put("[]\n" if self.count == 0 else "\n]\n")

    def _put(self, text: str) -> None:
        data = text.encode()
        self._entry.write(data)
        self._digest.update(data)
        self.size += len(data)


class _Archive:
    def __init__(self) -> None:
        self._sink = _Sink()
        self._zip = zipfile.ZipFile(self._sink, "w", compression=zipfile.ZIP_DEFLATED)
        self.files: list[dict[str, Any]] = []
        self.media_count = 0

    def write(self, path: str, data: bytes, *, listed: bool = True) -> None:
        media = path.startswith("media/")
        # Photos are compressed already: stored as they are.
        self._zip.writestr(
            self._entry(path), data, compress_type=zipfile.ZIP_STORED if media else None
        )
        if listed:
            self._listed(path, len(data), hashlib.sha256(data).hexdigest())
        self.media_count += media

    def writejson_of(self, path: str, document: Any, *, listed: bool = True) -> None:
        self.write(path, (json.dumps(document, indent=2) + "\n").encode(), listed=listed)

    @contextmanager
    def json_array(self, path: str) -> Iterator[_JsonArray]:
        digest = hashlib.sha256()
        with self._zip.open(self._entry(path), "w", force_zip64=True) as entry:
            items = _JsonArray(entry, digest)
            yield items
            items.close()
        self._listed(path, items.size, digest.hexdigest())

    def drain(self) -> bytes:
        return self._sink.drain()

    def close(self) -> None:
        self._zip.close()

    def _entry(self, path: str) -> zipfile.ZipInfo:
        entry = zipfile.ZipInfo(path, datetime.now(UTC).timetuple()[:6])
        entry.compress_type = zipfile.ZIP_DEFLATED
        return entry

    def _listed(self, path: str, size: int, sha256: str) -> None:
        self.files.append({"path": path, "bytes": size, "sha256": sha256})
