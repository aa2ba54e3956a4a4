"""Lines to typed record batches, and record batches to a Parquet file.

A Parquet row is its NDJSON line, typed: the converter decodes the very line the NDJSON file gets,
so the two formats agree by construction. Decoding uses msgspec with each payload captured as raw
JSON text (``msgspec.Raw``), which is what makes a million rows a matter of seconds: the payloads,
most of each row, are copied through without becoming Python objects.

A value of the wrong type for its column (a number where a string belongs, an unparsable
timestamp) becomes null in that column, is counted, and stays intact in the NDJSON line.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final

import msgspec
import pyarrow as pa
import pyarrow.parquet as pq
from msgspec.structs import astuple

from supporterflow.domain.exports.columns import ARROW_TYPES, Column, Kind, arrow_schema

_NULL: Final = msgspec.Raw(b"null")
_PYTHON_TYPES: Final[dict[Kind, type]] = {
    "string": str,
    "bool": bool,
    "int": int,
    "timestamp": str,
    "date": str,
}
# Rows per Parquet row group: big enough for good compression and few footer entries, small
# enough that the rows waiting for their group stay within tens of megabytes.
ROW_GROUP_ROWS: Final = 32_768


class RowConverter:
    """Compact JSON lines -> record batches of ``columns``."""

    def __init__(self, columns: tuple[Column, ...]) -> None:
        self.columns = columns
        self.schema = arrow_schema(columns)
        fields: list[tuple[str, Any, Any]] = [
            (c.name, msgspec.Raw, _NULL) if c.kind == "json" else (c.name, _PYTHON_TYPES[c.kind] | None, None)
            for c in columns
        ]
        self._row_type = msgspec.defstruct("ExportRow", fields)
        self._decode = msgspec.json.Decoder(self._row_type).decode
        self._decode_any = msgspec.json.Decoder().decode

    def convert(self, lines: Sequence[str | bytes]) -> tuple[pa.RecordBatch, int]:
        """The batch, and how many values did not fit their column (nulled)."""
        rows = []
        mismatches = 0
        decode = self._decode
        for line in lines:
            try:
                rows.append(decode(line))
            except msgspec.ValidationError:
                row, wrong = self._lenient(line)
                rows.append(row)
                mismatches += wrong
        arrays = []
        # Rows to columns in one transposition (much cheaper than one attribute lookup per cell).
        values_by_column = zip(*map(astuple, rows), strict=True) if rows else ([] for _ in self.columns)
        for column, values in zip(self.columns, values_by_column, strict=True):
            array, wrong = _array(column.kind, list(values))
            arrays.append(array)
            mismatches += wrong
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema), mismatches

    def _lenient(self, line: str | bytes) -> tuple[Any, int]:
        document = self._decode_any(line)
        if not isinstance(document, dict):
            raise ValueError("an exported row must be a JSON object")
        values: dict[str, Any] = {}
        wrong = 0
        for column in self.columns:
            value = document.get(column.name)
            if column.kind == "json":
                values[column.name] = msgspec.Raw(msgspec.json.encode(value))
            elif value is None or _fits(column.kind, value):
                values[column.name] = value
            else:
                values[column.name] = None
                wrong += 1
        return self._row_type(**values), wrong


def _fits(kind: Kind, value: Any) -> bool:
    expected = _PYTHON_TYPES[kind]
    # JSON true is not an integer column's 1.
    return isinstance(value, expected) and (expected is bool or not isinstance(value, bool))


def _array(kind: Kind, values: list[Any]) -> tuple[pa.Array, int]:
    if kind == "json":
        texts = [None if raw == _NULL else bytes(raw) for raw in values]
        # A view, not a cast: the bytes come from decoding text, so they are UTF-8 already.
        return pa.array(texts, pa.binary()).view(pa.string()), 0
    if kind in ("timestamp", "date"):
        strings = pa.array(values, pa.string())
        try:
            return strings.cast(ARROW_TYPES[kind]), 0
        except pa.ArrowInvalid:
            return _parse_one_by_one(kind, values)
    return pa.array(values, ARROW_TYPES[kind]), 0


def _parse_one_by_one(kind: Kind, values: list[Any]) -> tuple[pa.Array, int]:
    """The slow path of a batch holding a value Arrow's ISO-8601 cast refuses (more than
    millisecond precision, no zone): parse each; what still fails becomes null."""
    parsed: list[Any] = []
    wrong = 0
    for value in values:
        if value is None:
            parsed.append(None)
            continue
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            parsed.append(None)
            wrong += 1
            continue
        if kind == "date":
            parsed.append(moment.date())
        else:
            # A time without a zone is taken as UTC: every timestamp the flows write is UTC.
            moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
            parsed.append(moment.replace(microsecond=moment.microsecond // 1000 * 1000))
    return pa.array(parsed, ARROW_TYPES[kind]), wrong


class _Collect(io.RawIOBase):
    """The Parquet writer's sink: keeps what it is given until the caller takes it."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._position = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self._parts.append(chunk)
        self._position += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self._position

    def take(self) -> bytes:
        chunk = b"".join(self._parts)
        self._parts.clear()
        return chunk


class ParquetRows:
    """A Parquet file produced as it goes: ``add`` takes record batches (from ``RowConverter``) and
    returns the bytes of each row group completed so far; ``finish`` writes the last group and the
    footer. Conversion is separate so that it can run in another process (see
    ``functions/exporting.py``)."""

    def __init__(self, columns: tuple[Column, ...], *, row_group_rows: int = ROW_GROUP_ROWS) -> None:
        self.schema = arrow_schema(columns)
        self._sink = _Collect()
        self._writer = pq.ParquetWriter(self._sink, self.schema, compression="snappy")
        self._waiting: list[pa.RecordBatch] = []
        self._waiting_rows = 0
        self._row_group_rows = row_group_rows

    def add(self, batch: pa.RecordBatch) -> bytes:
        if batch.num_rows:
            self._waiting.append(batch)
            self._waiting_rows += batch.num_rows
            if self._waiting_rows >= self._row_group_rows:
                self._flush_group()
        return self._sink.take()

    def finish(self) -> bytes:
        self._flush_group()
        self._writer.close()
        return self._sink.take()

    def _flush_group(self) -> None:
        if self._waiting:
            table = pa.Table.from_batches(self._waiting, schema=self.schema)
            self._writer.write_table(table, row_group_size=max(table.num_rows, 1))
            self._waiting.clear()
            self._waiting_rows = 0
