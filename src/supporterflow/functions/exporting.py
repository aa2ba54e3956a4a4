"""What every datalake export shares: pages of lines in, one file per format out, atomically.

Each format is encoded on a worker thread of its own, one page behind the reading, so reading
(SQLite's thread), compressing (zlib) and Parquet encoding (Arrow) overlap on a multi-core machine
while the loop only turns rows into lines. Memory holds a few pages and one Parquet row group,
whatever the number of rows. A file appears under its key only when all of it is written
(``ObjectStore.open_write``); an export that fails leaves the previous file of that date in place.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack, aclosing
from dataclasses import dataclass, field
from typing import Final, Protocol

import structlog

from supporterflow.config import Settings
from supporterflow.domain.exports.columns import COLUMNS
from supporterflow.domain.exports.encode import GzipLines, ParquetRows
from supporterflow.domain.exports.layout import Dataset, Format, object_key
from supporterflow.ports import ExportTargets, ObjectStore, ObjectWriter
from supporterflow.runtime.metrics import Metrics

__all__ = ["ExportFile", "ExportSummary", "Progress", "export_snapshot", "write_files"]

log = structlog.get_logger(__name__)

#: Called with the number of rows written since the last call.
Progress = Callable[[int], None]

# Pages encoded ahead of the writes: one in progress, one waiting.
_IN_FLIGHT: Final = 2


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
    received: int | None = None
    left: int | None = None

    def record(self, metrics: Metrics) -> None:
        metrics.export_rows.labels(self.dataset).inc(self.rows)
        for written in self.files:
            metrics.export_bytes.labels(self.dataset, written.format).inc(written.bytes)
        metrics.export_seconds.labels(self.dataset).observe(self.seconds)
        metrics.export_last_success.labels(self.dataset).set(time.time())


class _Encoder(Protocol):
    def add(self, lines: Sequence[str]) -> bytes: ...

    def finish(self) -> bytes: ...


class _Output:
    """One file being written: its encoder's work runs in order on a worker thread."""

    def __init__(self, fmt: Format, key: str, encoder: _Encoder, writer: ObjectWriter) -> None:
        self.format = fmt
        self.key = key
        self.bytes = 0
        self._encoder = encoder
        self._writer = writer
        self._work: deque[asyncio.Future[None]] = deque()

    @property
    def mismatches(self) -> int:
        return self._encoder.mismatches if isinstance(self._encoder, ParquetRows) else 0

    async def feed(self, lines: list[str]) -> None:
        previous = self._work[-1] if self._work else None
        self._work.append(asyncio.ensure_future(self._encode(lines, previous)))
        while len(self._work) > _IN_FLIGHT:
            await self._work.popleft()

    async def _encode(self, lines: list[str], previous: asyncio.Future[None] | None) -> None:
        if previous is not None:
            await previous
        await self._write(await asyncio.to_thread(self._encoder.add, lines))

    async def _write(self, chunk: bytes) -> None:
        if chunk:
            await self._writer.write(chunk)
            self.bytes += len(chunk)

    async def finish(self) -> None:
        while self._work:
            await self._work.popleft()
        await self._write(await asyncio.to_thread(self._encoder.finish))

    async def abandon(self) -> None:
        """Stop the encoding before the file is thrown away (its thread must not outlive it)."""
        for work in self._work:
            work.cancel()
        await asyncio.gather(*self._work, return_exceptions=True)
        self._work.clear()


def _encoder(fmt: Format, dataset: Dataset, settings: Settings) -> _Encoder:
    if fmt == "ndjson":
        return GzipLines(settings.export_gzip_level)
    return ParquetRows(COLUMNS[dataset])


async def write_files(
    pages: AsyncIterator[list[str]],
    *,
    summary: ExportSummary,
    store: ObjectStore,
    formats: Sequence[Format],
    settings: Settings,
    part: str | None = None,
    progress: Progress | None = None,
) -> None:
    """Write every page of lines to one file per format, each committed only when complete;
    counts go into ``summary``."""
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
                for output in outputs:
                    await output.feed(lines)
                rows += len(lines)
                if progress is not None:
                    progress(len(lines))
            for output in outputs:
                await output.finish()
        except BaseException:
            for output in outputs:
                await output.abandon()
            raise
    summary.rows += rows
    summary.seconds += time.perf_counter() - started
    for output in outputs:
        summary.files.append(ExportFile(output.format, output.key, output.bytes))
        summary.mismatches += output.mismatches
    log.info(
        "export written",
        dataset=summary.dataset,
        date=summary.date,
        rows=rows,
        files=[output.key for output in outputs],
    )


async def export_snapshot(
    summary: ExportSummary,
    snapshot: AsyncGenerator[list[str], None],
    lines: AsyncIterator[list[str]],
    *,
    export_targets: ExportTargets,
    settings: Settings,
    metrics: Metrics,
    formats: Sequence[Format] | None,
    progress: Progress | None,
) -> ExportSummary:
    """A table export: the ``lines`` made from a ``snapshot`` (closed whatever happens), written
    to the dataset's store in each format (default: the configured ones)."""
    async with aclosing(snapshot):
        await write_files(
            lines,
            summary=summary,
            store=export_targets.store(summary.dataset),
            formats=formats or settings.export_formats,
            settings=settings,
            progress=progress,
        )
    summary.record(metrics)
    return summary
