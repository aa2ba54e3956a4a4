"""The local object store: a directory, with atomic writes (temporary file, then rename)."""

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

_PARTIAL_SUFFIX = ".partial"


class _FileWriter:
    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle

    async def write(self, chunk: bytes) -> None:
        await asyncio.to_thread(self._handle.write, chunk)


def _temporary_beside(path: Path) -> tuple[int, str]:
    path.parent.mkdir(parents=True, exist_ok=True)
    return tempfile.mkstemp(dir=path.parent, prefix="." + path.name, suffix=_PARTIAL_SUFFIX)


def _flush_to_disk(handle: BinaryIO) -> None:
    handle.flush()
    os.fsync(handle.fileno())


class DirectoryObjectStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not key or key.endswith("/") or not path.is_relative_to(self.root.resolve()):
            raise ValueError(f"not an object key: {key!r}")
        return path

    async def put(self, key: str, data: bytes) -> None:
        async with self.open_write(key) as writer:
            await writer.write(data)

    async def get(self, key: str) -> bytes | None:
        path = self._path(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            return None

    async def iter_chunks(self, key: str, *, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        with self._path(key).open("rb") as handle:
            while chunk := await asyncio.to_thread(handle.read, chunk_size):
                yield chunk

    @asynccontextmanager
    async def open_write(self, key: str) -> AsyncIterator[_FileWriter]:
        path = self._path(key)
        fd, temporary = await asyncio.to_thread(_temporary_beside, path)
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
        root = self.root.resolve()
        keys = (
            sorted(
                path.relative_to(root).as_posix()
                for path in root.rglob("*")
                if path.is_file() and not path.name.endswith(_PARTIAL_SUFFIX)
            )
            if root.exists()
            else []
        )
        selected = [k for k in keys if k.startswith(prefix) and k > after]
        objects = []
        for key in selected[:limit]:
            stat = (root / key).stat()
            objects.append(ObjectInfo(key, stat.st_size, datetime.fromtimestamp(stat.st_mtime, UTC)))
        next_cursor = cursors.encode([selected[limit - 1]]) if len(selected) > limit else None
        return ObjectPage(objects, next_cursor)
