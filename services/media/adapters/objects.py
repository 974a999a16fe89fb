"""The object store over the S3 API (SeaweedFS locally, any S3-compatible store in production).

A store that cannot be reached, times out or answers a 5xx (after botocore's own retries) is
``Unavailable``: 503 to callers, through the gRPC and the HTTP servers alike.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator, Sequence

import aioboto3
from aiobotocore.config import AioConfig
from botocore.exceptions import ClientError
from botocore.exceptions import ConnectionError as StoreConnectionError
from types_aiobotocore_s3 import S3Client

from services.platform.errors import NotFound, Unavailable
from services.platform.settings import ObjectStoreSettings

#: Objects are written once and never change: a CDN or browser may keep them for a year.
CACHE_CONTROL = "public, max-age=31536000, immutable"
#: What a streamed read hands on at a time.
READ_CHUNK_BYTES = 256 * 1024


class S3ObjectStore:
    def __init__(self, client: S3Client, bucket: str) -> None:
        self._client = client
        self._bucket = bucket

    async def ensure_bucket(self) -> None:
        """Creates the bucket if it is missing (several processes may race to do it)."""
        with _unavailable_when_down():
            await self._ensure_bucket()

    async def _ensure_bucket(self) -> None:
        try:
            await self._client.head_bucket(Bucket=self._bucket)
        except ClientError as error:
            if _code(error) not in ("404", "NoSuchBucket", "NotFound"):
                raise
            try:
                await self._client.create_bucket(Bucket=self._bucket)
            except ClientError as race:
                if _code(race) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    raise

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        with _unavailable_when_down():
            await self._client.put_object(
                Bucket=self._bucket,
                Key=key,
                Body=data,
                ContentType=content_type,
                CacheControl=CACHE_CONTROL,
            )

    async def get(self, key: str) -> bytes:
        with _unavailable_when_down(), _not_found_as_such(key):
            response = await self._client.get_object(Bucket=self._bucket, Key=key)
            async with response["Body"] as body:
                data: bytes = await body.read()
        return data

    async def read(self, key: str, first: int, last: int) -> AsyncIterator[bytes]:
        with _unavailable_when_down():
            with _not_found_as_such(key):
                response = await self._client.get_object(
                    Bucket=self._bucket, Key=key, Range=f"bytes={first}-{last}"
                )
            body = response["Body"]
            async with body:  # releases the connection, read to the end or not
                async for chunk in body.iter_chunks(READ_CHUNK_BYTES):
                    yield chunk

    async def delete(self, keys: Sequence[str]) -> None:
        if keys:
            with _unavailable_when_down():
                await self._client.delete_objects(
                    Bucket=self._bucket,
                    Delete={"Objects": [{"Key": key} for key in keys], "Quiet": True},
                )


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


@contextlib.contextmanager
def _not_found_as_such(key: str) -> Iterator[None]:
    try:
        yield
    except ClientError as error:
        if _code(error) in ("NoSuchKey", "404"):
            raise NotFound(f"object {key} not found") from error
        raise


@contextlib.contextmanager
def _unavailable_when_down() -> Iterator[None]:
    """The store's outages (unreachable, timed out, a 5xx) as ``Unavailable``."""
    try:
        yield
    except StoreConnectionError as error:
        raise Unavailable("the object store is unavailable; retry shortly") from error
    except ClientError as error:
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
        if status >= 500:
            raise Unavailable("the object store is unavailable; retry shortly") from error
        raise


@contextlib.asynccontextmanager
async def s3_client(settings: ObjectStoreSettings) -> AsyncIterator[S3Client]:
    """A client on the configured endpoint; path-style addressing, which every S3-compatible
    store understands."""
    session = aioboto3.Session()
    async with session.client(
        "s3",
        endpoint_url=settings.endpoint,
        region_name=settings.region,
        aws_access_key_id=settings.access_key,
        aws_secret_access_key=settings.secret_key,
        config=AioConfig(
            s3={"addressing_style": "path"},
            connect_timeout=2,
            read_timeout=10,
            retries={"max_attempts": 3, "mode": "standard"},
        ),
    ) as client:
        yield client
