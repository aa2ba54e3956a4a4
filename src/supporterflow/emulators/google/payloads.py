"""A purchase as the Play Developer API answers it, and the Real-time developer notifications.

* v1 ``SubscriptionPurchase`` (``purchases.subscriptions.get``): times are strings of
  milliseconds, enums are numbers, and absent values are left out (``paymentState`` of an expired
  subscription, ``cancelReason`` of one never cancelled).
* v2 ``SubscriptionPurchaseV2`` (``purchases.subscriptionsv2.get``): times are RFC 3339 with
  milliseconds and ``Z``, enums are names, and — proto3 JSON — default values are left out too:
  ``autoRenewingPlan.autoRenewEnabled`` is absent rather than ``false`` (spec §4.4 reads it
  "default false"), ``testPurchase`` is ``{}`` only for a test purchase.
* ``Subscription`` (``monetization.subscriptions.get``): the product and its base plans.
* ``DeveloperNotification``: what Pub/Sub carries base64-encoded; ``eventTimeMillis`` is a string
  (an int64 in proto3 JSON).

All are built from one :mod:`.store` record, so v1 and v2 always agree on the same instant.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from supporterflow.emulators.google.store import (
    CANCEL_DEVELOPER,
    CANCEL_REPLACED,
    CANCEL_SYSTEM,
    CANCEL_USER,
    CANCELED,
    EXPIRED,
    ONE_TIME,
    PAUSED,
    PRODUCT_TYPE_SUBSCRIPTION,
    REFUND_TYPE_FULL,
    SUBSCRIPTION,
    TEST,
    VOIDED,
    Step,
    order_id,
)
from supporterflow.emulators.storage import Document

NOTIFICATION_VERSION = "1.0"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def rfc3339(ms: int) -> str:
    """``2025-06-01T12:00:00.000Z``: Google's timestamp format, always with milliseconds."""
    moment = _EPOCH + timedelta(milliseconds=ms)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{ms % 1000:03d}Z"


def _present(body: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in body.items() if value is not None}


def _micros(price: Document) -> str:
    return str(int(price["units"]) * 1_000_000 + int(price["nanos"]) // 1000)


def subscription_purchase_v1(purchase: Document) -> dict[str, Any]:
    """The v1 ``SubscriptionPurchase`` of a purchase token."""
    cancel_time = purchase["cancelTimeMs"] if purchase["cancelReason"] == CANCEL_USER else None
    return _present(
        {
            "kind": "androidpublisher#subscriptionPurchase",
            "startTimeMillis": str(purchase["startTimeMs"]),
            "expiryTimeMillis": str(purchase["expiryTimeMs"]),
            "autoResumeTimeMillis": _optional_ms(
                purchase["autoResumeTimeMs"] if purchase["state"] == PAUSED else None
            ),
            "autoRenewing": purchase["autoRenewing"],
            "priceCurrencyCode": purchase["price"]["currencyCode"],
            "priceAmountMicros": _micros(purchase["price"]),
            "countryCode": purchase["regionCode"],
            "developerPayload": "",
            "paymentState": purchase["paymentState"],
            "cancelReason": purchase["cancelReason"],
            "userCancellationTimeMillis": _optional_ms(cancel_time),
            "orderId": order_id(purchase["firstOrderId"], purchase["renewals"]),
            "linkedPurchaseToken": purchase["linkedPurchaseToken"],
            "purchaseType": 0 if purchase["testPurchase"] else None,
            "acknowledgementState": 1 if purchase["acknowledged"] else 0,
            "obfuscatedExternalAccountId": purchase["obfuscatedExternalAccountId"],
        }
    )


def _optional_ms(ms: int | None) -> str | None:
    return None if ms is None else str(ms)


def _canceled_state_context(purchase: Document) -> dict[str, Any] | None:
    """Present while the subscription is cancelled or expired after a cancellation, with the
    member of its reason (``userInitiatedCancellation`` carries the time)."""
    reason = purchase["cancelReason"]
    if purchase["state"] not in (CANCELED, EXPIRED) or reason is None:
        return None
    if reason == CANCEL_USER:
        return {"userInitiatedCancellation": {"cancelTime": rfc3339(purchase["cancelTimeMs"])}}
    member = {
        CANCEL_SYSTEM: "systemInitiatedCancellation",
        CANCEL_DEVELOPER: "developerInitiatedCancellation",
        CANCEL_REPLACED: "replacementCancellation",
    }[reason]
    return {member: {}}


def subscription_purchase_v2(purchase: Document) -> dict[str, Any]:
    """The ``SubscriptionPurchaseV2`` of a purchase token: one line item, as Guardian's
    subscriptions have (spec §4.4 requires exactly one)."""
    latest_order = order_id(purchase["firstOrderId"], purchase["renewals"])
    auto_renewing_plan: dict[str, Any] = {
        "recurringPrice": {
            "currencyCode": purchase["price"]["currencyCode"],
            "units": str(purchase["price"]["units"]),
            "nanos": int(purchase["price"]["nanos"]),
        }
    }
    if purchase["autoRenewing"]:
        auto_renewing_plan = {"autoRenewEnabled": True, **auto_renewing_plan}
    offer_details = _present(
        {"basePlanId": purchase["basePlanId"], "offerId": purchase["offerId"], "offerTags": []}
    )
    account = purchase["obfuscatedExternalAccountId"]
    paused = purchase["state"] == PAUSED and purchase["autoResumeTimeMs"] is not None
    return _present(
        {
            "kind": "androidpublisher#subscriptionPurchaseV2",
            "regionCode": purchase["regionCode"],
            "lineItems": [
                {
                    "productId": purchase["productId"],
                    "expiryTime": rfc3339(purchase["expiryTimeMs"]),
                    "autoRenewingPlan": auto_renewing_plan,
                    "offerDetails": offer_details,
                    "latestSuccessfulOrderId": latest_order,
                }
            ],
            "startTime": rfc3339(purchase["startTimeMs"]),
            "subscriptionState": purchase["state"],
            "latestOrderId": latest_order,
            "linkedPurchaseToken": purchase["linkedPurchaseToken"],
            "pausedStateContext": {"autoResumeTime": rfc3339(purchase["autoResumeTimeMs"])}
            if paused
            else None,
            "canceledStateContext": _canceled_state_context(purchase),
            "testPurchase": {} if purchase["testPurchase"] else None,
            "acknowledgementState": "ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED"
            if purchase["acknowledged"]
            else "ACKNOWLEDGEMENT_STATE_PENDING",
            "externalAccountIdentifiers": {"obfuscatedExternalAccountId": account} if account else None,
        }
    )


def monetization_subscription(product: Document) -> dict[str, Any]:
    """The ``Subscription`` resource of monetization.subscriptions.get: auto-renewing base
    plans, all ``ACTIVE``, available in the UK at their price."""
    return {
        "packageName": product["packageName"],
        "productId": product["productId"],
        "basePlans": [
            {
                "basePlanId": plan["basePlanId"],
                "state": "ACTIVE",
                "autoRenewingBasePlanType": {
                    "billingPeriodDuration": plan["billingPeriodDuration"],
                    "gracePeriodDuration": plan["gracePeriodDuration"],
                    "accountHoldDuration": plan["accountHoldDuration"],
                    "resubscribeState": "RESUBSCRIBE_STATE_ACTIVE",
                    "prorationMode": "SUBSCRIPTION_PRORATION_MODE_CHARGE_ON_NEXT_BILLING_DATE",
                    "legacyCompatible": index == 0,
                },
                "regionalConfigs": [
                    {
                        "regionCode": "GB",
                        "newSubscriberAvailability": True,
                        "price": {
                            "currencyCode": plan["price"]["currencyCode"],
                            "units": str(plan["price"]["units"]),
                            "nanos": int(plan["price"]["nanos"]),
                        },
                    }
                ],
                "offerTags": [],
            }
            for index, plan in enumerate(product["basePlans"])
        ],
        "listings": [{"languageCode": "en-GB", "title": product["title"], "benefits": []}],
    }


def developer_notification(step: Step) -> dict[str, Any]:
    """The ``DeveloperNotification`` Google publishes for ``step``."""
    body: dict[str, Any] = {
        "version": NOTIFICATION_VERSION,
        "packageName": step.package_name,
        "eventTimeMillis": str(step.event_time_ms),
    }
    if step.kind == SUBSCRIPTION:
        body[SUBSCRIPTION] = {
            "version": NOTIFICATION_VERSION,
            "notificationType": step.notification_type,
            "purchaseToken": step.purchase_token,
            "subscriptionId": step.product_id,
        }
    elif step.kind == VOIDED:
        body[VOIDED] = {
            "purchaseToken": step.purchase_token,
            "orderId": step.order_id,
            "productType": PRODUCT_TYPE_SUBSCRIPTION,
            "refundType": REFUND_TYPE_FULL,
        }
    elif step.kind == ONE_TIME:
        body[ONE_TIME] = {
            "version": NOTIFICATION_VERSION,
            "notificationType": step.notification_type,
            "purchaseToken": step.purchase_token,
            "sku": step.product_id,
        }
    elif step.kind == TEST:
        body[TEST] = {"version": NOTIFICATION_VERSION}
    else:
        raise ValueError(f"unknown notification kind {step.kind!r}")
    return body
