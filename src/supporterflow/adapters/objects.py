"""The local object store: a directory, with atomic writes.

An object is written to a temporary file under ``<root>/.partial/`` (same file system, so the
final rename is atomic) and renamed to its key when complete. Keys are S3-like paths of plain
segments; the ``.partial`` folder is not a key anyone can use."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from supporterflow.adapters import cursors
from supporterflow.ports import ObjectInfo, ObjectPage

_PARTIAL_DIR = ".partial"


class _FileWriter:
    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle

    async def write(self, chunk: bytes) -> None:
        await asyncio.to_thread(self._handle.write, chunk)


def _temporary_for(path: Path, partial_dir: Path) -> tuple[int, str]:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial_dir.mkdir(parents=True, exist_ok=True)
    return tempfile.mkstemp(dir=partial_dir, prefix=path.name + ".")


def _flush_to_disk(handle: BinaryIO) -> None:
    handle.flush()
    os.fsync(handle.fileno())


class DirectoryObjectStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        segments = key.split("/")
        if not key or any(s in ("", ".", "..") for s in segments) or segments[0] == _PARTIAL_DIR:
            raise ValueError(f"not an object key: {key!r}")
        return self.root.joinpath(*segments)

    async def put(self, key: str, data: bytes) -> None:
        async with self.open_write(key) as writer:
            await writer.write(data)

    async def get(self, key: str) -> bytes | None:
        path = self._path(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None  # a key that is only a prefix of other keys is not an object

    async def iter_chunks(self, key: str, *, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        with self._path(key).open("rb") as handle:
            while chunk := await asyncio.to_thread(handle.read, chunk_size):
                yield chunk

    @asynccontextmanager
    async def open_write(self, key: str) -> AsyncIterator[_FileWriter]:
        path = self._path(key)
        fd, temporary = await asyncio.to_thread(_temporary_for, path, self.root / _PARTIAL_DIR)
        try:
            with os.fdopen(fd, "wb") as handle:
                yield _FileWriter(handle)
                await asyncio.to_thread(_flush_to_disk, handle)
            await asyncio.to_thread(os.replace, temporary, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                # Synchronous on purpose: this must run even while the task is being cancelled.
                os.unlink(temporary)
            raise

    async def list(self, prefix: str = "", *, limit: int = 1000, cursor: str | None = None) -> ObjectPage:
        after = cursors.decode(cursor, 1)[0] if cursor else ""
        return await asyncio.to_thread(self._list, prefix, limit, after)

    def _list(self, prefix: str, limit: int, after: str) -> ObjectPage:
        # Walk only the folder the prefix points into, not the whole store.
        folder = prefix.rpartition("/")[0]
        start = self.root.joinpath(*folder.split("/")) if folder else self.root
        keys = sorted(
            key
            for path in (start.rglob("*") if start.is_dir() else ())
            if path.is_file()
            and (key := path.relative_to(self.root).as_posix()).startswith(prefix)
            and key > after
            and not key.startswith(_PARTIAL_DIR + "/")
        )
        objects = []
        for key in keys[:limit]:
            stat = (self.root / key).stat()
            objects.append(ObjectInfo(key, stat.st_size, datetime.fromtimestamp(stat.st_mtime, UTC)))
        next_cursor = cursors.encode([keys[limit - 1]]) if len(keys) > limit else None
        return ObjectPage(objects, next_cursor)
