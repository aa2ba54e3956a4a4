"""What every datalake export shares: pages of lines in, one file per format out, atomically.

Each format is encoded on a worker thread of its own, one page behind the reading, so reading
(SQLite's thread), compressing (zlib) and Parquet encoding (Arrow) overlap on a multi-core machine
while the loop only turns rows into lines. Memory holds a few pages and one Parquet row group,
whatever the number of rows. A file appears under its key only when all of it is written
(``ObjectStore.open_write``); an export that fails leaves the previous file of that date in place.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import time
import zlib
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack, aclosing
from dataclasses import dataclass, field
from typing import Final, Protocol

import structlog

from supporterflow.config import Settings
from supporterflow.domain.exports.columns import COLUMNS
from supporterflow.domain.exports.encode import ParquetRows, RowConverter
from supporterflow.domain.exports.layout import Dataset, Format, object_key
from supporterflow.domain.exports.lines import nulled_empty_strings
from supporterflow.ports import ExportTargets, ObjectStore, ObjectWriter
from supporterflow.runtime import export_worker
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


class _Parquet:
    """Pages are converted on a thread for the first ``process_after_rows`` rows; an export that
    goes on past them hands its pages to a worker process on another core
    (``runtime/export_worker.py``), so that a small export does not pay for starting one. Until
    then pages wait (a bounded number of rows), to be converted here if the export ends first.

    The worker converts one page while the next one is sent to it: ``add`` sends its page and
    collects the answer to the page before, each on a thread of its own (one alone could deadlock:
    the worker may be writing a large answer while this side is still writing a page)."""

    def __init__(self, dataset: Dataset, process_after_rows: int) -> None:
        self._dataset = dataset
        self._process_after_rows = process_after_rows
        self._waiting: list[bytes] = []
        self._waiting_rows = 0
        self._worker: subprocess.Popen[bytes] | None = None
        self._answer_owed = False
        self.mismatches = 0
        self.worker_peak_rss_mb: float | None = None

    async def add(self, page: bytes) -> bytes:
        if self._worker is not None:
            return await self._send(page)
        self._waiting.append(page)
        self._waiting_rows += page.count(b"\n")
        if self._process_after_rows <= 0 or self._waiting_rows <= self._process_after_rows:
            return b""
        self._worker = await asyncio.to_thread(_start_worker, self._dataset)
        waiting, self._waiting = self._waiting, []
        return b"".join([await self._send(early) for early in waiting])

    async def _send(self, page: bytes) -> bytes:
        sending = asyncio.to_thread(self._write, b"P", page)
        if not self._answer_owed:
            await sending
            self._answer_owed = True
            return b""
        _, answer = await asyncio.gather(sending, asyncio.to_thread(self._reply, b"B"))
        return answer

    async def finish(self) -> bytes:
        if self._worker is None:
            return await asyncio.to_thread(self._convert_here)
        return await asyncio.to_thread(self._end)

    def _convert_here(self) -> bytes:
        columns = COLUMNS[self._dataset]
        converter, rows = RowConverter(columns), ParquetRows(columns)
        chunks = []
        for page in self._waiting:
            batch, wrong = converter.convert(export_worker.page_lines(page))
            self.mismatches += wrong
            chunks.append(rows.add(batch))
        self._waiting.clear()
        return b"".join([*chunks, rows.finish()])

    def _write(self, kind: bytes, payload: bytes) -> None:
        try:
            export_worker.write_message(self._running().stdin, kind, payload)  # type: ignore[arg-type]
        except BrokenPipeError:
            raise self._failed() from None

    def _end(self) -> bytes:
        last = self._reply(b"B") if self._answer_owed else b""
        self._answer_owed = False
        self._write(b"E", b"")
        tail = self._reply(b"B")
        stats = json.loads(self._reply(b"S"))
        self.mismatches += stats["mismatches"]
        self.worker_peak_rss_mb = stats["peak_rss_mb"]
        return last + tail

    def _reply(self, expected: bytes) -> bytes:
        try:
            kind, payload = export_worker.read_message(self._running().stdout)  # type: ignore[arg-type]
        except EOFError:
            raise self._failed() from None
        if kind != expected:
            raise RuntimeError(f"the export worker answered {kind!r}, not {expected!r}")
        return payload

    def _failed(self) -> RuntimeError:
        code = self._running().wait()
        return RuntimeError(f"the export worker exited with status {code} (its error is in the log)")

    def _running(self) -> subprocess.Popen[bytes]:
        if self._worker is None:
            raise RuntimeError("no export worker")
        return self._worker

    async def close(self) -> None:
        worker, self._worker = self._worker, None
        if worker is not None:
            await asyncio.to_thread(_stop_worker, worker)


def _start_worker(dataset: Dataset) -> subprocess.Popen[bytes]:
    # Our own interpreter and module, and a dataset name from a fixed list: nothing untrusted.
    return subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "supporterflow.runtime.export_worker", dataset],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )


def _stop_worker(worker: subprocess.Popen[bytes]) -> None:
    """Close its pipes and wait; a worker that does not go in time (the export failed while it
    worked) is killed."""
    for pipe in (worker.stdin, worker.stdout):
        if pipe is not None:
            with contextlib.suppress(OSError):
                pipe.close()
    try:
        worker.wait(timeout=10)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()


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
    return _Parquet(dataset, settings.export_process_after_rows)


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
        if isinstance(output.encoder, _Parquet):
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
    lines: AsyncIterator[list[bytes]],
    *,
    export_targets: ExportTargets,
    settings: Settings,
    metrics: Metrics,
    formats: Sequence[Format] | None,
    progress: Progress | None,
    empty_strings_as_null: bool = False,
) -> ExportSummary:
    """A table export: the ``lines`` made from a ``snapshot`` (closed whatever happens), written
    to the dataset's store in each format (default: the configured ones)."""
    async with aclosing(snapshot):
        await write_files(
            lines,
            empty_strings_as_null=empty_strings_as_null,
            summary=summary,
            store=export_targets.store(summary.dataset),
            formats=formats or settings.export_formats,
            settings=settings,
            progress=progress,
        )
    summary.record(metrics)
    return summary
