"""One subscription's story for operators (the dashboard's timeline), in time order: the
notifications stored for it, and its activity (``functions/subscription_activity.py``: each
fetch that changed it, its state changes, links and unlinks, its expiry).

Where no activity was recorded (``SF_ACTIVITY_RETENTION_DAYS=0``, or older than it), the timeline
falls back on what the rows hold: the state the last fetch left and the current links."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, Literal

from supporterflow.functions.subscription_activity import STATE_FIELDS
from supporterflow.ports import Item, Table

__all__ = ["SubscriptionTimeline", "TimelineEntry", "subscription_timeline"]

LINKS_INDEX: Final = "subscriptionId-userId"
#: Enough for any real subscription (a notification per renewal); the page says when cut.
MAX_ENTRIES: Final = 1000

EntryKind = Literal["notification", "fetch", "link", "removed"]


@dataclass(frozen=True)
class TimelineEntry:
    at: str  # ISO 8601, as stored
    kind: EntryKind
    title: str
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SubscriptionTimeline:
    subscription_id: str
    row: Item | None
    entries: list[TimelineEntry]
    links: list[Item]
    truncated: bool

    @property
    def found(self) -> bool:
        return self.row is not None or bool(self.entries)


async def _all(table: Table, hash_value: str, *, index: str | None = None) -> tuple[list[Item], bool]:
    items: list[Item] = []
    cursor: str | None = None
    while True:
        page = await table.query(hash_value, index=index, limit=100, cursor=cursor)
        items.extend(page.items)
        cursor = page.cursor
        if cursor is None:
            return items, False
        if len(items) >= MAX_ENTRIES:
            return items[:MAX_ENTRIES], True


def _notification(event: Item) -> TimelineEntry:
    title = str(event.get("eventType", "notification"))
    if event.get("subtype"):
        title += f" / {event['subtype']}"
    fields = {
        name: event[name]
        for name in ("platform", "appId", "product_id", "freeTrial", "promotional_offer_id")
        if event.get(name) not in (None, "")
    }
    return TimelineEntry(str(event.get("timestamp", "")), "notification", title, fields)


def _fetch(row: Item) -> TimelineEntry:
    fields = {name: row[name] for name in (*STATE_FIELDS, "environment") if row.get(name) not in (None, "")}
    return TimelineEntry(str(row.get("fetchedAt", "")), "fetch", f"fetched: {row.get('status', '?')}", fields)


def _activity(row: Item) -> TimelineEntry:
    return TimelineEntry(
        str(row.get("timestamp", "")), row["kind"], str(row["title"]), dict(row.get("fields") or {})
    )


def _link(link: Item) -> TimelineEntry:
    return TimelineEntry(
        str(link.get("creationTimestamp", "")), "link", f"linked to user {link.get('userId')}", {}
    )


async def subscription_timeline(
    subscription_id: str,
    *,
    subscriptions: Table,
    subscription_events: Table,
    user_subscriptions: Table,
    subscription_activity: Table,
) -> SubscriptionTimeline:
    row = await subscriptions.get({"subscriptionId": subscription_id})
    events, cut = await _all(subscription_events, subscription_id)
    links, links_cut = await _all(user_subscriptions, subscription_id, index=LINKS_INDEX)
    activity, activity_cut = await _all(subscription_activity, subscription_id)
    entries = [_notification(e) for e in events]
    if activity:
        entries += [_activity(a) for a in activity]
    else:
        entries += [_link(link) for link in links]
        if row is not None and row.get("fetchedAt"):
            entries.append(_fetch(row))
    entries.sort(key=lambda entry: entry.at)
    return SubscriptionTimeline(subscription_id, row, entries, links, cut or links_cut or activity_cut)
