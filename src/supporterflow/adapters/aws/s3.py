"""The ``ObjectStore`` port on Amazon S3.

One ``S3ObjectStore`` wraps a bucket, an optional key prefix inside it and a boto3 S3 client.
boto3 is synchronous, so every call runs in a worker thread (``asyncio.to_thread``) and the event
loop never waits on the network.

How the port maps to S3:

- Keys given to the store are relative to its ``prefix``: with the prefix ``exports``, the key
  ``2026/report.csv`` is the S3 object ``exports/2026/report.csv``, and ``list`` gives the keys back
  without the prefix. Keys are checked as by the local store (plain segments, no ``.`` or ``..``),
  so that a key means the same object on both.
- Writes are atomic because S3's are: a ``PutObject`` or a ``CompleteMultipartUpload`` makes the
  whole object appear at once. ``open_write`` keeps up to one part in memory; a larger object goes
  up as a multipart upload, which stays invisible until it is completed and is aborted when the
  block fails. Every object is written with the canned ``acl`` (by default
  ``bucket-owner-full-control``, so that a bucket owned by another account can read what this one
  writes).
- ``list`` is ``ListObjectsV2``: the cursor is S3's opaque ``ContinuationToken``. S3 answers at
  most 1,000 keys a page, whatever ``limit`` asks for: follow the cursor.
- A missing object is None for ``get`` and ``FileNotFoundError`` for ``iter_chunks``, as on the
  local store. Every other error from boto3 (``ClientError``, connection and timeout errors)
  raises ``Retry`` naming the operation, the object and the error code.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC
from typing import Any, TypeVar
from urllib.parse import urlsplit

from botocore.exceptions import (  # type: ignore[import-untyped]
    ClientError,
    HTTPClientError,
    IncompleteReadError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)

from supporterflow.ports import ObjectInfo, ObjectPage, Retry

T = TypeVar("T")

MIB = 1024 * 1024
MIN_PART_SIZE = 5 * MIB  # every part of a multipart upload but the last
MAX_PART_SIZE = 5 * 1024 * MIB  # also the largest PutObject
MAX_PARTS = 10_000
# The checksum s3transfer (``upload_fileobj``) asks for: S3 checks every part, and the part
# checksums must then be named again when the upload is completed.
_CHECKSUM_ALGORITHM = "CRC32"
_PART_CHECKSUM = "ChecksumCRC32"

# Transport failures: the request may not have reached S3, or the answer was cut off.
_TRANSIENT = (ClientError, BotoConnectionError, HTTPClientError, IncompleteReadError)
_MISSING_CODES = frozenset({"NoSuchKey", "404"})
# S3's rules for the names of new buckets (3..63 lower-case letters, digits, dots and hyphens).
_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


def _error_code(error: Exception) -> str:
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code", "Unknown"))
    return type(error).__name__


def _check_key(key: str) -> str:
    segments = key.split("/")
    if not key or any(s in ("", ".", "..") for s in segments):
        raise ValueError(f"not an object key: {key!r}")
    return key


class _Missing(Exception):
    """The object does not exist (S3 ``NoSuchKey``)."""


class _S3Writer:
    """The writer of one ``open_write`` block: buffers chunks, and sends a part each time more
    than ``part_size`` bytes are waiting.

    A part goes only when the buffer holds *more* than a part, so that when the block ends at least
    one byte is left for the last part: S3 would refuse a multipart upload whose last part is empty,
    and an object of at most one part is a single ``PutObject``."""

    def __init__(self, store: S3ObjectStore, key: str) -> None:
        self._store = store
        self._key = key  # the full S3 key
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: builtins.list[dict[str, Any]] = []
        self._closed = False

    async def write(self, chunk: bytes) -> None:
        if self._closed:
            raise RuntimeError(f"the write of {self._store.url(self._key)} is over")
        self._buffer += chunk
        part_size = self._store.part_size
        while len(self._buffer) > part_size:
            with memoryview(self._buffer) as view:
                part = bytes(view[:part_size])  # one copy, not two
            del self._buffer[:part_size]
            await self._upload_part(part)

    async def _upload_part(self, data: bytes) -> None:
        store = self._store
        if self._upload_id is None:
            self._upload_id = await store._start_multipart(self._key)
        number = len(self._parts) + 1
        if number > MAX_PARTS:
            raise ValueError(
                f"{store.url(self._key)} needs more than {MAX_PARTS} parts of {store.part_size} bytes; "
                "give the store a larger part_size"
            )
        upload_id = self._upload_id
        response = await store._call(
            "UploadPart",
            self._key,
            lambda: store._client.upload_part(
                Bucket=store.bucket,
                Key=self._key,
                UploadId=upload_id,
                PartNumber=number,
                Body=data,
                ChecksumAlgorithm=_CHECKSUM_ALGORITHM,
            ),
        )
        part = {"ETag": response["ETag"], "PartNumber": number}
        if _PART_CHECKSUM in response:
            part[_PART_CHECKSUM] = response[_PART_CHECKSUM]
        self._parts.append(part)

    async def finish(self) -> None:
        """The block exited cleanly: make the object appear."""
        self._closed = True
        store = self._store
        if self._upload_id is None:
            data = bytes(self._buffer)  # possibly empty: an empty object is an object
            self._buffer.clear()
            await store._call(
                "PutObject",
                self._key,
                lambda: store._client.put_object(
                    Bucket=store.bucket, Key=self._key, Body=data, **store._acl_args()
                ),
            )
            return
        await self._upload_part(bytes(self._buffer))
        self._buffer.clear()
        upload_id = self._upload_id
        parts = self._parts
        await store._call(
            "CompleteMultipartUpload",
            self._key,
            lambda: store._client.complete_multipart_upload(
                Bucket=store.bucket, Key=self._key, UploadId=upload_id, MultipartUpload={"Parts": parts}
            ),
        )

    async def abort(self) -> None:
        """The block failed (or was cancelled): drop the parts sent so far.

        The abort is handed to a worker thread before anything is awaited, and awaited through a
        shield, so it is sent even if the task is cancelled again meanwhile. Its own failure is
        swallowed: the caller must see why the block failed, and an upload left behind is never
        visible as an object (a bucket lifecycle rule ``AbortIncompleteMultipartUpload`` removes
        its parts)."""
        self._closed = True
        self._buffer.clear()
        upload_id = self._upload_id
        if upload_id is None:
            return
        store = self._store
        sent = asyncio.get_running_loop().run_in_executor(
            None,
            lambda: store._client.abort_multipart_upload(
                Bucket=store.bucket, Key=self._key, UploadId=upload_id
            ),
        )
        with contextlib.suppress(Exception):
            await asyncio.shield(sent)


class S3ObjectStore:
    """A bucket, or the part of one under ``prefix``, behind the ``ObjectStore`` port.

    ``client`` is a boto3 S3 client (``boto3.client("s3")``). boto3 ships no type information, so
    it is ``Any`` here. ``acl`` is the canned ACL of every object written (None sends none, for a
    bucket whose ACLs are disabled and that refuses any other than the default). ``part_size`` is
    the size of the parts of a multipart upload, and so about the memory an ``open_write`` holds;
    S3 wants at least 5 MiB."""

    def __init__(
        self,
        client: Any,  # a boto3 S3 client; boto3 is untyped
        bucket: str,
        *,
        prefix: str = "",
        acl: str | None = "bucket-owner-full-control",
        part_size: int = 8 * MIB,
    ) -> None:
        if not bucket or "/" in bucket:
            raise ValueError(f"not an S3 bucket name: {bucket!r}")
        if not MIN_PART_SIZE <= part_size <= MAX_PART_SIZE:
            raise ValueError(
                f"part_size must be in [{MIN_PART_SIZE}, {MAX_PART_SIZE}] bytes (S3's limits on the "
                f"parts of a multipart upload), not {part_size}"
            )
        prefix = prefix.strip("/")
        if prefix:
            try:
                _check_key(prefix)
            except ValueError:
                raise ValueError(f"not a key prefix: {prefix!r}") from None
        self.bucket = bucket
        self.prefix = prefix
        self.acl = acl
        self.part_size = part_size
        self._client = client

    @classmethod
    def from_url(cls, url: str, client: Any, **options: Any) -> S3ObjectStore:
        """The store of ``s3://bucket`` or ``s3://bucket/some/prefix`` (a trailing ``/`` is the
        same prefix); ``options`` are the constructor's (``acl``, ``part_size``)."""
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc or parts.query or parts.fragment or "?" in url:
            raise ValueError(f"not an S3 URL (s3://bucket/optional/prefix): {url!r}")
        if not _BUCKET_NAME.fullmatch(parts.netloc):
            raise ValueError(
                f"not an S3 bucket name in {url!r}: {parts.netloc!r} (3 to 63 lower-case letters, "
                "digits, dots and hyphens)"
            )
        prefix = parts.path.strip("/")
        if prefix and any(s in ("", ".", "..") for s in prefix.split("/")):
            raise ValueError(f"not a key prefix in {url!r}: {prefix!r}")
        return cls(client, parts.netloc, prefix=prefix, **options)

    def __repr__(self) -> str:
        return f"S3ObjectStore({self.url()!r})"

    def url(self, full_key: str = "") -> str:
        """``s3://bucket/key`` of a full key, or of the store itself."""
        return f"s3://{self.bucket}/{full_key or self.prefix}"

    def _key(self, key: str) -> str:
        _check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _acl_args(self) -> dict[str, str]:
        return {} if self.acl is None else {"ACL": self.acl}

    async def _call(
        self, operation: str, full_key: str, call: Callable[[], T], *, missing_ok: bool = False
    ) -> T:
        """Run one boto3 call in a thread; boto3 errors become ``Retry`` (or ``_Missing`` for a
        missing object when ``missing_ok``)."""
        try:
            return await asyncio.to_thread(call)
        except _TRANSIENT as error:
            code = _error_code(error)
            if missing_ok and code in _MISSING_CODES:
                raise _Missing from None
            raise Retry(f"S3 {operation} of {self.url(full_key)} failed: {code}") from None

    async def _start_multipart(self, full_key: str) -> str:
        response = await self._call(
            "CreateMultipartUpload",
            full_key,
            lambda: self._client.create_multipart_upload(
                Bucket=self.bucket, Key=full_key, ChecksumAlgorithm=_CHECKSUM_ALGORITHM, **self._acl_args()
            ),
        )
        return str(response["UploadId"])

    # writing ---------------------------------------------------------------------------------

    async def put(self, key: str, data: bytes) -> None:
        async with self.open_write(key) as writer:
            await writer.write(data)

    @asynccontextmanager
    async def open_write(self, key: str) -> AsyncIterator[_S3Writer]:
        """Stream an object. It appears under ``key`` only when the block exits cleanly; on any
        exception, cancellation included, nothing appears (the old object, if any, stays) and the
        multipart upload, if one was started, is aborted.

        The last request (``PutObject`` or ``CompleteMultipartUpload``) is made after the block
        exited cleanly; if it fails, or the task is cancelled while it runs, the error is raised,
        but as with any request whose answer is lost, S3 may have made the object all the same."""
        writer = _S3Writer(self, self._key(key))
        try:
            yield writer
            await writer.finish()
        except BaseException:
            await writer.abort()
            raise

    # reading ---------------------------------------------------------------------------------

    async def get(self, key: str) -> bytes | None:
        full_key = self._key(key)

        def read() -> bytes:
            body = self._client.get_object(Bucket=self.bucket, Key=full_key)["Body"]
            with contextlib.closing(body):
                return bytes(body.read())

        try:
            return await self._call("GetObject", full_key, read, missing_ok=True)
        except _Missing:
            return None  # also a key that is only a prefix of other keys

    async def iter_chunks(self, key: str, *, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        """The object in chunks of ``chunk_size`` bytes (the last one shorter), read one by one
        from one ``GetObject``. ``FileNotFoundError`` when there is no object."""
        if chunk_size < 1:
            raise ValueError("chunk_size must be at least 1")
        full_key = self._key(key)
        try:
            response = await self._call(
                "GetObject",
                full_key,
                lambda: self._client.get_object(Bucket=self.bucket, Key=full_key),
                missing_ok=True,
            )
        except _Missing:
            raise FileNotFoundError(f"no object {self.url(full_key)}") from None
        body = response["Body"]
        try:
            while chunk := await self._call("GetObject", full_key, lambda: body.read(chunk_size)):
                yield bytes(chunk)
        finally:
            body.close()

    async def list(self, prefix: str = "", *, limit: int = 1000, cursor: str | None = None) -> ObjectPage:
        """Keys starting with ``prefix`` (relative to the store's), in S3's order (UTF-8 bytes)."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        base = f"{self.prefix}/" if self.prefix else ""
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": base + prefix, "MaxKeys": limit}
        if cursor:
            kwargs["ContinuationToken"] = cursor
        response = await self._call(
            "ListObjectsV2", base + prefix, lambda: self._client.list_objects_v2(**kwargs)
        )
        objects = [
            ObjectInfo(
                key=str(item["Key"])[len(base) :],
                size=int(item["Size"]),
                modified_at=item["LastModified"].astimezone(UTC),
            )
            for item in response.get("Contents", [])
        ]
        next_cursor = response.get("NextContinuationToken") if response.get("IsTruncated") else None
        return ObjectPage(objects, next_cursor)
