"""What arrived last, for the dashboard's overview: the newest subscription events (store
notifications) by the events' date index, and the newest supporter events by their status index.
Both read a bounded number of index entries, so the overview costs the same with a million
events stored as with ten."""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from supporterflow.domain.subscriptions.dates import iso_day
from supporterflow.ports import Clock, Item, Table

__all__ = [
    "SUPPORTER_EVENT_STATUSES",
    "notification_states",
    "recent_notifications",
    "recent_supporter_events",
]

EVENTS_BY_DATE: Final = "date-timestamp-index-v2"
SUPPORTER_EVENTS_BY_STATUS: Final = "status-receivedAt"
SUPPORTER_EVENT_STATUSES: Final = ("queued", "delivered", "failed")
#: Days looked back for notifications: a quiet week still shows something.
LOOK_BACK_DAYS: Final = 7


async def recent_notifications(limit: int, *, subscription_events: Table, clock: Clock) -> list[Item]:
    """The newest ``limit`` notifications, newest first, from today back ``LOOK_BACK_DAYS``."""
    found: list[Item] = []
    today = clock.now()
    for days in range(LOOK_BACK_DAYS + 1):
        day = iso_day(today - timedelta(days=days))
        page = await subscription_events.query(
            day, index=EVENTS_BY_DATE, limit=limit - len(found), forward=False
        )
        found.extend(page.items)
        if len(found) >= limit:
            break
    return found[:limit]


async def notification_states(notifications: list[Item], *, subscriptions: Table) -> list[str]:
    """Where each notification's processing stands: its subscription fetched since (the row's
    ``fetchedAt`` is not older than the notification), or still waiting for the fetch."""
    ids = sorted({str(n["subscriptionId"]) for n in notifications})
    rows = {
        str(r["subscriptionId"]): r
        for r in await subscriptions.batch_get([{"subscriptionId": i} for i in ids])
    }
    states = []
    for notification in notifications:
        row = rows.get(str(notification["subscriptionId"]))
        fetched = str(row.get("fetchedAt") or "") if row else ""
        if row is not None and fetched >= str(notification.get("timestamp", "")):
            states.append(f"fetched: {row.get('status', '?')}")
        else:
            states.append("waiting for its fetch")
    return states


async def recent_supporter_events(limit: int, *, supporter_events: Table) -> list[Item]:
    """The newest ``limit`` supporter events of any status, newest first."""
    found: list[Item] = []
    for status in SUPPORTER_EVENT_STATUSES:
        page = await supporter_events.query(
            status, index=SUPPORTER_EVENTS_BY_STATUS, limit=limit, forward=False
        )
        found.extend(page.items)
    found.sort(key=lambda event: str(event.get("receivedAt", "")), reverse=True)
    return found[:limit]
