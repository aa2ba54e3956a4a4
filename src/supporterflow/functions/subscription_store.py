"""Writing what a store said about a subscription, the same way for Apple and Google.

- ``store_subscription``: the Subscription row and its historical snapshot (spec §1.7) in one
  transaction, and only if no fresher state is stored: ``fetchedAt`` says when the store
  produced (Apple) or was asked for (Google) this state, so a slow fetch that finishes after a
  newer one never moves the subscription back (docs/subscription-state.md).
- ``record_event_once``: a notification's event row, written once however often the store
  delivers the notification;
- ``link_identity``: the Feast flows' user link, from the identity Braze keeps against the
  purchase's external id (spec §5.7, §5.8, §10.2), written once.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import structlog

from supporterflow.domain.subscriptions.dates import to_iso
from supporterflow.ports import (
    Absent,
    AllOf,
    AnyOf,
    AttrEquals,
    AttrLessThan,
    AttrMissing,
    Condition,
    ConditionFailed,
    IdentityLookup,
    Outgoing,
    Queue,
    Table,
)

log = structlog.get_logger(__name__)


def compact(value: Any) -> bytes:
    """Queue bodies as the original wrote them: compact JSON, keys in insertion order (spec §14)."""
    return json.dumps(value, separators=(",", ":")).encode()


async def store_subscription(
    row: dict[str, Any], subscriptions: Table, historical: Queue, *, payload: Any, now: datetime
) -> bool:
    """Write ``row`` with the snapshot ``{subscriptionId, snapshotDate, payload}`` (sent only when
    ``payload`` is truthy, as upstream). False when a fresher state was already stored."""
    fetched_at = row["fetchedAt"]
    condition: Condition = AnyOf(
        (AttrMissing("fetchedAt"), AttrLessThan("fetchedAt", fetched_at), AttrEquals("fetchedAt", fetched_at))
    )
    if "supersededBy" not in row:
        # A supersession (google_update) is never undone by a fetch that did not know of it.
        condition = AllOf((condition, AttrMissing("supersededBy")))
    outgoing = []
    if payload:
        snapshot = {"subscriptionId": row["subscriptionId"], "snapshotDate": to_iso(now), "payload": payload}
        outgoing.append(Outgoing(historical, compact(snapshot)))
    try:
        await subscriptions.put(row, condition=condition, then_send=outgoing)
    except ConditionFailed:
        log.info(
            "a fresher state is already stored", subscription_id=row["subscriptionId"], fetched_at=fetched_at
        )
        return False
    log.info(
        "subscription updated",
        subscription_id=row["subscriptionId"],
        status=row.get("status"),
        end=row["endTimestamp"],
    )
    return True


async def link_identity(
    external_id: str | None,
    subscription_id: str,
    *,
    identity_lookup: IdentityLookup,
    user_subscriptions: Table,
    now: datetime,
    missing_metric: str,
) -> str | None:
    """Link the subscription to the identity Braze holds for ``external_id``; the identity id,
    or None when there is no external id or Braze knows none (logged as ``missing_metric``, the
    original's metric name). A link that exists keeps its creation time (upstream rewrote it on
    every update)."""
    if not external_id:
        log.info("subscription without external account id: not linked", subscription_id=subscription_id)
        return None
    identity_id = await identity_lookup.identity_id(external_id)
    if identity_id is None:
        log.warning(missing_metric, subscription_id=subscription_id)
        return None
    link = {"userId": identity_id, "subscriptionId": subscription_id, "creationTimestamp": to_iso(now)}
    with contextlib.suppress(ConditionFailed):
        await user_subscriptions.put(link, condition=Absent())
    return identity_id


async def record_event_once(
    event: dict[str, Any],
    *,
    identity: str,
    events: Table,
    messages: Callable[[dict[str, Any]], list[Outgoing]],
) -> bool:
    """Write ``event`` and the ``messages(event)`` it must not exist without, once per value of
    its ``identity`` attribute (Apple's ``notificationUUID``, Pub/Sub's ``messageId``). True when
    written now, False when this notification was already stored (a store's retry).

    The key comes from the store's own time, so a retry lands on the same row; another
    notification that happens to share the key (same purchase, type and millisecond) is kept
    under the key with its identity appended."""
    for attempt in range(2):
        try:
            await events.put(event, condition=Absent(), then_send=messages(event))
        except ConditionFailed:
            stored = await events.get({k: event[k] for k in ("subscriptionId", "timestampAndType")})
            if stored is not None and stored.get(identity) == event[identity]:
                return False
            if attempt == 0:
                event["timestampAndType"] += f"|{event[identity]}"
            continue
        return True
    raise RuntimeError(f"event {event[identity]} could neither be stored nor found")
