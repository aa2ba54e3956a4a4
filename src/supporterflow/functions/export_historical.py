"""Drain the historical snapshot queues into the datalake (spec §9.4), daily at 00:03 UTC.

The update flows send every state they fetch to ``apple-historical-subscriptions`` /
``google-historical-subscriptions`` (spec §1.7). This drain receives them, writes those dated on or
before the export date as lines ``{"subscriptionId", "snapshotDate", "payload"}``, and leaves the
later ones for a later run. It deletes messages only after the file holding them is committed, so
a run that fails at any point loses nothing: what it held becomes visible again and the next run
writes it (at least once: a crash between commit and delete writes some twice).

Fixes to the original (docs/compatibility.md): one drain at a time is a lease, not a guess from
the in-flight count; files go in parts of at most ``PART_MESSAGES`` so that neither memory nor the
messages held grow with the backlog, and each part is committed before its messages are deleted;
file names are unique per run, so running a date again adds a file instead of overwriting one;
an unreadable message goes to the DLQ instead of failing every run; Apple payloads lose their
receipts like the other exports.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import structlog

from supporterflow.config import Settings
from supporterflow.domain.exports.layout import Dataset, Format, export_date
from supporterflow.domain.exports.lines import HISTORICAL_OMIT, without
from supporterflow.functions.exporting import ExportSummary, Progress, write_files
from supporterflow.ports import Clock, ExportTargets, Leases, Queue, Received
from supporterflow.runtime.metrics import Metrics

__all__ = ["DrainBusy", "export_apple_historical", "export_google_historical"]

log = structlog.get_logger(__name__)

#: Messages per file: committed, then deleted, before the next part starts.
PART_MESSAGES: Final = 50_000
#: A part is also cut after this long, well inside the visibility of the messages it holds.
PART_SECONDS: Final = 300.0
#: How long received messages stay hidden: a part must be committed and deleted before then.
VISIBILITY_S: Final = 900
LEASE_S: Final = 1800.0
_RECEIVE: Final = 100  # the SQS adapter takes 10 of these per call
_LINES_PER_PAGE: Final = 1000


class DrainBusy(Exception):
    """Another drain of the same queue is running."""


async def export_apple_historical(
    *,
    apple_historical_subscriptions: Queue,
    export_targets: ExportTargets,
    leases: Leases,
    settings: Settings,
    clock: Clock,
    metrics: Metrics,
    date: str | None = None,
    max_messages: int | None = None,
    formats: Sequence[Format] | None = None,
    progress: Progress | None = None,
) -> ExportSummary:
    """Drain the App Store snapshots dated on or before ``date`` (default: yesterday, UTC)."""
    return await _drain(
        _Drain("apple-historical", apple_historical_subscriptions, HISTORICAL_OMIT),
        export_targets=export_targets,
        leases=leases,
        settings=settings,
        clock=clock,
        metrics=metrics,
        date=date,
        max_messages=max_messages,
        formats=formats,
        progress=progress,
    )


async def export_google_historical(
    *,
    google_historical_subscriptions: Queue,
    export_targets: ExportTargets,
    leases: Leases,
    settings: Settings,
    clock: Clock,
    metrics: Metrics,
    date: str | None = None,
    max_messages: int | None = None,
    formats: Sequence[Format] | None = None,
    progress: Progress | None = None,
) -> ExportSummary:
    """Drain the Google Play snapshots dated on or before ``date`` (default: yesterday, UTC)."""
    return await _drain(
        _Drain("google-historical", google_historical_subscriptions, ()),
        export_targets=export_targets,
        leases=leases,
        settings=settings,
        clock=clock,
        metrics=metrics,
        date=date,
        max_messages=max_messages,
        formats=formats,
        progress=progress,
    )


@dataclass
class _Drain:
    dataset: Dataset
    queue: Queue
    omit: tuple[str, ...]
    received: int = 0
    left: int = 0
    exhausted: bool = False
    # Written to the part being made; deleted once it is committed.
    written: list[Received] = field(default_factory=list)


async def _drain(
    drain: _Drain,
    *,
    export_targets: ExportTargets,
    leases: Leases,
    settings: Settings,
    clock: Clock,
    metrics: Metrics,
    date: str | None,
    max_messages: int | None,
    formats: Sequence[Format] | None,
    progress: Progress | None,
) -> ExportSummary:
    day = export_date(date, clock.now())
    if max_messages is not None and max_messages < 1:
        raise ValueError("max_messages must be at least 1")
    lease, owner = f"export:{drain.dataset}", secrets.token_hex(8)
    if not await leases.acquire(lease, owner, LEASE_S):
        raise DrainBusy(f"another drain of {drain.queue.name} is running; try again when it has finished")
    summary = ExportSummary(drain.dataset, day, received=0, left=0)
    run = f"{clock.now():%H%M%S}-{secrets.token_hex(3)}"
    store = export_targets.store(drain.dataset)
    try:
        part = 0
        first: list[Received] = []
        while part == 0 or not drain.exhausted:
            if part > 0:
                # A further part only when there is something for it: no empty trailing file.
                first = await _receive(drain, max_messages)
                if not first:
                    break
            part += 1
            await write_files(
                _part_lines(drain, first, day, max_messages),
                summary=summary,
                store=store,
                formats=formats or settings.export_formats,
                settings=settings,
                part=f"{run}-{part}",
                progress=progress,
            )
            # The part is committed: only now may its messages go.
            await drain.queue.delete_batch(drain.written)
            drain.written.clear()
            await leases.acquire(lease, owner, LEASE_S)
    finally:
        await leases.release(lease, owner)
    summary.received, summary.left = drain.received, drain.left
    summary.record(metrics)
    log.info(
        "historical drain done", dataset=drain.dataset, date=day, received=drain.received, left=drain.left
    )
    return summary


async def _receive(drain: _Drain, max_messages: int | None) -> list[Received]:
    wanted = _RECEIVE if max_messages is None else min(_RECEIVE, max_messages - drain.received)
    if wanted <= 0:
        drain.exhausted = True
        return []
    batch = await drain.queue.receive(wanted, VISIBILITY_S)
    if not batch:
        drain.exhausted = True
    drain.received += len(batch)
    return batch


async def _part_lines(
    drain: _Drain, first: list[Received], day: str, max_messages: int | None
) -> AsyncIterator[list[bytes]]:
    """Lines of one part: received batches, until the part is full or the queue is drained."""
    started = time.monotonic()
    lines: list[bytes] = []
    batch = first
    while True:
        if not batch:
            if len(drain.written) >= PART_MESSAGES or time.monotonic() - started >= PART_SECONDS:
                break
            batch = await _receive(drain, max_messages)
            if not batch:
                break
        for received in batch:
            line = await _line(drain, received, day)
            if line is not None:
                lines.append(line)
                drain.written.append(received)
        batch = []
        if len(lines) >= _LINES_PER_PAGE:
            yield lines
            lines = []
    if lines:
        yield lines


async def _line(drain: _Drain, received: Received, day: str) -> bytes | None:
    """The line of a snapshot dated on or before ``day``; None for a later one (left on the
    queue) or an unreadable one (moved to the DLQ)."""
    try:
        snapshot: Any = json.loads(received.body)
        snapshot_date = snapshot["snapshotDate"]
        if not isinstance(snapshot_date, str):
            raise TypeError("snapshotDate is not a string")
    except (ValueError, TypeError, KeyError) as error:
        await drain.queue.dead_letter(received, f"not a historical snapshot: {error!r}")
        log.warning(
            "unreadable historical snapshot dead-lettered",
            queue=drain.queue.name,
            message_id=received.message_id,
        )
        return None
    # The original compares the first ten characters as strings; so does this.
    if snapshot_date[:10] > day:
        drain.left += 1
        return None
    if drain.omit and isinstance(snapshot, dict):
        snapshot = without(snapshot, drain.omit)
    return json.dumps(snapshot, ensure_ascii=False, separators=(",", ":")).encode()
