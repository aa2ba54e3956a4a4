"""Durable queue throughput on SQLite, against the limit of the file itself.

Why: every message the project moves goes through ``SqliteQueue``; its cost decides how much a
single process can ingest and drain. The yardstick is what SQLite does with no adapter at all: one
``executemany`` of the same rows into a bare table (no index) in one transaction, with the same file
settings. Each figure is printed with its ratio to that limit, so a regression shows up as a ratio
dropping rather than as a number that depends on the machine.

Measured, for ``synchronous=FULL`` (the default) and ``NORMAL``, each in a fresh directory:

(a) single sends: N awaited ``send()`` from 64 concurrent tasks (exercises group commit);
(b) batched send: ``send_batch`` of the N bodies, 1,000 at a time (best of 3 rounds);
(c) receive+delete: a queue filled with the N bodies (not timed), then 8 consumers each looping
    ``receive(10, 60)`` and deleting what they got until it is empty, or until a time cap (12 s,
    quick 5 s) which the output then reports with what was left;
(d) the limit: a raw ``executemany`` of N rows into a bare table in one transaction (best of 3).

Targets: batched send >= 0.5x the raw insert; receive+delete >= 5,000 messages/s on one core.

    python -m benchmarks.queue [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import sqlite3
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from supporterflow.adapters.clock import SystemClock
from supporterflow.adapters.sqlite.database import Database
from supporterflow.adapters.sqlite.queues import SqliteQueue
from supporterflow.declare import QueueDef

QUEUE = "bench-queue"
SEND_TASKS = 64
BATCH_SIZE = 1_000
CONSUMERS = 8
RECEIVE_MAX = 10
VISIBILITY_S = 60
MODES = ("FULL", "NORMAL")
SHORT_ROUNDS = 3
BATCHED_TARGET = 0.5  # x the raw insert
RECEIVE_TARGET = 5_000.0  # messages/s


def message_body(index: int) -> bytes:
    """A realistic ~300-byte message: a reference to a store subscription to fetch, as the ingest
    side enqueues it (Play purchase tokens are opaque strings of ~150 characters)."""
    token = hashlib.blake2b(index.to_bytes(8, "big"), digest_size=48).hexdigest()
    return json.dumps(
        {
            "kind": "google.subscription.fetch",
            "subscriptionId": "supporter_monthly",
            "packageName": "com.example.supporters",
            "purchaseToken": f"{token[:40]}.AO-J1O{token[40:]}",
            "receivedAt": "2026-01-01T00:00:00.000Z",
            "correlationId": f"{index:016x}",
        },
        separators=(",", ":"),
    ).encode()


@dataclass(frozen=True)
class Rate:
    """``count`` items in ``seconds`` of wall time, using ``cpu_s`` of this process's CPU (all
    threads: the event loop and SQLite's writer thread)."""

    count: int
    seconds: float
    cpu_s: float

    @property
    def per_second(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0

    @property
    def cores(self) -> float:
        return self.cpu_s / self.seconds if self.seconds else 0.0


class _Stopwatch:
    def __init__(self) -> None:
        self._wall = time.perf_counter()
        self._cpu = time.process_time()

    def rate(self, count: int) -> Rate:
        return Rate(count, time.perf_counter() - self._wall, time.process_time() - self._cpu)


@dataclass(frozen=True)
class ModeFigures:
    """The four measurements for one ``synchronous`` setting. ``left_in_queue`` is what the drain
    did not reach before its time cap (0 when it emptied the queue)."""

    synchronous: str
    single_send: Rate
    batched_send: Rate
    receive_delete: Rate
    left_in_queue: int
    raw_insert: Rate

    def vs_raw(self, rate: Rate) -> float:
        return rate.per_second / self.raw_insert.per_second if self.raw_insert.per_second else 0.0


@contextlib.asynccontextmanager
async def _queue(directory: Path, synchronous: str) -> AsyncIterator[SqliteQueue]:
    db = Database(directory / "queue.db", synchronous=synchronous)
    # Constructed before open(): adapters may register schema when built, and open() creates it.
    queue = SqliteQueue(db, QueueDef(QUEUE, visibility_s=VISIBILITY_S, max_receives=5), SystemClock())
    db.open()
    try:
        yield queue
    finally:
        db.close()


async def single_sends(queue: SqliteQueue, bodies: Sequence[bytes]) -> Rate:
    """One ``send`` per message, as request handlers issue them; with 64 in flight the writer
    thread folds them into group commits, so this is the per-message overhead of the adapter."""
    shares = [bodies[task::SEND_TASKS] for task in range(SEND_TASKS)]

    async def sender(share: Sequence[bytes]) -> None:
        for body in share:
            await queue.send(body)

    watch = _Stopwatch()
    await asyncio.gather(*(sender(share) for share in shares))
    return watch.rate(len(bodies))


async def batched_sends(queue: SqliteQueue, bodies: Sequence[bytes]) -> Rate:
    """``send_batch`` one batch after the other: one write job and one commit per batch, so this is
    the adapter's cost per row once the per-job overhead is amortised."""
    watch = _Stopwatch()
    for start in range(0, len(bodies), BATCH_SIZE):
        await queue.send_batch(bodies[start : start + BATCH_SIZE])
    return watch.rate(len(bodies))


async def receive_and_delete(queue: SqliteQueue, cap_s: float) -> tuple[Rate, int]:
    """Drain the queue; returns the rate and how many messages were left when the cap hit."""
    deleted = 0
    deadline = time.perf_counter() + cap_s

    async def consumer() -> None:
        nonlocal deleted
        while time.perf_counter() < deadline:
            messages = await queue.receive(RECEIVE_MAX, VISIBILITY_S)
            if not messages:
                return
            for message in messages:
                await queue.delete(message)
            deleted += len(messages)

    watch = _Stopwatch()
    await asyncio.gather(*(consumer() for _ in range(CONSUMERS)))
    rate = watch.rate(deleted)
    depth = await queue.depth()
    return rate, depth.visible + depth.in_flight + depth.delayed


def raw_insert(directory: Path, bodies: Sequence[bytes], synchronous: str) -> Rate:
    """The limit: the same rows, one transaction, no index, no adapter."""
    conn = sqlite3.connect(directory / "raw.db", isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {synchronous}")
        conn.execute("CREATE TABLE raw_messages (queue TEXT, body BLOB, sent_at REAL, visible_at REAL)")
        watch = _Stopwatch()
        now = time.time()
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO raw_messages (queue, body, sent_at, visible_at) VALUES (?, ?, ?, ?)",
            ((QUEUE, body, now, now) for body in bodies),
        )
        conn.execute("COMMIT")
        return watch.rate(len(bodies))
    finally:
        conn.close()


async def _batched_round(synchronous: str, bodies: Sequence[bytes]) -> Rate:
    with tempfile.TemporaryDirectory(prefix="sf-bench-batched-") as directory:
        async with _queue(Path(directory), synchronous) as queue:
            return await batched_sends(queue, bodies)


def _raw_round(synchronous: str, bodies: Sequence[bytes]) -> Rate:
    with tempfile.TemporaryDirectory(prefix="sf-bench-raw-") as directory:
        return raw_insert(Path(directory), bodies, synchronous)


async def measure_mode(synchronous: str, bodies: Sequence[bytes], drain_cap_s: float) -> ModeFigures:
    """(b) and (d) last a fraction of a second, so one fsync hiccup or a neighbour's burst would
    decide them: each is the best of ``SHORT_ROUNDS`` rounds, every round in a fresh directory."""
    with tempfile.TemporaryDirectory(prefix="sf-bench-single-") as directory:
        async with _queue(Path(directory), synchronous) as queue:
            single = await single_sends(queue, bodies)
    batched = max([await _batched_round(synchronous, bodies) for _ in range(SHORT_ROUNDS)], key=_speed)
    with tempfile.TemporaryDirectory(prefix="sf-bench-drain-") as directory:
        async with _queue(Path(directory), synchronous) as queue:
            await batched_sends(queue, bodies)  # the fill is not measured here
            drained, left = await receive_and_delete(queue, drain_cap_s)
    raw = max([_raw_round(synchronous, bodies) for _ in range(SHORT_ROUNDS)], key=_speed)
    return ModeFigures(synchronous, single, batched, drained, left, raw)


def _speed(rate: Rate) -> float:
    return rate.per_second


def _table(figures: list[ModeFigures], n: int) -> Table:
    table = Table(title=f"SQLite queue, N = {n:,} messages of {len(message_body(0))} bytes")
    for column in ("sync", "measure", "per s", "vs raw", "seconds", "cpu"):
        table.add_column(column, justify="left" if column in ("sync", "measure") else "right")
    for mode in figures:
        rows = [
            (f"single send ({SEND_TASKS} tasks)", mode.single_send),
            (f"batched send ({BATCH_SIZE:,}/batch)", mode.batched_send),
            (f"receive+delete ({CONSUMERS} consumers)", mode.receive_delete),
            ("raw executemany (limit)", mode.raw_insert),
        ]
        for label, rate in rows:
            table.add_row(
                mode.synchronous,
                label,
                f"{rate.per_second:,.0f}",
                f"{mode.vs_raw(rate):.3f}x",
                f"{rate.seconds:.2f}",
                f"{rate.cores:.2f}",
            )
        table.add_section()
    return table


def _verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def _summary_lines(mode: ModeFigures) -> list[str]:
    prefix = f"queue[{mode.synchronous}]:"
    batched = mode.vs_raw(mode.batched_send)
    receive = mode.receive_delete.per_second
    drained = (
        "queue emptied"
        if mode.left_in_queue == 0
        else f"stopped at the time cap with {mode.left_in_queue:,} left"
    )
    return [
        f"{prefix} single send = {mode.vs_raw(mode.single_send):.3f}x raw executemany insert "
        f"({mode.single_send.per_second:,.0f} msg/s)",
        f"{prefix} batched send = {batched:.2f}x raw executemany insert "
        f"(target >= {BATCHED_TARGET}x: {_verdict(batched >= BATCHED_TARGET)})",
        f"{prefix} receive+delete = {mode.vs_raw(mode.receive_delete):.3f}x raw executemany insert, "
        f"{receive:,.0f} msg/s (target >= {RECEIVE_TARGET:,.0f} msg/s: "
        f"{_verdict(receive >= RECEIVE_TARGET)}; {drained})",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.queue", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="N = 5,000 instead of 50,000")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    n, drain_cap_s = (5_000, 5.0) if args.quick else (50_000, 12.0)
    bodies = [message_body(index) for index in range(n)]

    console = Console()
    console.print(
        f"SQLite {sqlite3.sqlite_version}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; "
        f"receive+delete capped at {drain_cap_s:g} s",
        soft_wrap=True,
    )
    figures = [asyncio.run(measure_mode(mode, bodies, drain_cap_s)) for mode in MODES]
    console.print(_table(figures, n))
    for mode in figures:
        for line in _summary_lines(mode):
            print(line)
    if args.json:
        report = {
            "n": n,
            "body_bytes": len(bodies[0]),
            "sqlite": sqlite3.sqlite_version,
            "drain_cap_s": drain_cap_s,
            "modes": {
                mode.synchronous: {
                    **asdict(mode),
                    "per_second": {
                        name: getattr(mode, name).per_second
                        for name in ("single_send", "batched_send", "receive_delete", "raw_insert")
                    },
                }
                for mode in figures
            },
        }
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
