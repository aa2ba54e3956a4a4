"""One subscription's story for operators (the dashboard's timeline): the notifications stored for
it, the state the last fetch left, and the users linked to it, in time order.

What is not stored is not shown: each fetch replaces the row (its ``fetchedAt`` is the last
one), and the change stream keeps 24 hours, so earlier states are not on the timeline."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, Literal

from supporterflow.ports import Item, Table

__all__ = ["SubscriptionTimeline", "TimelineEntry", "subscription_timeline"]

LINKS_INDEX: Final = "subscriptionId-userId"
#: Enough for any real subscription (a notification per renewal); the page says when cut.
MAX_ENTRIES: Final = 1000

EntryKind = Literal["notification", "fetch", "link"]


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
    fields = {
        name: row[name]
        for name in (
            "status",
            "autoRenewing",
            "startTimestamp",
            "endTimestamp",
            "cancellationTimestamp",
            "productId",
            "billingPeriod",
            "environment",
            "supersededBy",
            "linkedPurchaseToken",
        )
        if row.get(name) not in (None, "")
    }
    return TimelineEntry(str(row.get("fetchedAt", "")), "fetch", f"fetched: {row.get('status', '?')}", fields)


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
) -> SubscriptionTimeline:
    row = await subscriptions.get({"subscriptionId": subscription_id})
    events, cut = await _all(subscription_events, subscription_id)
    links, links_cut = await _all(user_subscriptions, subscription_id, index=LINKS_INDEX)
    entries = [_notification(e) for e in events] + [_link(link) for link in links]
    if row is not None and row.get("fetchedAt"):
        entries.append(_fetch(row))
    entries.sort(key=lambda entry: entry.at)
    return SubscriptionTimeline(subscription_id, row, entries, links, cut or links_cut)
