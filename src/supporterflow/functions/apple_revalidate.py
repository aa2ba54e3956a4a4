"""Queue every auto-renewing Apple subscription near its renewal for a fresh fetch (spec §5.16).

Apple's V1 notifications do not announce every renewal, lapse or billing-retry outcome, so every
six hours the original re-checks the subscriptions that expire within the next 13 hours or expired
within the last 60 days: each one becomes a message on the fetch queue of its app, and the fetch
consumer asks Apple for its current state and rewrites the row.

Which rows: ``autoRenewing`` is true and ``endTimestamp`` lies strictly inside the window,
compared as ISO strings like the original's DynamoDB filter. A row with a ``receipt`` becomes
``{"receipt": ...}`` (spec §1.6); a row built from the App Store Server API carries a ``bundleId``
and no receipt and becomes ``{"originalTransactionId": ..., "bundleId": ...}`` (a supporterflow
addition). Rows with neither (Google rows, or Apple rows whose receipt was lost) are skipped.

Why the delays: a run can queue thousands of messages at once, and each costs the consumer a call
to Apple. Like the original, messages of each bucket (Feast, everything else) are spread at about
ten a second with ``DelaySeconds = min(floor(n / 10), 900)``, SQS's 15-minute maximum (spec
§13.5): past 9,000 messages of a bucket the rest all wait 900 s.

The table is read page by page and messages are sent in small batches as they are made, so memory
does not grow with the table.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

import structlog

from supporterflow.domain.subscriptions.dates import to_iso
from supporterflow.domain.subscriptions.platforms import Platform
from supporterflow.ports import Clock, Item, Queue, Table

__all__ = ["RevalidationSummary", "apple_revalidate", "revalidation_delay"]

log = structlog.get_logger(__name__)

#: The original's window: expiring within the next 13 hours or expired within the last 60 days.
WINDOW_AHEAD: Final = timedelta(hours=13)
WINDOW_BEHIND: Final = timedelta(days=60)
#: About ten messages a second per bucket, never beyond SQS's longest delay.
MESSAGES_PER_SECOND: Final = 10
MAX_DELAY_S: Final = 900

_SCAN_PAGE: Final = 1000
# Batches are cut at each change of delay (every ten messages until the cap); this bounds the
# batches that all get the capped delay.
_MAX_BATCH: Final = 100
# Platforms of Apple rows, whose missing receipt is worth a warning (Google rows have none).
_APPLE_PLATFORM_PREFIXES: Final = ("ios", Platform.DAILY_EDITION.value)


@dataclass(frozen=True)
class RevalidationSummary:
    """What one run did; ``start`` and ``end`` are the window's bounds as compared (exclusive)."""

    scanned: int
    live: int
    feast: int
    skipped: int
    start: str
    end: str


def revalidation_delay(sent_in_bucket: int) -> int:
    """``DelaySeconds`` of the message sent after ``sent_in_bucket`` others of its bucket."""
    return min(sent_in_bucket // MESSAGES_PER_SECOND, MAX_DELAY_S)


@dataclass
class _Bucket:
    """One queue's messages of this run: how many so far, and those not sent yet (one delay)."""

    queue: Queue
    sent: int = 0
    pending: list[bytes] = field(default_factory=list)
    pending_delay: int = 0

    async def add(self, body: bytes) -> None:
        delay = revalidation_delay(self.sent)
        if self.pending and (delay != self.pending_delay or len(self.pending) >= _MAX_BATCH):
            await self.flush()
        self.pending.append(body)
        self.pending_delay = delay
        self.sent += 1

    async def flush(self) -> None:
        if self.pending:
            await self.queue.send_batch(self.pending, delay_s=self.pending_delay)
            self.pending = []


async def apple_revalidate(
    *,
    subscriptions: Table,
    apple_subscriptions_to_fetch: Queue,
    feast_apple_subscriptions_to_fetch: Queue,
    clock: Clock,
    start: datetime | None = None,
    end: datetime | None = None,
    progress: Callable[[int], None] | None = None,
) -> RevalidationSummary:
    """Queue a fetch for every auto-renewing Apple subscription whose end is in the window.

    ``start``/``end`` replace the default bounds (the original's manual ``startTimestampFilter`` /
    ``endTimestampFilter``); ``progress`` is told how many rows each scanned page held."""
    now = clock.now()
    window_start = to_iso(start if start is not None else now - WINDOW_BEHIND)
    window_end = to_iso(end if end is not None else now + WINDOW_AHEAD)
    live = _Bucket(apple_subscriptions_to_fetch)
    feast = _Bucket(feast_apple_subscriptions_to_fetch)
    scanned = skipped = 0
    cursor: str | None = None
    while True:
        page = await subscriptions.scan(limit=_SCAN_PAGE, cursor=cursor)
        scanned += len(page.items)
        for row in page.items:
            if row.get("autoRenewing") is not True or not _in_window(row, window_start, window_end):
                continue
            message = _message(row)
            if message is None:
                skipped += 1
                _warn_if_apple(row)
                continue
            bucket = feast if row.get("platform") == Platform.IOS_FEAST else live
            await bucket.add(json.dumps(message, separators=(",", ":")).encode())
        if progress is not None:
            progress(len(page.items))
        if page.cursor is None:
            break
        cursor = page.cursor
    await live.flush()
    await feast.flush()
    summary = RevalidationSummary(scanned, live.sent, feast.sent, skipped, window_start, window_end)
    log.info(
        "apple revalidation queued",
        scanned=summary.scanned,
        live=summary.live,
        feast=summary.feast,
        skipped=summary.skipped,
        window_start=summary.start,
        window_end=summary.end,
    )
    return summary


def _in_window(row: Item, start: str, end: str) -> bool:
    """``endTimestamp < end AND endTimestamp > start`` as DynamoDB compares strings."""
    end_timestamp = row.get("endTimestamp")
    return isinstance(end_timestamp, str) and start < end_timestamp < end


def _message(row: Item) -> dict[str, Any] | None:
    """The fetch queue's reference to this row, or None when nothing in it lets Apple be asked."""
    receipt = row.get("receipt")
    if isinstance(receipt, str) and receipt:
        return {"receipt": receipt}
    bundle_id = row.get("bundleId")
    if isinstance(bundle_id, str) and bundle_id:
        return {"originalTransactionId": row["subscriptionId"], "bundleId": bundle_id}
    return None


def _warn_if_apple(row: Item) -> None:
    platform = row.get("platform")
    if isinstance(platform, str) and platform.startswith(_APPLE_PLATFORM_PREFIXES):
        log.warning(
            "apple subscription without receipt cannot be revalidated",
            subscription_id=row.get("subscriptionId"),
            platform=platform,
        )
