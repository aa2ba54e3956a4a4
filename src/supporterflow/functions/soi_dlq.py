"""Drain the soft opt-in DLQ every 30 minutes (spec/mobile-purchases.md §8.3).

``soft-opt-in-acquisitions-dlq`` holds ``{"subscriptionId", "identityId", "timestamp"}`` for links
that arrived before their subscription was stored (``soft_opt_in``). Each run looks at every
message once:

- a message one day old or more (by its ``timestamp``) is discarded, logged as a warning: the
  subscription never arrived (the original's rule);
- a subscription still not stored: the message is left for the next run;
- otherwise the acquisition is processed (``process_acquisition``: Acquisition event, maybe the
  email) and the message deleted. A failure (identity API down, a send failing) leaves it for
  the next run, and the run then fails so that the failure shows in the schedule's metrics;
- a second message for the same link in one run is deleted, whatever became of the first (which
  is processed, or left and tried again next run): the stream delivers at least once, so a link
  can be queued twice, and it gets one acquisition and one email.

One pass, bounded (fixing spec §13.1.8): the run takes as many messages as the queue held when
it started, keeps every message it leaves hidden until the pass ends (so it is never received
twice in a run), then makes them visible again for the next run. The original received until an
empty receive, and a message it left came back after 30 s of visibility and was received again,
until the function timed out.

A message that is not the expected JSON is left for operators to see (``supporterflow queues``)
and discarded after a day like the others (by its send time). The queue has no DLQ of its own,
as upstream.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, Final

import structlog

from supporterflow.config import Settings
from supporterflow.domain.subscriptions.dates import date_to_ms
from supporterflow.functions.soft_opt_in import SENT, process_acquisition
from supporterflow.functions.subscription_activity import note_soft_opt_in
from supporterflow.ports import Clock, IdentityApi, Queue, Received, Table

__all__ = ["DrainSummary", "message_is_one_day_old", "soi_dlq"]

log = structlog.get_logger(__name__)

ONE_DAY_MS: Final = 86_400_000
#: Received ten at a time, like the original.
BATCH: Final = 10
#: Long enough for a pass (the original's timeout was 10 minutes); left messages are made
#: visible again at the end of the pass anyway.
HOLD_S: Final = 15 * 60


@dataclass
class DrainSummary:
    received: int = 0
    processed: int = 0  # acquisitions handled, message deleted
    discarded: int = 0  # one day old or more: deleted unprocessed
    duplicates: int = 0  # a second message for a link handled in this run: deleted
    waiting: int = 0  # subscription still not stored: left for the next run
    failed: int = 0  # processing failed or the message is unreadable: left for the next run


def message_is_one_day_old(timestamp_ms: float, now: datetime) -> bool:
    """``now - timestamp >= 1 day`` in epoch milliseconds (the original's ``messageIsOneDayOld``)."""
    return date_to_ms(now) - timestamp_ms >= ONE_DAY_MS


def _parse(message: Received) -> tuple[str, str, float] | None:
    """``(subscriptionId, identityId, timestamp)``, or None when the body is not that."""
    try:
        body: Any = json.loads(message.body)
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(body, dict):
        return None
    subscription_id, identity_id, timestamp = (
        body.get("subscriptionId"),
        body.get("identityId"),
        body.get("timestamp"),
    )
    if not isinstance(subscription_id, str) or not subscription_id or not isinstance(identity_id, str):
        return None
    if isinstance(timestamp, bool) or not isinstance(timestamp, int | float):
        return None
    return subscription_id, identity_id, float(timestamp)


async def soi_dlq(
    *,
    soft_opt_in_acquisitions_dlq: Queue,
    subscriptions: Table,
    soft_opt_in_consent_setter_queue: Queue,
    braze_emails: Queue,
    identity_api: IdentityApi,
    subscription_activity: Table,
    identity_key: bytes,
    settings: Settings,
    clock: Clock,
) -> DrainSummary:
    dlq = soft_opt_in_acquisitions_dlq
    summary = DrainSummary()
    budget = (await dlq.depth()).visible
    left: list[Received] = []
    seen_messages: set[str] = set()
    handled_links: set[tuple[str, str]] = set()
    try:
        while summary.received < budget:
            batch = await dlq.receive(min(BATCH, budget - summary.received), HOLD_S)
            if not batch:
                break
            for message in batch:
                if message.message_id in seen_messages:  # the pass outlived HOLD_S: stop here
                    left.append(message)
                    budget = summary.received
                    continue
                seen_messages.add(message.message_id)
                summary.received += 1
                if await _drain_one(
                    message,
                    summary,
                    handled_links,
                    dlq=dlq,
                    subscriptions=subscriptions,
                    soft_opt_in_consent_setter_queue=soft_opt_in_consent_setter_queue,
                    braze_emails=braze_emails,
                    identity_api=identity_api,
                    clock=clock,
                    note=partial(
                        note_soft_opt_in,
                        subscription_activity=subscription_activity,
                        identity_key=identity_key,
                        settings=settings,
                        clock=clock,
                    ),
                ):
                    left.append(message)
    finally:
        for message in left:
            await dlq.change_visibility(message, 0)
    log.info(
        "soft opt-in DLQ drained",
        received=summary.received,
        processed=summary.processed,
        discarded=summary.discarded,
        duplicates=summary.duplicates,
        waiting=summary.waiting,
        failed=summary.failed,
    )
    if summary.failed:
        raise RuntimeError(
            f"{summary.failed} of {summary.received} soft opt-in DLQ messages failed; "
            "they are left for the next run (see the warnings above)"
        )
    return summary


async def _drain_one(
    message: Received,
    summary: DrainSummary,
    handled_links: set[tuple[str, str]],
    *,
    dlq: Queue,
    subscriptions: Table,
    soft_opt_in_consent_setter_queue: Queue,
    braze_emails: Queue,
    identity_api: IdentityApi,
    clock: Clock,
    note: Callable[[str, str, str], Awaitable[None]],
) -> bool:
    """Handle one message; True when it is left in the queue. ``note`` tells the subscription's
    timeline what was sent."""
    now = clock.now()
    parsed = _parse(message)
    if parsed is None:
        if message_is_one_day_old(date_to_ms(message.sent_at), now):
            log.warning("unreadable soft opt-in DLQ message discarded", message_id=message.message_id)
            summary.discarded += 1
            await dlq.delete(message)
            return False
        log.error("unreadable soft opt-in DLQ message left in the queue", message_id=message.message_id)
        summary.failed += 1
        return True
    subscription_id, identity_id, timestamp = parsed
    if message_is_one_day_old(timestamp, now):
        log.warning(
            "soft opt-in discarded: the subscription was not stored within a day",
            subscription_id=subscription_id,
            message_id=message.message_id,
        )
        summary.discarded += 1
        await dlq.delete(message)
        return False
    link = (subscription_id, identity_id)
    if link in handled_links:
        summary.duplicates += 1
        await dlq.delete(message)
        return False
    handled_links.add(link)
    subscription = await subscriptions.get({"subscriptionId": subscription_id})
    if subscription is None:
        log.info(
            "subscription still not stored: soft opt-in left for the next run",
            subscription_id=subscription_id,
        )
        summary.waiting += 1
        return True
    try:
        outcome = await process_acquisition(
            subscription,
            identity_id,
            soft_opt_in_consent_setter_queue=soft_opt_in_consent_setter_queue,
            braze_emails=braze_emails,
            identity_api=identity_api,
            clock=clock,
        )
    except Exception as error:
        log.warning(
            "soft opt-in from the DLQ failed: left for the next run",
            subscription_id=subscription_id,
            error=str(error),
        )
        summary.failed += 1
        return True
    await note(subscription_id, identity_id, SENT[outcome])
    summary.processed += 1
    await dlq.delete(message)
    return False
