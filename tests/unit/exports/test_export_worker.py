"""The Parquet worker's protocol, run in-process on byte streams."""

from __future__ import annotations

import io
import json

import pyarrow.parquet as pq
import pytest

from supporterflow.runtime import export_worker


def requests(*messages: tuple[bytes, bytes]) -> io.BytesIO:
    stream = io.BytesIO()
    for kind, payload in messages:
        export_worker.write_message(stream, kind, payload)
    stream.seek(0)
    return stream


def replies(stream: io.BytesIO) -> list[tuple[bytes, bytes]]:
    stream.seek(0)
    found = []
    while True:
        try:
            found.append(export_worker.read_message(stream))
        except EOFError:
            return found


def page(*rows: dict[str, object]) -> bytes:
    return b"".join(json.dumps(row).encode() + b"\n" for row in rows)


def test_pages_in_one_parquet_file_out_with_its_stats() -> None:
    out = io.BytesIO()
    export_worker.serve(
        "user-subscriptions",
        requests(
            (
                b"P",
                page(
                    {"userId": "u1", "subscriptionId": "s1", "creationTimestamp": "2026-12-01T00:00:00.000Z"}
                ),
            ),
            (b"P", page({"userId": "u2", "subscriptionId": 7}, {"userId": "u3", "subscriptionId": "s3"})),
            (b"E", b""),
        ),
        out,
    )
    answers = replies(out)
    assert [kind for kind, _ in answers] == [b"B", b"B", b"B", b"S"]
    table = pq.read_table(io.BytesIO(b"".join(payload for kind, payload in answers if kind == b"B")))
    assert table.column("userId").to_pylist() == ["u1", "u2", "u3"]
    assert table.column("subscriptionId").to_pylist() == ["s1", None, "s3"]
    stats = json.loads(answers[-1][1])
    assert stats["mismatches"] == 1
    assert stats["peak_rss_mb"] is None or stats["peak_rss_mb"] > 0


def test_a_cut_stream_is_an_eof_error() -> None:
    stream = io.BytesIO()
    export_worker.write_message(stream, b"P", b"0123456789")
    with pytest.raises(EOFError):
        export_worker.read_message(io.BytesIO(stream.getvalue()[:8]))


def test_an_unknown_message_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown export worker message"):
        export_worker.serve("user-subscriptions", requests((b"X", b"")), io.BytesIO())
