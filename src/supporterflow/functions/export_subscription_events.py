"""Export one day of subscription events to the datalake (spec §9.1), daily at 00:03 UTC.

The day's rows come from the ``date-timestamp-index-v2`` partition of that date, in timestamp
order, read from one snapshot while the service keeps writing. Each line is the row as the
original's unmarshalled DynamoDB item: every empty string is null (DynamoDB NULL), and the App
Store notification loses its ``password`` and ``latest_receipt`` fields. Running a date again
replaces its files.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from supporterflow.config import Settings
from supporterflow.domain.exports.layout import Format, export_date
from supporterflow.domain.exports.lines import EVENT_OMIT
from supporterflow.functions.exporting import ExportSummary, Progress, export_snapshot
from supporterflow.ports import Clock, ExportTargets, Table
from supporterflow.runtime.metrics import Metrics

__all__ = ["export_subscription_events"]

DATE_INDEX: Final = "date-timestamp-index-v2"
_PAGE_ROWS: Final = 5000


async def export_subscription_events(
    *,
    subscription_events: Table,
    export_targets: ExportTargets,
    settings: Settings,
    clock: Clock,
    metrics: Metrics,
    date: str | None = None,
    formats: Sequence[Format] | None = None,
    progress: Progress | None = None,
) -> ExportSummary:
    """Write ``date``'s events (default: yesterday, UTC) in each of ``formats`` (default: the
    configured ones)."""
    day = export_date(date, clock.now())
    snapshot = subscription_events.read_snapshot(
        index=DATE_INDEX, hash_value=day, omit=EVENT_OMIT, page_size=_PAGE_ROWS
    )

    return await export_snapshot(
        ExportSummary("subscription-events", day),
        snapshot,
        export_targets=export_targets,
        settings=settings,
        metrics=metrics,
        formats=formats,
        progress=progress,
        empty_strings_as_null=True,
    )
