"""The object store's bucket (photos, videos and their posters): every object copied out over
the S3 API with its content type, and put back into the bucket of an empty store. Objects are
written once and never change (``services/media/adapters/objects.py``), so a copy made while the
store serves is each object whole; one uploaded meanwhile is in the backup or not, as its row is.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from urllib.parse import quote

from services.media.adapters.objects import CACHE_CONTROL, S3ObjectStore, s3_client
from services.platform.settings import ObjectStoreSettings

#: Each object's key and content type, one JSON line each, beside the objects' files.
INDEX = "objects.jsonl"


async def back_up(target: Path, settings: ObjectStoreSettings) -> int:
    """Copies every object of the bucket into ``target`` (an empty folder); how many."""
    entries = []
    async with s3_client(settings) as client:
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=settings.bucket)
        async for page in pages:
            for listed in page.get("Contents", []):
                key = listed["Key"]
                found = await client.get_object(Bucket=settings.bucket, Key=key)
                async with found["Body"] as body:
                    data = await body.read()
                await asyncio.to_thread((target / _file_name(key)).write_bytes, data)
                entries.append({"key": key, "content_type": found.get("ContentType", "")})
    lines = "".join(json.dumps(entry) + "\n" for entry in entries)
    await asyncio.to_thread((target / INDEX).write_text, lines, "utf-8")
    return len(entries)


async def restore(source: Path, settings: ObjectStoreSettings) -> int:
    """Puts every object of ``source`` into the bucket, which must be empty; how many."""
    index = await asyncio.to_thread((source / INDEX).read_text, "utf-8")
    entries = [json.loads(line) for line in index.splitlines()]
    async with s3_client(settings) as client:
        await S3ObjectStore(client, settings.bucket).ensure_bucket()
        listed = await client.list_objects_v2(Bucket=settings.bucket, MaxKeys=1)
        if listed.get("KeyCount", 0):
            raise RuntimeError(f"bucket {settings.bucket} has objects: restore into an empty stack")
        for entry in entries:
            data = await asyncio.to_thread((source / _file_name(entry["key"])).read_bytes)
            await client.put_object(
                Bucket=settings.bucket,
                Key=entry["key"],
                Body=data,
                ContentType=entry["content_type"],
                CacheControl=CACHE_CONTROL,
            )
    return len(entries)


def _file_name(key: str) -> str:
    """A key as one file name (its slashes escaped)."""
    return quote(key, safe="")
