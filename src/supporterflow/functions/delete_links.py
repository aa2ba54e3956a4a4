"""Unlink users from a subscription that expired by TTL (spec/mobile-purchases.md §5.11, §8.4).

A Subscription row expires 30 months after its end: the TTL deletes it (principal ``ttl``). The
links of that subscription (user-subscriptions, found through the ``subscriptionId-userId``
index, page by page) are deleted, and the consent setter is told with one ``Cancellation`` per
linked user on ``soft-opt-in-consent-setter-queue`` (product name from the removed row's
platform). A subscription deleted any other way (by an operator, by the service) keeps its links
and sends nothing, as upstream.

Fixed: the original deleted every link but sent the Cancellation for the first linked user only
(§13.1.7), without awaiting the send (a failure was only logged, §13.1.3). Here each link is
deleted together with its user's Cancellation (``then_send``: the message exists if and only if
the delete happened), and only if the link still exists. So a record retried after a failure
part-way deletes the remaining links and sends their Cancellations: none is lost, none is sent
twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import structlog

from supporterflow.functions.soft_opt_in import soi_event
from supporterflow.ports import TTL_PRINCIPAL, ChangeRecord, ConditionFailed, Exists, Outgoing, Queue, Table

__all__ = ["LinkDeletions", "delete_links", "unlink"]

log = structlog.get_logger(__name__)

INDEX: Final = "subscriptionId-userId"
PAGE: Final = 100


@dataclass(frozen=True)
class LinkDeletions:
    """The original's ``{recordCount, rowCount}``: TTL removals handled, links deleted."""

    records: int
    rows: int


async def unlink(
    user_id: str,
    subscription_id: str,
    platform: str | None,
    *,
    user_subscriptions: Table,
    soft_opt_in_consent_setter_queue: Queue,
) -> bool:
    """Delete one link together with its user's ``Cancellation`` (``then_send``: the message
    exists if and only if the delete happened), only if the link still exists. False when it was
    already gone (deleted meanwhile, with its Cancellation: by an earlier attempt)."""
    cancellation = soi_event(user_id, "Cancellation", platform, subscription_id)
    try:
        await user_subscriptions.delete(
            {"userId": user_id, "subscriptionId": subscription_id},
            condition=Exists(),
            then_send=[Outgoing(soft_opt_in_consent_setter_queue, cancellation)],
        )
    except ConditionFailed:
        return False
    return True


async def delete_links(
    record: ChangeRecord, *, user_subscriptions: Table, soft_opt_in_consent_setter_queue: Queue
) -> LinkDeletions:
    old = record.old_image or {}
    subscription_id = old.get("subscriptionId")
    if (
        record.event_name != "REMOVE"
        or record.principal != TTL_PRINCIPAL
        or not isinstance(subscription_id, str)
    ):
        return LinkDeletions(0, 0)
    platform = old.get("platform")
    platform = platform if isinstance(platform, str) else None
    deleted = found = 0
    cursor: str | None = None
    while True:
        page = await user_subscriptions.query(subscription_id, index=INDEX, limit=PAGE, cursor=cursor)
        for link in page.items:
            found += 1
            if await unlink(
                str(link["userId"]),
                subscription_id,
                platform,
                user_subscriptions=user_subscriptions,
                soft_opt_in_consent_setter_queue=soft_opt_in_consent_setter_queue,
            ):
                deleted += 1
        if page.cursor is None:
            break
        cursor = page.cursor
    if found == 0:
        log.info("expired subscription had no linked users", subscription_id=subscription_id)
    else:
        log.info(
            "expired subscription unlinked: a Cancellation per user",
            subscription_id=subscription_id,
            links=found,
            deleted=deleted,
        )
    return LinkDeletions(1, deleted)
