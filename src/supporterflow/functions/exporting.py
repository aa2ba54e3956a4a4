"""What every datalake export shares: pages of lines in, one file per format out, atomically.

Each format is encoded a page or two behind the reading, so reading (SQLite, on its thread),
compressing (zlib, on a thread: it lets go of the GIL) and building Parquet (in a worker process
past the first rows, ``runtime/export_worker.py``) overlap on a multi-core machine while the loop
only joins rows into pages. Memory holds a few pages and one Parquet row group, whatever the
number of rows. A file appears under its key only when all of it is written
(``ObjectStore.open_write``); an export that fails leaves the previous file of that date in place.
"""

from __future__ import annotations

import asyncio
import time
import zlib
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack, aclosing
from dataclasses import dataclass, field
from typing import Final, Protocol

import structlog

from supporterflow.config import Settings
from supporterflow.domain.exports.layout import Dataset, Format, object_key
from supporterflow.domain.exports.lines import nulled_empty_strings
from supporterflow.ports import ExportTargets, ObjectStore, ObjectWriter
from supporterflow.runtime.export_worker import ParquetEncoder
from supporterflow.runtime.metrics import Metrics

__all__ = ["ExportFile", "ExportSummary", "Progress", "export_snapshot", "write_files"]

log = structlog.get_logger(__name__)

#: Called with the number of rows written since the last call.
Progress = Callable[[int], None]

# Pages encoded ahead of the writes: one in progress, one waiting.
_IN_FLIGHT: Final = 2
_GZIP_FORMAT: Final = 16 + zlib.MAX_WBITS  # a gzip header and trailer, not a bare zlib stream


@dataclass(frozen=True)
class ExportFile:
    format: Format
    key: str
    bytes: int


@dataclass
class ExportSummary:
    """What one export wrote. For a historical drain, ``received`` counts every message received and
    ``left`` those dated after the export date (left on the queue for a later run)."""

    dataset: Dataset
    date: str
    rows: int = 0
    files: list[ExportFile] = field(default_factory=list)
    seconds: float = 0.0
    mismatches: int = 0  # values nulled in Parquet for not fitting their column's type
    worker_peak_rss_mb: float | None = None  # of the Parquet conversion process, when one ran
    received: int | None = None
    left: int | None = None

    def record(self, metrics: Metrics) -> None:
        metrics.export_rows.labels(self.dataset).inc(self.rows)
        for written in self.files:
            metrics.export_bytes.labels(self.dataset, written.format).inc(written.bytes)
        metrics.export_seconds.labels(self.dataset).observe(self.seconds)
        metrics.export_last_success.labels(self.dataset).set(time.time())


class _Encoder(Protocol):
    """Pages in (newline-terminated lines, UTF-8), the bytes of the file out, in order; ``close``
    frees what it holds."""

    async def add(self, page: bytes) -> bytes: ...

    async def finish(self) -> bytes: ...

    async def close(self) -> None: ...


class _Gzip:
    def __init__(self, level: int) -> None:
        self._compressor = zlib.compressobj(level, zlib.DEFLATED, _GZIP_FORMAT)

    async def add(self, page: bytes) -> bytes:
        # zlib lets go of the GIL while it compresses: this thread runs beside the reading.
        return await asyncio.to_thread(self._compressor.compress, page)

    async def finish(self) -> bytes:
        return await asyncio.to_thread(self._compressor.flush)

    async def close(self) -> None:
        return None


class _Output:
    """One file being written: its encoding runs in order, a page or two behind the reading."""

    def __init__(self, fmt: Format, key: str, encoder: _Encoder, writer: ObjectWriter) -> None:
        self.format = fmt
        self.key = key
        self.bytes = 0
        self.encoder = encoder
        self._writer = writer
        self._work: deque[asyncio.Future[None]] = deque()

    async def feed(self, page: bytes) -> None:
        previous = self._work[-1] if self._work else None
        self._work.append(asyncio.ensure_future(self._encode(page, previous)))
        while len(self._work) > _IN_FLIGHT:
            await self._work.popleft()

    async def _encode(self, page: bytes, previous: asyncio.Future[None] | None) -> None:
        if previous is not None:
            await previous
        await self._write(await self.encoder.add(page))

    async def _write(self, chunk: bytes) -> None:
        if chunk:
            await self._writer.write(chunk)
            self.bytes += len(chunk)

    async def finish(self) -> None:
        while self._work:
            await self._work.popleft()
        await self._write(await self.encoder.finish())

    async def abandon(self) -> None:
        """Stop the encoding before the file is thrown away (its thread must not outlive it)."""
        for work in self._work:
            work.cancel()
        await asyncio.gather(*self._work, return_exceptions=True)
        self._work.clear()


def _encoder(fmt: Format, dataset: Dataset, settings: Settings) -> _Encoder:
    if fmt == "ndjson":
        return _Gzip(settings.export_gzip_level)
    return ParquetEncoder(dataset, settings.export_process_after_rows)


def _page(lines: list[bytes], empty_strings_as_null: bool) -> bytes:
    """One page as both encoders take it: each line ends with a newline (spec §9.1)."""
    page = b"\n".join([*lines, b""])
    # On the whole page at once: none of the replaced patterns can span two lines.
    return nulled_empty_strings(page) if empty_strings_as_null else page


async def write_files(
    pages: AsyncIterator[list[bytes]],
    *,
    summary: ExportSummary,
    store: ObjectStore,
    formats: Sequence[Format],
    settings: Settings,
    part: str | None = None,
    empty_strings_as_null: bool = False,
    progress: Progress | None = None,
) -> None:
    """Write every page of lines to one file per format, each committed only when complete;
    counts go into ``summary``. ``empty_strings_as_null`` writes every empty string value as
    null, as DynamoDB stored it (the events export)."""
    if not formats:
        raise ValueError("no export format chosen")
    started = time.perf_counter()
    outputs: list[_Output] = []
    rows = 0
    async with AsyncExitStack() as files:
        for fmt in dict.fromkeys(formats):
            key = object_key(fmt, stage=settings.stage, day=summary.date, part=part)
            writer = await files.enter_async_context(store.open_write(key))
            outputs.append(_Output(fmt, key, _encoder(fmt, summary.dataset, settings), writer))
        try:
            async for lines in pages:
                if not lines:
                    continue
                page = _page(lines, empty_strings_as_null)
                for output in outputs:
                    await output.feed(page)
                rows += len(lines)
                if progress is not None:
                    progress(len(lines))
            for output in outputs:
                await output.finish()
        except BaseException:
            for output in outputs:
                await output.abandon()
            raise
        finally:
            for output in outputs:
                await output.encoder.close()
    summary.rows += rows
    summary.seconds += time.perf_counter() - started
    for output in outputs:
        summary.files.append(ExportFile(output.format, output.key, output.bytes))
        if isinstance(output.encoder, ParquetEncoder):
            summary.mismatches += output.encoder.mismatches
            summary.worker_peak_rss_mb = output.encoder.worker_peak_rss_mb
    log.info(
        "export written",
        dataset=summary.dataset,
        date=summary.date,
        rows=rows,
        files=[output.key for output in outputs],
    )


async def export_snapshot(
    summary: ExportSummary,
    snapshot: AsyncGenerator[list[bytes], None],
    lines: AsyncIterator[list[bytes]] | None = None,
    *,
    export_targets: ExportTargets,
    settings: Settings,
    metrics: Metrics,
    formats: Sequence[Format] | None,
    progress: Progress | None,
    empty_strings_as_null: bool = False,
) -> ExportSummary:
    """A table export: the ``lines`` made from a ``snapshot`` (default: its rows as they are; the
    snapshot is closed whatever happens), written to the dataset's store in each format (default:
    the configured ones)."""
    async with aclosing(snapshot):
        await write_files(
            lines or snapshot,
            empty_strings_as_null=empty_strings_as_null,
            summary=summary,
            store=export_targets.store(summary.dataset),
            formats=formats or settings.export_formats,
            settings=settings,
            progress=progress,
        )
    summary.record(metrics)
    return summary
