"""App Store Server Notifications V2 and the App Store Server API, as rows of the original tables.

Why: the legacy system only knew V1 notifications and ``verifyReceipt`` (spec §3.1, §13.2.6),
which Apple no longer develops. A V2 notification carries the transaction and renewal info signed
by Apple, and "Get All Subscription Statuses" answers the current state of one subscription, so
both fill the same SubscriptionEvent and Subscription rows as V1 does (spec §1.3, §1.4), with the
normalised ``status`` and ``environment`` beside them. Every dict handled here is a JWS payload
already verified by the adapter; nothing here checks signatures.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from supporterflow.domain.subscriptions.apple_receipts import apple_extra
from supporterflow.domain.subscriptions.dates import (
    date_to_second_timestamp,
    iso_day,
    ms_to_date,
    thirty_months,
    to_iso,
)
from supporterflow.domain.subscriptions.platforms import UNKNOWN_PLATFORM, platform_from_apple_bundle
from supporterflow.domain.subscriptions.products import billing_period
from supporterflow.domain.subscriptions.status import status_from_app_store_v2

__all__ = [
    "INTRODUCTORY_OFFER",
    "AppStoreSubscription",
    "SignedNotification",
    "fetch_reference",
    "notification_summary",
    "to_v2_event",
    "to_v2_subscription",
]

#: ``offerType`` of an introductory offer (free trial, pay as you go, pay up front). V1 counts
#: ``is_in_intro_offer_period`` as a trial (spec §3.3), so V2 does the same.
INTRODUCTORY_OFFER: Final = 1
AUTO_RENEW_ON: Final = 1


@dataclass(frozen=True)
class SignedNotification:
    """A V2 notification whose ``signedPayload`` and nested signed data verified. The dicts are
    the decoded JWS payloads exactly as Apple sent them (``transaction`` and ``renewal`` are None
    when the notification carries none)."""

    payload: dict[str, Any]
    transaction: dict[str, Any] | None
    renewal: dict[str, Any] | None


@dataclass(frozen=True)
class AppStoreSubscription:
    """One item of "Get All Subscription Statuses" for an original transaction id, verified:
    ``status`` (1 active, 2 expired, 3 billing retry, 4 grace period, 5 revoked) and the decoded
    last transaction and renewal info."""

    status: int
    transaction: dict[str, Any]
    renewal: dict[str, Any] | None
    environment: str
    bundle_id: str


def _date(ms: object) -> datetime | None:
    return ms_to_date(ms) if isinstance(ms, int | float) and not isinstance(ms, bool) else None


def _iso(ms: object) -> str | None:
    moment = _date(ms)
    return None if moment is None else to_iso(moment)


def _decoded_payload(notification: SignedNotification) -> dict[str, Any]:
    """The notification as stored in ``applePayload``: the signed strings replaced by what they
    say (they are verified; the x5c chains would only make the row three times larger)."""
    payload = dict(notification.payload)
    data = payload.get("data")
    if isinstance(data, Mapping):
        decoded = {k: v for k, v in data.items() if k not in ("signedTransactionInfo", "signedRenewalInfo")}
        if notification.transaction is not None:
            decoded["transactionInfo"] = notification.transaction
        if notification.renewal is not None:
            decoded["renewalInfo"] = notification.renewal
        payload["data"] = decoded
    return payload


def notification_summary(notification: SignedNotification) -> dict[str, Any]:
    """What a log line may say about a notification: no tokens, no transaction contents."""
    payload = notification.payload
    data = payload.get("data") if isinstance(payload.get("data"), Mapping) else {}
    assert isinstance(data, Mapping)
    return {
        "notificationUUID": payload.get("notificationUUID"),
        "notificationType": payload.get("notificationType"),
        "subtype": payload.get("subtype"),
        "bundleId": data.get("bundleId"),
        "environment": data.get("environment"),
    }


def to_v2_event(notification: SignedNotification, *, now: datetime) -> dict[str, Any]:
    """The SubscriptionEvent row of a verified V2 notification.

    The key is built from Apple's ``signedDate`` (not the receive time, as V1 does) so that
    Apple's retries of the same notification land on the same row; ``notificationUUID`` tells a
    retry from another notification that happens to share the key. A notification without a
    transaction (``TEST``, summaries) is kept under its ``notificationUUID``.
    """
    payload = notification.payload
    transaction = notification.transaction or {}
    data = payload.get("data") if isinstance(payload.get("data"), Mapping) else {}
    assert isinstance(data, Mapping)
    bundle_id = data.get("bundleId") or transaction.get("bundleId")
    signed = _date(payload.get("signedDate")) or now
    timestamp = to_iso(signed)
    notification_type = str(payload.get("notificationType"))
    platform = platform_from_apple_bundle(bundle_id if isinstance(bundle_id, str) else None)
    row: dict[str, Any] = {
        "subscriptionId": str(transaction.get("originalTransactionId") or payload["notificationUUID"]),
        "timestampAndType": f"{timestamp}|{notification_type}",
        "date": iso_day(signed),
        "timestamp": timestamp,
        "eventType": notification_type,
        "platform": platform.value if platform is not None else UNKNOWN_PLATFORM,
        "appId": bundle_id or "",
        "freeTrial": transaction.get("offerType") == INTRODUCTORY_OFFER,
        "googlePayload": None,
        "applePayload": _decoded_payload(notification),
        "ttl": date_to_second_timestamp(thirty_months(now)),
        "promotional_offer_id": transaction.get("offerIdentifier"),
        "promotional_offer_name": None,
        "product_id": transaction.get("productId", ""),
        "purchase_date_ms": transaction.get("purchaseDate", 0),
        "expires_date_ms": transaction.get("expiresDate", 0),
        "extra": apple_extra(transaction) if transaction else "",
        "notificationUUID": payload["notificationUUID"],
    }
    if payload.get("subtype"):
        row["subtype"] = payload["subtype"]
    return row


def fetch_reference(notification: SignedNotification) -> dict[str, str] | None:
    """The update-subs message of a V2 notification: which subscription to fetch from the App
    Store Server API, or None when the notification concerns none."""
    transaction = notification.transaction
    if not transaction or not transaction.get("originalTransactionId") or not transaction.get("bundleId"):
        return None
    return {
        "originalTransactionId": str(transaction["originalTransactionId"]),
        "bundleId": str(transaction["bundleId"]),
    }


def to_v2_subscription(state: AppStoreSubscription, *, now: datetime) -> dict[str, Any]:
    """The Subscription row of one "Get All Subscription Statuses" item, in the columns of the
    V1 row (spec §3.8) plus ``status``, ``environment``, ``bundleId`` and ``fetchedAt``.

    There is no receipt: revalidation re-fetches such rows by original transaction id.
    ``fetchedAt`` is Apple's ``signedDate`` of the answer (``now`` if Apple sent none), which
    orders fetches of one subscription. Raises ``ValueError`` when Apple's data lacks a date the row needs.
    """
    transaction, renewal = state.transaction, state.renewal or {}
    expires = _date(transaction.get("expiresDate"))
    started = _date(transaction.get("originalPurchaseDate"))
    if expires is None or started is None:
        raise ValueError("the transaction has no expiresDate or originalPurchaseDate")
    revoked = _date(transaction.get("revocationDate"))
    product_id = str(transaction.get("productId", ""))
    platform = platform_from_apple_bundle(state.bundle_id)
    period = billing_period(product_id)
    row: dict[str, Any] = {
        "subscriptionId": str(transaction["originalTransactionId"]),
        "startTimestamp": to_iso(started),
        "endTimestamp": to_iso(expires),
    }
    if revoked is not None:
        row["cancellationTimestamp"] = to_iso(revoked)
    row["autoRenewing"] = renewal.get("autoRenewStatus") == AUTO_RENEW_ON
    row["productId"] = product_id
    if platform is not None:
        row["platform"] = platform.value
    row["freeTrial"] = transaction.get("offerType") == INTRODUCTORY_OFFER
    if period is not None:
        row["billingPeriod"] = period
    row["googlePayload"] = None
    row["applePayload"] = {
        "status": state.status,
        "environment": state.environment,
        "bundleId": state.bundle_id,
        "transactionInfo": transaction,
        "renewalInfo": state.renewal,
    }
    row["ttl"] = date_to_second_timestamp(thirty_months(expires))
    row["extra"] = apple_extra(transaction)
    reason = transaction.get("revocationReason")
    row["status"] = status_from_app_store_v2(
        state.status, revocation_date=revoked, revocation_reason=reason if isinstance(reason, int) else None
    ).value
    row["environment"] = state.environment
    row["bundleId"] = state.bundle_id
    row["fetchedAt"] = _iso(transaction.get("signedDate")) or to_iso(now)
    return row
