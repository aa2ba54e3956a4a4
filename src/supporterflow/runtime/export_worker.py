"""The process that writes an export's Parquet file for ``functions/exporting.py``.

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

import json
import struct
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


def main() -> None:
    dataset = sys.argv[1] if len(sys.argv) == 2 else ""
    if dataset not in DATASETS:
        sys.exit(f"usage: python -m supporterflow.runtime.export_worker {{{','.join(DATASETS)}}}")
    serve(dataset, sys.stdin.buffer, sys.stdout.buffer)


if __name__ == "__main__":
    main()
