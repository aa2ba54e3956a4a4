"""Play Developer API answers as rows: the Google "extra", the Feast ``GoogleSubscription``, the
Subscription rows of both apps and the normalised state columns (spec §4.3, §4.4, §4.6, §4.7,
§12.13, §12.15; docs/subscription-state-google.md).

Why: the update consumers fetch ``purchases.subscriptions`` (v1, live apps) or
``purchases.subscriptionsv2`` + ``monetization.subscriptions`` (Feast) and write Subscription rows
byte-compatible with the original's. Everything after the HTTP exchange is pure and lives here;
the adapter passes the parsed JSON bodies (Google's field names) and the times in.

Decisions where the spec is silent:

- ``google_extra`` of a body without line items is ``('', None)``: the original's extraction
  threw on ``lineItems[0]`` and caught it, which stores ``extra ''``. A line item without an
  ``offerId`` contributes ``null`` to ``offerTags`` (``JSON.stringify`` of ``undefined`` in an array).
- Malformed v2 data (not exactly one line item, a missing product, base plan, expiry or order id,
  an unparsable time) is ``ProcessingError(should_retry=False)``: a retry gets the same answer.
  The original threw plain errors, retried until the DLQ (§13.1.12).
- ``latestOrderId`` is deprecated by Google in favour of ``lineItems[].latestSuccessfulOrderId``;
  the latter is used when the former is absent.
- The Feast ``googlePayload`` keeps the original's camelCase keys but writes the dates as ISO
  strings (``null`` when absent); the original's data-mapper wrote them as empty maps, losing
  them (§1.2, §13.3.6). ``obfuscatedExternalAccountId`` is omitted when absent (``undefined``).
- A v1 body without ``autoRenewing`` gives ``autoRenewing: false`` (the original omitted the
  attribute); Google always sends it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any, Final

from supporterflow.domain.subscriptions.dates import (
    date_to_second_timestamp,
    js_date_parse,
    optional_ms_to_date,
    thirty_months,
    to_iso,
)
from supporterflow.domain.subscriptions.errors import ProcessingError
from supporterflow.domain.subscriptions.js import (
    is_number,
    js_json_stringify,
    js_number,
    js_truthy,
    number_to_string,
)
from supporterflow.domain.subscriptions.platforms import Platform, platform_from_google_package
from supporterflow.domain.subscriptions.status import SubscriptionStatus

__all__ = [
    "DEVELOPER_CANCELED",
    "FEAST_TEST_PRODUCT_ID",
    "FREE_TRIAL",
    "GOOGLE_EXTRA_GU_TYPE",
    "PAYMENT_PENDING",
    "TEST_PURCHASE_TYPE",
    "V2_STATE_STATUS",
    "GoogleSubscription",
    "base_plan_id",
    "google_extra",
    "google_subscription",
    "map_android_product_id",
    "product_id_of",
    "state_columns",
    "to_feast_subscription",
    "to_live_subscription",
]

GOOGLE_EXTRA_GU_TYPE: Final = "google-extra-2025-06-26"
#: The product id of every Feast test purchase, so that test purchases are easy to filter (§12.15).
FEAST_TEST_PRODUCT_ID: Final = "dev_testing_feast"

#: v1 ``paymentState``: 0 payment pending, 1 received, 2 free trial, 3 pending deferred change.
PAYMENT_PENDING: Final = 0
FREE_TRIAL: Final = 2
#: v1 ``cancelReason`` 3: the developer cancelled (revoked) the subscription.
DEVELOPER_CANCELED: Final = 3
#: v1 ``purchaseType`` 0: a test purchase (license tester); 1 promo code, 2 rewarded.
TEST_PURCHASE_TYPE: Final = 0


def _number_equals(value: object, expected: int) -> bool:
    """``value == expected`` with JavaScript's loose equality for the numbers Google sends."""
    return (is_number(value) or isinstance(value, str)) and js_number(value) == expected


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


# --- §4.6 the Google extra -----------------------------------------------------------------------


def _line_items(v2_body: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    items = v2_body.get("lineItems")
    return [_mapping(item) for item in items] if isinstance(items, list) else []


def google_extra(
    package_name: str, purchase_token: str, product_id: str, v2_body: Mapping[str, Any]
) -> tuple[str, str | None]:
    """The ``extra`` JSON string and the first line item's ``offerId`` (spec §4.6).

    ``('', None)`` when the subscription has no line items (what the original stored when its
    extraction failed).
    """
    items = _line_items(v2_body)
    if not items:
        return "", None
    offer_ids = [_mapping(item.get("offerDetails")).get("offerId") for item in items]
    extra = {
        "guType": GOOGLE_EXTRA_GU_TYPE,
        "packageName": package_name,
        "purchaseToken": purchase_token,
        "productId": product_id,
        "subscription": v2_body,
        "offerTags": offer_ids,
    }
    first = offer_ids[0]
    return js_json_stringify(extra), first if isinstance(first, str) else None


# --- §4.4 the Feast GoogleSubscription ------------------------------------------------------------


def map_android_product_id(product_id: str, package_name: str, test_purchase: bool) -> str:
    """``mapAndroidProductId``: a Feast test purchase becomes ``dev_testing_feast`` (§4.4 step 6)."""
    if test_purchase and platform_from_google_package(package_name) is Platform.ANDROID_FEAST:
        return FEAST_TEST_PRODUCT_ID
    return product_id


@dataclass(frozen=True)
class GoogleSubscription:
    """The original's ``GoogleSubscription`` (spec §4.4 step 7); ``raw_response`` is the v2 body."""

    start_time: datetime | None
    expiry_time: datetime
    user_cancellation_time: datetime | None
    auto_renewing: bool
    product_id: str
    billing_period_duration: str
    free_trial: bool
    test_purchase: bool
    obfuscated_external_account_id: str | None
    raw_response: dict[str, Any]

    def to_payload(self) -> dict[str, Any]:
        """The Feast row's ``googlePayload``: the original's keys, dates as ISO strings."""
        payload: dict[str, Any] = {
            "startTime": None if self.start_time is None else to_iso(self.start_time),
            "expiryTime": to_iso(self.expiry_time),
            "userCancellationTime": (
                None if self.user_cancellation_time is None else to_iso(self.user_cancellation_time)
            ),
            "autoRenewing": self.auto_renewing,
            "productId": self.product_id,
            "billingPeriodDuration": self.billing_period_duration,
            "freeTrial": self.free_trial,
            "testPurchase": self.test_purchase,
        }
        if self.obfuscated_external_account_id is not None:
            payload["obfuscatedExternalAccountId"] = self.obfuscated_external_account_id
        payload["rawResponse"] = self.raw_response
        return payload


def _only_line_item(v2_body: Mapping[str, Any]) -> Mapping[str, Any]:
    """The subscription's single line item: the original handles exactly one (§4.4 step 2)."""
    items = v2_body.get("lineItems")
    if not isinstance(items, list) or len(items) != 1:
        count = len(items) if isinstance(items, list) else 0
        raise ProcessingError(f"expected exactly one line item in the subscription, got {count}")
    if not isinstance(items[0], Mapping):
        raise ProcessingError("the subscription's line item is not an object")
    item: Mapping[str, Any] = items[0]
    return item


def _required_text(container: Mapping[str, Any], name: str, where: str) -> str:
    value = _text(container.get(name))
    if value is None:
        raise ProcessingError(f"the subscription has no {where}")
    return value


def base_plan_id(v2_body: Mapping[str, Any]) -> str:
    """``lineItems[0].offerDetails.basePlanId``: the adapter looks the base plan up with it."""
    details = _mapping(_only_line_item(v2_body).get("offerDetails"))
    return _required_text(details, "basePlanId", "lineItems[0].offerDetails.basePlanId")


def product_id_of(v2_body: Mapping[str, Any]) -> str:
    """``lineItems[0].productId``: the monetization API is asked for this product."""
    return _required_text(_only_line_item(v2_body), "productId", "lineItems[0].productId")


def _v2_time(value: object, where: str) -> datetime | None:
    """A v2 RFC 3339 timestamp read as ``new Date(value)``; None when absent or empty."""
    if value is None or value == "":
        return None
    moment = js_date_parse(value) if isinstance(value, str) else None
    if moment is None:
        raise ProcessingError(f"unparsable {where}: {value!r}")
    return moment


def _billing_period_duration(monetization_body: Mapping[str, Any], plan_id: str) -> str:
    plans = monetization_body.get("basePlans")
    for plan in plans if isinstance(plans, list) else []:
        if isinstance(plan, Mapping) and plan.get("basePlanId") == plan_id:
            for plan_type in ("autoRenewingBasePlanType", "prepaidBasePlanType"):
                duration = _text(_mapping(plan.get(plan_type)).get("billingPeriodDuration"))
                if duration is not None:
                    return duration
            raise ProcessingError(f"base plan {plan_id!r} has no billingPeriodDuration")
    raise ProcessingError(f"base plan {plan_id!r} not found in the subscription product")


def google_subscription(
    v2_body: Mapping[str, Any], monetization_body: Mapping[str, Any], *, package_name: str
) -> GoogleSubscription:
    """``fetchGoogleSubscriptionV2`` after its two GETs (spec §4.4 steps 2-6).

    Free trial heuristic: an offer is applied and the latest order is the first one (renewal
    order ids append ``..N`` to the first: ``GPA.1234-5678-9012-34567..0``).
    """
    item = _only_line_item(v2_body)
    expiry = _v2_time(item.get("expiryTime"), "lineItems[0].expiryTime")
    if expiry is None:
        raise ProcessingError("the subscription has no lineItems[0].expiryTime")
    offer_id = _text(_mapping(item.get("offerDetails")).get("offerId"))
    latest_order_id = _text(v2_body.get("latestOrderId")) or _required_text(
        item, "latestSuccessfulOrderId", "latestOrderId"
    )
    cancellation = _mapping(_mapping(v2_body.get("canceledStateContext")).get("userInitiatedCancellation"))
    test_purchase = js_truthy(v2_body.get("testPurchase"))  # Google sends an empty object: truthy
    return GoogleSubscription(
        start_time=_v2_time(v2_body.get("startTime"), "startTime"),
        expiry_time=expiry,
        user_cancellation_time=_v2_time(cancellation.get("cancelTime"), "cancelTime"),
        auto_renewing=_mapping(item.get("autoRenewingPlan")).get("autoRenewEnabled") is True,
        product_id=map_android_product_id(product_id_of(v2_body), package_name, test_purchase),
        billing_period_duration=_billing_period_duration(monetization_body, base_plan_id(v2_body)),
        free_trial=offer_id is not None and ".." not in latest_order_id,
        test_purchase=test_purchase,
        obfuscated_external_account_id=_text(
            _mapping(v2_body.get("externalAccountIdentifiers")).get("obfuscatedExternalAccountId")
        ),
        raw_response=dict(v2_body),
    )


# --- §4.7 Subscription rows ------------------------------------------------------------------------


def _row(
    purchase_token: str,
    package_name: str,
    *,
    start: str,
    expiry: datetime,
    cancellation: datetime | None,
    auto_renewing: bool,
    product_id: str,
    free_trial: bool,
    billing_period: str | None,
    google_payload: Any,
) -> dict[str, Any]:
    """The columns both Google rows share, in the order of the Apple row builder (§1.3)."""
    platform = platform_from_google_package(package_name)
    row: dict[str, Any] = {
        "subscriptionId": purchase_token,
        "startTimestamp": start,
        "endTimestamp": to_iso(expiry),
    }
    if cancellation is not None:
        row["cancellationTimestamp"] = to_iso(cancellation)
    row["autoRenewing"] = auto_renewing
    row["productId"] = product_id
    if platform is not None:
        row["platform"] = platform.value
    row["freeTrial"] = free_trial
    if billing_period is not None:
        row["billingPeriod"] = billing_period
    row["googlePayload"] = google_payload
    row["applePayload"] = None
    row["ttl"] = date_to_second_timestamp(thirty_months(expiry))
    return row


def _v1_time(v1_body: Mapping[str, Any], name: str) -> datetime | None:
    """``optionalMsToDate(body[name])``: ms strings (numbers tolerated); ''/absent -> None."""
    value = v1_body.get(name)
    if isinstance(value, int | float) and is_number(value):
        value = number_to_string(value)
    return optional_ms_to_date(value) if isinstance(value, str) else None


def _v1_required_time(v1_body: Mapping[str, Any], name: str) -> datetime:
    moment = _v1_time(v1_body, name)
    if moment is None:
        raise ProcessingError(f"Unable to parse the {name} field {v1_body.get(name)!r}")
    return moment


def to_live_subscription(
    purchase_token: str,
    package_name: str,
    sku: str,
    v1_body: Mapping[str, Any] | None,
    *,
    billing_period: str | None,
    extra: str | None,
) -> dict[str, Any]:
    """``googleResponseBodyToSubscription``: the live app's row from the v1 body (spec §4.7).

    ``billing_period`` is the product table's (live) or the base plan's (Feast historical
    message); ``extra`` is the :func:`google_extra` string, ``''`` when it failed, or None when
    not built (attribute omitted). Raises ``ProcessingError`` (retry) when Google returned no
    body and ``ProcessingError`` (give up) for an unparsable start or expiry.
    """
    if v1_body is None:
        raise ProcessingError("There was no data in the response from google", should_retry=True)
    start = _v1_required_time(v1_body, "startTimeMillis")
    row = _row(
        purchase_token,
        package_name,
        start=to_iso(start),
        expiry=_v1_required_time(v1_body, "expiryTimeMillis"),
        cancellation=_v1_time(v1_body, "userCancellationTimeMillis"),
        auto_renewing=v1_body.get("autoRenewing") is True,
        product_id=sku,
        free_trial=_number_equals(v1_body.get("paymentState"), FREE_TRIAL),
        billing_period=billing_period,
        google_payload=dict(v1_body),
    )
    if extra is not None:
        row["extra"] = extra
    return row


def to_feast_subscription(
    purchase_token: str, package_name: str, subscription: GoogleSubscription
) -> dict[str, Any]:
    """``googleSubscriptionToSubscription``: the Feast row (spec §4.7, §12.13); no ``extra``."""
    return _row(
        purchase_token,
        package_name,
        start="" if subscription.start_time is None else to_iso(subscription.start_time),
        expiry=subscription.expiry_time,
        cancellation=subscription.user_cancellation_time,
        auto_renewing=subscription.auto_renewing,
        product_id=subscription.product_id,
        free_trial=subscription.free_trial,
        billing_period=subscription.billing_period_duration,
        google_payload=subscription.to_payload(),
    )


# --- the normalised state columns (docs/subscription-state-google.md) -----------------------------

#: ``subscriptionState`` of purchases.subscriptionsv2 -> status. A cancelled subscription keeps
#: access until its expiry (Google moves it to EXPIRED then); a pending purchase or an account
#: hold gives no access while Google collects the payment.
V2_STATE_STATUS: Final[Mapping[str, SubscriptionStatus]] = MappingProxyType(
    {
        "SUBSCRIPTION_STATE_ACTIVE": SubscriptionStatus.ACTIVE,
        "SUBSCRIPTION_STATE_CANCELED": SubscriptionStatus.ACTIVE,
        "SUBSCRIPTION_STATE_IN_GRACE_PERIOD": SubscriptionStatus.GRACE_PERIOD,
        "SUBSCRIPTION_STATE_ON_HOLD": SubscriptionStatus.BILLING_RETRY,
        "SUBSCRIPTION_STATE_PENDING": SubscriptionStatus.BILLING_RETRY,
        "SUBSCRIPTION_STATE_PAUSED": SubscriptionStatus.PAUSED,
        "SUBSCRIPTION_STATE_EXPIRED": SubscriptionStatus.EXPIRED,
        "SUBSCRIPTION_STATE_PENDING_PURCHASE_CANCELED": SubscriptionStatus.EXPIRED,
    }
)


def _status_from_v2(v2_body: Mapping[str, Any]) -> SubscriptionStatus | None:
    """The v2 state's status; an expiry the developer caused (a revocation) is ``revoked``.
    None for a state this table does not know (``SUBSCRIPTION_STATE_UNSPECIFIED``, new ones)."""
    state = v2_body.get("subscriptionState")
    status = V2_STATE_STATUS.get(state) if isinstance(state, str) else None
    context = _mapping(v2_body.get("canceledStateContext"))
    if status is SubscriptionStatus.EXPIRED and "developerInitiatedCancellation" in context:
        return SubscriptionStatus.REVOKED
    return status


def _status_from_v1(v1_body: Mapping[str, Any], *, now: datetime) -> SubscriptionStatus:
    """Status from purchases.subscriptions (v1) fields, first matching rule wins.

    Before expiry: payment pending -> grace_period, else active (a scheduled pause has not
    begun). After expiry: ``autoResumeTimeMillis`` set -> paused (v1 moves the expiry to the
    pause start); payment pending -> billing_retry (account hold); ``cancelReason`` 3 (developer)
    -> revoked; otherwise expired.
    """
    expiry = _v1_required_time(v1_body, "expiryTimeMillis")
    pending = _number_equals(v1_body.get("paymentState"), PAYMENT_PENDING)
    if expiry > now:
        return SubscriptionStatus.GRACE_PERIOD if pending else SubscriptionStatus.ACTIVE
    if _v1_time(v1_body, "autoResumeTimeMillis") is not None:
        return SubscriptionStatus.PAUSED
    if pending:
        return SubscriptionStatus.BILLING_RETRY
    if _number_equals(v1_body.get("cancelReason"), DEVELOPER_CANCELED):
        return SubscriptionStatus.REVOKED
    return SubscriptionStatus.EXPIRED


def state_columns(
    v2_body: Mapping[str, Any] | None,
    v1_body: Mapping[str, Any] | None,
    *,
    now: datetime,
    fetched_at: datetime,
    voided: bool = False,
) -> dict[str, Any]:
    """The columns supporterflow adds to a Google row: ``status``, ``environment``,
    ``fetchedAt`` and, when Google names one, ``linkedPurchaseToken``.

    The v2 state decides when given and known, else the v1 rules. ``voided`` (the fetch follows
    a voided-purchase notification) turns any status but active into ``refunded``.
    ``fetchedAt`` is when the fetch *started*: Google's answers carry no time of their own, and
    a fetch that started earlier must never overwrite one that started later. Raises
    ``ValueError`` when neither body can give a status.
    """
    v2, v1 = v2_body or {}, v1_body or {}
    status = _status_from_v2(v2) if v2_body is not None else None
    if status is None and v1_body is not None:
        status = _status_from_v1(v1_body, now=now)
    if status is None:
        state = v2.get("subscriptionState")
        raise ValueError(f"no status: unknown Google subscription state {state!r} and no v1 body")
    if voided and status is not SubscriptionStatus.ACTIVE:
        status = SubscriptionStatus.REFUNDED
    sandbox = js_truthy(v2.get("testPurchase")) or _number_equals(v1.get("purchaseType"), TEST_PURCHASE_TYPE)
    columns: dict[str, Any] = {
        "status": status.value,
        "environment": "Sandbox" if sandbox else "Production",
        "fetchedAt": to_iso(fetched_at),
    }
    linked = _text(v2.get("linkedPurchaseToken")) or _text(v1.get("linkedPurchaseToken"))
    if linked is not None:
        columns["linkedPurchaseToken"] = linked
    return columns
