"""A subscription's activity, for the dashboard's timeline: every fetch that changed its row, its
state changes, its expiry by TTL, users linked to it or unlinked, and what each link's soft
opt-in sent (``note_soft_opt_in``, called by the soft opt-in flows).

The rows themselves keep only the last fetch, and change records live 24 hours, so a stream
subscription on ``subscriptions`` and on ``user-subscriptions`` writes one ``subscription-activity``
row per change, kept ``SF_ACTIVITY_RETENTION_DAYS``. The row's key is the change's commit time and
sequence: a record delivered twice writes the same row (at-least-once delivery, idempotent).
Nothing here holds a receipt, a payload or a user id: only the fields the timeline shows, and a
linked user as the keyed hash the GDPR audit uses (``gdpr_erase.user_hash``), so an erasure has
nothing to remove here."""

from __future__ import annotations

from typing import Any, Final

import structlog

from supporterflow.config import Settings
from supporterflow.domain.subscriptions.dates import date_to_second_timestamp, to_iso
from supporterflow.domain.supporters.identity_hash import user_hash
from supporterflow.ports import TTL_PRINCIPAL, ChangeRecord, Clock, Item, Table

__all__ = ["STATE_FIELDS", "USER_REF_CHARS", "note_soft_opt_in", "record_activity"]

log = structlog.get_logger(__name__)

#: What a fetch may change that the timeline shows (never a receipt, a payload or a token).
STATE_FIELDS: Final = (
    "status",
    "autoRenewing",
    "startTimestamp",
    "endTimestamp",
    "cancellationTimestamp",
    "productId",
    "billingPeriod",
    "supersededBy",
)


def _changed(old: Item | None, new: Item) -> dict[str, Any]:
    return {
        name: new.get(name)
        for name in STATE_FIELDS
        if (old or {}).get(name) != new.get(name) and new.get(name) not in (None, "")
    }


def _subscription_entry(record: ChangeRecord) -> tuple[str, dict[str, Any]] | None:
    old, new = record.old_image, record.new_image
    if record.event_name == "REMOVE":
        why = "expired from the table (TTL)" if record.principal == TTL_PRINCIPAL else "deleted"
        return str((old or {}).get("subscriptionId")), {"kind": "removed", "title": why}
    assert new is not None
    changes = _changed(old, new)
    fetched = new.get("fetchedAt") != (old or {}).get("fetchedAt")
    if not changes and not fetched:
        return None  # a write that changed nothing the timeline shows (a mark, a TTL)
    before, after = (old or {}).get("status"), new.get("status")
    title = f"state: {before} → {after}" if old and before != after else f"fetched: {after}"
    entry: dict[str, Any] = {"kind": "fetch", "title": title, "fields": changes}
    if fetched and isinstance(new.get("fetchedAt"), str):
        entry["timestamp"] = new["fetchedAt"]  # when the store was asked, not when it was written
    return str(new["subscriptionId"]), entry


#: Enough of the keyed hash to tell users apart on one subscription's timeline.
USER_REF_CHARS: Final = 12


def _link_entry(record: ChangeRecord, identity_key: bytes) -> tuple[str, dict[str, Any]]:
    link = record.new_image or record.old_image or record.keys
    verb = "linked to" if record.event_name == "INSERT" else "unlinked from"
    user = user_hash(str(link["userId"]), identity_key)[:USER_REF_CHARS]
    return str(link["subscriptionId"]), {"kind": "link", "title": f"{verb} user #{user}", "user": user}


async def record_activity(
    record: ChangeRecord,
    *,
    subscription_activity: Table,
    identity_key: bytes,
    settings: Settings,
    clock: Clock,
) -> bool:
    """One activity row for a change of a subscription or a link; False when there was nothing
    to record (or recording is off)."""
    if settings.activity_retention is None:
        return False
    if record.table == "user-subscriptions":
        entry: tuple[str, dict[str, Any]] | None = _link_entry(record, identity_key)
    else:
        entry = _subscription_entry(record)
    if entry is None:
        return False
    subscription_id, fields = entry
    at = fields.pop("timestamp", None) or to_iso(record.committed_at)
    await _put(subscription_activity, settings, clock, subscription_id, at, f"{record.sequence:020d}", fields)
    return True


async def note_soft_opt_in(
    subscription_id: str,
    identity_id: str,
    sent: str,
    *,
    subscription_activity: Table,
    identity_key: bytes,
    settings: Settings,
    clock: Clock,
) -> None:
    """What the soft opt-in of a link did (``sent``), on the subscription's timeline. Best effort:
    the messages are sent already, so a failure here is logged, never retried (a retry would
    send them again)."""
    if settings.activity_retention is None:
        return
    user = user_hash(identity_id, identity_key)[:USER_REF_CHARS]
    at = to_iso(clock.now())
    fields = {"kind": "soft_opt_in", "title": f"soft opt-in for user #{user}: {sent}", "user": user}
    try:
        await _put(subscription_activity, settings, clock, subscription_id, at, f"soft-opt-in-{user}", fields)
    except Exception as error:
        log.warning(
            "soft opt-in not noted on the timeline", subscription_id=subscription_id, error=repr(error)
        )


async def _put(
    table: Table,
    settings: Settings,
    clock: Clock,
    subscription_id: str,
    at: str,
    unique: str,
    fields: dict[str, Any],
) -> None:
    retention = settings.activity_retention
    assert retention is not None
    await table.put(
        {
            "subscriptionId": subscription_id,
            "at": f"{at}#{unique}",
            "timestamp": at,
            **fields,
            "ttl": date_to_second_timestamp(clock.now() + retention),
        }
    )
