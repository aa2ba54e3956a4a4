"""Soft opt-ins for a new user link (spec/mobile-purchases.md §8.1, §8.2).

Each INSERT into user-subscriptions (a user linked to a subscription) is an acquisition: the
membership account's consent setter is told (``Acquisition`` on
``soft-opt-in-consent-setter-queue``), and the user is emailed through Braze (``braze-emails``)
when they linked well after buying (48 h or more after the subscription's start) or bought in
Feast. A link whose subscription is not stored yet (the link endpoint writes links before the
fetch stores the subscription) goes to ``soft-opt-in-acquisitions-dlq`` for the 30-minute drain
(``soi_dlq``). A subscription more than 30 days past its end gets nothing.

Bodies are the original's exactly (spec §1.7): compact JSON, keys in the original's order.

Failures and replays. Every send is awaited, and any failure raises: the stream retries the
record, then sends it to its retry queue and that queue's DLQ, replayable (the original did not
await its sends, so a failed send was an unhandled rejection and the message was lost). The email
address is looked up before anything is sent, so an identity API that is down or a user without
an address fails the record with nothing sent: its retries and a replay send each message once.
What a replay can send twice: the ``Acquisition`` when the Braze send failed after it (the
consent setter sets the same consents again: harmless), and both messages when a crash falls
between the sends and the stream's checkpoint (at-least-once delivery, as the original's batch
retries re-sent every record of the batch).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final, Literal

import structlog

from supporterflow.config import Settings
from supporterflow.domain.subscriptions.dates import date_to_ms, js_date_parse, plus_days
from supporterflow.domain.subscriptions.platforms import Platform
from supporterflow.domain.subscriptions.products import soi_product_name
from supporterflow.functions.subscription_activity import note_soft_opt_in
from supporterflow.functions.subscription_store import compact
from supporterflow.ports import ChangeRecord, Clock, IdentityApi, Item, Queue, Table

__all__ = [
    "AcquisitionOutcome",
    "braze_email",
    "is_active",
    "is_post_acquisition",
    "process_acquisition",
    "soft_opt_in",
    "soi_event",
]

log = structlog.get_logger(__name__)

#: How long after its end a subscription still counts as active (the original's grace period).
ACTIVE_GRACE_DAYS: Final = 30
#: A link this long after the start is a sign-in after the purchase: the user gets the email.
POST_ACQUISITION: Final = timedelta(hours=48)
FEAST_PLATFORMS: Final = frozenset({Platform.IOS_FEAST.value, Platform.ANDROID_FEAST.value})
FEAST_EMAIL: Final = "SV_FA_SOINotification"
EMAIL: Final = "SV_PA_SOINotification"

SoftOptInEventType = Literal["Acquisition", "Cancellation"]


class AcquisitionOutcome(StrEnum):
    INACTIVE = "inactive"  # more than 30 days past its end: nothing sent
    SOFT_OPT_IN = "soft_opt_in"  # the Acquisition event only
    SOFT_OPT_IN_AND_EMAIL = "soft_opt_in_and_email"  # and the Braze email


#: How the subscription's timeline tells each outcome (``subscription_activity.note_soft_opt_in``).
SENT: Final = {
    AcquisitionOutcome.INACTIVE: "nothing sent (not active: no end date, or ended over 30 days ago)",
    AcquisitionOutcome.SOFT_OPT_IN: "Acquisition sent to the consent setter",
    AcquisitionOutcome.SOFT_OPT_IN_AND_EMAIL: "Acquisition sent to the consent setter, and the Braze email",
}
WAITING: Final = "waiting in the soft opt-in DLQ for the subscription to be stored"


def soi_event(
    identity_id: str, event_type: SoftOptInEventType, platform: str | None, subscription_id: str
) -> bytes:
    """The consent setter's message (spec §1.7), product name from the platform (§2.3)."""
    return compact(
        {
            "identityId": identity_id,
            "eventType": event_type,
            "productName": soi_product_name(platform),
            "subscriptionId": subscription_id,
        }
    )


def braze_email(email: str, identity_id: str, platform: str | None) -> bytes:
    """The Braze email trigger (spec §1.7): Feast's template for the Feast platforms."""
    return compact(
        {
            "To": {"Address": email, "ContactAttributes": {"SubscriberAttributes": {}}},
            "DataExtensionName": FEAST_EMAIL if platform in FEAST_PLATFORMS else EMAIL,
            "IdentityUserId": identity_id,
        }
    )


def is_post_acquisition(start_timestamp: str | None, now: datetime) -> bool:
    """``now - start >= 48 h``; an unreadable start is not (JavaScript's NaN compares false)."""
    start = js_date_parse(start_timestamp) if isinstance(start_timestamp, str) else None
    return start is not None and now - start >= POST_ACQUISITION


def is_active(end_timestamp: str | None, now: datetime) -> bool:
    """``now <= end + 30 days``; an unreadable end is not active (NaN compares false)."""
    end = js_date_parse(end_timestamp) if isinstance(end_timestamp, str) else None
    return end is not None and now <= plus_days(end, ACTIVE_GRACE_DAYS)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


async def process_acquisition(
    subscription: Item,
    identity_id: str,
    *,
    soft_opt_in_consent_setter_queue: Queue,
    braze_emails: Queue,
    identity_api: IdentityApi,
    clock: Clock,
) -> AcquisitionOutcome:
    """The sends of one acquisition (spec §8.2). Raises (``Retry`` from the identity API, or a
    queue's failure) when not everything was sent; nothing is sent when the lookup fails."""
    now = clock.now()
    subscription_id = str(subscription["subscriptionId"])
    platform = _text(subscription.get("platform"))
    if not is_active(_text(subscription.get("endTimestamp")), now):
        log.info("subscription not active: no soft opt-in", subscription_id=subscription_id)
        return AcquisitionOutcome.INACTIVE
    email = None
    if platform in FEAST_PLATFORMS or is_post_acquisition(_text(subscription.get("startTimestamp")), now):
        email = await identity_api.primary_email(identity_id)
    await soft_opt_in_consent_setter_queue.send(
        soi_event(identity_id, "Acquisition", platform, subscription_id)
    )
    if email is None:
        log.info("soft opt-in acquisition sent", subscription_id=subscription_id)
        return AcquisitionOutcome.SOFT_OPT_IN
    await braze_emails.send(braze_email(email, identity_id, platform))
    log.info("soft opt-in acquisition and email sent", subscription_id=subscription_id)
    return AcquisitionOutcome.SOFT_OPT_IN_AND_EMAIL


async def soft_opt_in(
    record: ChangeRecord,
    *,
    subscriptions: Table,
    soft_opt_in_acquisitions_dlq: Queue,
    soft_opt_in_consent_setter_queue: Queue,
    braze_emails: Queue,
    identity_api: IdentityApi,
    subscription_activity: Table,
    identity_key: bytes,
    settings: Settings,
    clock: Clock,
) -> AcquisitionOutcome | None:
    """A user-subscriptions INSERT (other events are ignored, as upstream). None when the
    subscription is not stored yet and the link went to the soft opt-in DLQ."""
    if record.event_name != "INSERT" or record.new_image is None:
        return None
    link = record.new_image
    identity_id = str(link.get("userId") or "")
    subscription_id = str(link["subscriptionId"])
    subscription = await subscriptions.get({"subscriptionId": subscription_id})
    if subscription is None:
        message = {
            "subscriptionId": subscription_id,
            "identityId": identity_id,
            "timestamp": date_to_ms(clock.now()),
        }
        await soft_opt_in_acquisitions_dlq.send(compact(message))
        log.info(
            "subscription not stored yet: soft opt-in left for the DLQ drain",
            subscription_id=subscription_id,
            queue=soft_opt_in_acquisitions_dlq.name,
        )
        outcome: AcquisitionOutcome | None = None
    else:
        outcome = await process_acquisition(
            subscription,
            identity_id,
            soft_opt_in_consent_setter_queue=soft_opt_in_consent_setter_queue,
            braze_emails=braze_emails,
            identity_api=identity_api,
            clock=clock,
        )
    await note_soft_opt_in(
        subscription_id,
        identity_id,
        WAITING if outcome is None else SENT[outcome],
        subscription_activity=subscription_activity,
        identity_key=identity_key,
        settings=settings,
        clock=clock,
    )
    return outcome
