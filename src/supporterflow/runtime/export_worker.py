"""The process that writes an export's Parquet file for ``functions/exporting.py``, and the
encoder that drives it from the export's side (``ParquetEncoder``).

Why a process: turning JSON lines into typed columns is Python work that holds the GIL, and so is
reading the rows. In one process they take turns on one core; here a second core does the
conversion while the first reads and compresses. It is a plain child (``python -m
supporterflow.runtime.export_worker DATASET``) talking over its stdin and stdout, not a
multiprocessing pool: nothing of the parent is imported or re-run in it, only the encoders.

Protocol, each message ``<kind: 1 byte><length: 4 bytes, big-endian><payload>``:

* parent -> worker: ``P`` a page (newline-terminated JSON lines, UTF-8); ``E`` the end.
* worker -> parent: ``B`` the Parquet bytes a page completed (often none), after each ``P``;
  after ``E``, ``B`` the rest of the file and ``S`` JSON ``{"mismatches", "peak_rss_mb"}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import struct
import subprocess
import sys
from pathlib import Path
from typing import BinaryIO, Final

from supporterflow.domain.exports.columns import COLUMNS
from supporterflow.domain.exports.encode import ParquetRows, RowConverter
from supporterflow.domain.exports.layout import DATASETS, Dataset

_HEADER: Final = struct.Struct(">cI")


def write_message(stream: BinaryIO, kind: bytes, payload: bytes = b"") -> None:
    stream.write(_HEADER.pack(kind, len(payload)))
    stream.write(payload)
    stream.flush()


def read_message(stream: BinaryIO) -> tuple[bytes, bytes]:
    """The next message; ``EOFError`` when the other side has gone."""
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        raise EOFError("the other side of the export worker pipe closed")
    kind, length = _HEADER.unpack(header)
    payload = stream.read(length)
    if len(payload) < length:
        raise EOFError("the other side of the export worker pipe closed mid-message")
    return kind, payload


def page_lines(page: bytes) -> list[bytes]:
    """The lines of a page (each ends with a newline, the last one included)."""
    return page.split(b"\n")[:-1]


def peak_rss_mb() -> float | None:
    """This process's peak resident memory (Linux ``VmHWM``), None where it cannot be read."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


def serve(dataset: Dataset, requests: BinaryIO, replies: BinaryIO) -> None:
    converter = RowConverter(COLUMNS[dataset])
    rows = ParquetRows(COLUMNS[dataset])
    mismatches = 0
    while True:
        kind, payload = read_message(requests)
        if kind == b"P":
            batch, wrong = converter.convert(page_lines(payload))
            mismatches += wrong
            write_message(replies, b"B", rows.add(batch))
        elif kind == b"E":
            write_message(replies, b"B", rows.finish())
            stats = {"mismatches": mismatches, "peak_rss_mb": peak_rss_mb()}
            write_message(replies, b"S", json.dumps(stats).encode())
            return
        else:
            raise ValueError(f"unknown export worker message {kind!r}")


class ParquetEncoder:
    """The parent's side: an export's Parquet encoder. Pages are converted on a thread for the
    first ``process_after_rows`` rows; an export that goes on past them hands its pages to a
    worker process on another core, so that a small export does not pay for starting one. Until
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
            batch, wrong = converter.convert(page_lines(page))
            self.mismatches += wrong
            chunks.append(rows.add(batch))
        self._waiting.clear()
        return b"".join([*chunks, rows.finish()])

    def _write(self, kind: bytes, payload: bytes) -> None:
        try:
            write_message(self._running().stdin, kind, payload)  # type: ignore[arg-type]
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
            kind, payload = read_message(self._running().stdout)  # type: ignore[arg-type]
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


def main() -> None:
    dataset = sys.argv[1] if len(sys.argv) == 2 else ""
    if dataset not in DATASETS:
        sys.exit(f"usage: python -m supporterflow.runtime.export_worker {{{','.join(DATASETS)}}}")
    serve(dataset, sys.stdin.buffer, sys.stdout.buffer)


if __name__ == "__main__":
    main()
