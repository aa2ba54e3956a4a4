"""Play Developer API answers as rows (``domain/subscriptions/google_play.py``): the Google extra
(spec §4.6), the Feast ``GoogleSubscription`` (§4.4, §12.15), the live and Feast Subscription rows
(§4.7, §12.13) and the normalised state columns (docs/subscription-state-google.md).

Why these tests: the rows must be byte-compatible with the original's, and the status must say
the same thing whether it came from subscriptionsv2 or from the v1 API. Inputs are plain dicts
with Google's field names, as the adapter hands them over; every expected value is written out.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from supporterflow.domain.subscriptions.errors import ProcessingError
from supporterflow.domain.subscriptions.google_play import (
    GoogleSubscription,
    base_plan_id,
    google_extra,
    google_subscription,
    map_android_product_id,
    product_id_of,
    state_columns,
    to_feast_subscription,
    to_live_subscription,
)

FEAST = "uk.co.guardian.feast"
LIVE = "com.guardian"
TOKEN = "purchase-token-1"
FEAST_PRODUCT = "uk.co.guardian.feast.access"
FIRST_ORDER = "GPA.3301-2345-6789-01234"

START = datetime(2026, 1, 1, 10, 0, 0, 123000, tzinfo=UTC)
EXPIRY = datetime(2026, 2, 1, 10, 0, 0, 456000, tzinfo=UTC)
EXPIRY_TTL = 1848736801  # 2028-08-01T10:00:00.456Z (EXPIRY + 30 months), seconds rounded up
NOW = datetime(2026, 1, 20, 8, 30, tzinfo=UTC)  # between START and EXPIRY
FETCHED = datetime(2026, 1, 20, 8, 29, 59, 5000, tzinfo=UTC)


def line_item(**changes: Any) -> dict[str, Any]:
    """A ``SubscriptionPurchaseLineItem`` of an auto-renewing plan; ``None`` removes a field."""
    item: dict[str, Any] = {
        "productId": FEAST_PRODUCT,
        "expiryTime": "2026-02-01T10:00:00.456Z",
        "autoRenewingPlan": {"autoRenewEnabled": True},
        "offerDetails": {"basePlanId": "p1m", "offerTags": ["intro"], "offerId": "free-trial-7d"},
    }
    item.update(changes)
    return {key: value for key, value in item.items() if value is not None}


def v2_body(*items: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A ``SubscriptionPurchaseV2`` (purchases.subscriptionsv2.get); ``None`` removes a field."""
    body: dict[str, Any] = {
        "kind": "androidpublisher#subscriptionPurchaseV2",
        "regionCode": "GB",
        "startTime": "2026-01-01T10:00:00.123Z",
        "subscriptionState": "SUBSCRIPTION_STATE_ACTIVE",
        "latestOrderId": FIRST_ORDER,
        "acknowledgementState": "ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED",
        "externalAccountIdentifiers": {"obfuscatedExternalAccountId": "aaaa-bbbb-cccc-dddd"},
        "lineItems": list(items) if items else [line_item()],
    }
    body.update(changes)
    return {key: value for key, value in body.items() if value is not None}


MONETIZATION: dict[str, Any] = {
    "packageName": FEAST,
    "productId": FEAST_PRODUCT,
    "basePlans": [
        {
            "basePlanId": "p1y",
            "state": "ACTIVE",
            "autoRenewingBasePlanType": {"billingPeriodDuration": "P1Y"},
        },
        {
            "basePlanId": "p1m",
            "state": "ACTIVE",
            "autoRenewingBasePlanType": {"billingPeriodDuration": "P1M", "gracePeriodDuration": "P3D"},
        },
        {
            "basePlanId": "prepaid-3m",
            "state": "ACTIVE",
            "prepaidBasePlanType": {"billingPeriodDuration": "P3M", "timeExtension": "TIME_EXTENSION_ACTIVE"},
        },
        {"basePlanId": "broken", "state": "DRAFT"},
    ],
}


def v1_body(**changes: Any) -> dict[str, Any]:
    """A ``SubscriptionPurchase`` (purchases.subscriptions.get); ``None`` removes a field."""
    body: dict[str, Any] = {
        "kind": "androidpublisher#subscriptionPurchase",
        "startTimeMillis": "1767261600123",  # START
        "expiryTimeMillis": "1769940000456",  # EXPIRY
        "autoRenewing": True,
        "priceCurrencyCode": "GBP",
        "priceAmountMicros": "11990000",
        "countryCode": "GB",
        "developerPayload": "",
        "paymentState": 1,
        "orderId": FIRST_ORDER,
        "acknowledgementState": 1,
    }
    body.update(changes)
    return {key: value for key, value in body.items() if value is not None}


# --- §12.15 mapAndroidProductId --------------------------------------------------------------------


def test_a_test_purchase_outside_feast_keeps_its_product_id() -> None:
    assert map_android_product_id("uk.co.guardian.gla.1month", LIVE, True) == "uk.co.guardian.gla.1month"


def test_a_feast_purchase_that_is_not_a_test_keeps_its_product_id() -> None:
    assert map_android_product_id(FEAST_PRODUCT, FEAST, False) == FEAST_PRODUCT


def test_a_feast_test_purchase_is_dev_testing_feast() -> None:
    assert map_android_product_id(FEAST_PRODUCT, FEAST, True) == "dev_testing_feast"


# --- §4.6 google_extra ----------------------------------------------------------------------------


def test_the_extra_is_the_originals_json_string_and_the_first_offer_id() -> None:
    body = v2_body(line_item(), line_item(offerDetails={"basePlanId": "p1y"}))
    extra, offer_id = google_extra(FEAST, TOKEN, FEAST_PRODUCT, body)
    assert offer_id == "free-trial-7d"
    assert extra == (
        '{"guType":"google-extra-2025-06-26","packageName":"uk.co.guardian.feast",'
        '"purchaseToken":"purchase-token-1","productId":"uk.co.guardian.feast.access",'
        '"subscription":' + json.dumps(body, separators=(",", ":")) + ","
        '"offerTags":["free-trial-7d",null]}'
    )


def test_without_an_offer_the_offer_id_is_none() -> None:
    extra, offer_id = google_extra(LIVE, TOKEN, "p", v2_body(line_item(offerDetails={"basePlanId": "p1m"})))
    assert offer_id is None
    assert json.loads(extra)["offerTags"] == [None]


@pytest.mark.parametrize("items", [None, []], ids=["absent", "empty"])
def test_a_subscription_without_line_items_has_no_extra(items: list[Any] | None) -> None:
    body = v2_body(lineItems=items) if items is not None else v2_body(lineItems=None)
    assert google_extra(LIVE, TOKEN, "p", body) == ("", None)


# --- §4.4 google_subscription ---------------------------------------------------------------------


def test_the_google_subscription_of_a_first_order_with_an_offer() -> None:
    body = v2_body()
    assert google_subscription(body, MONETIZATION, package_name=FEAST) == GoogleSubscription(
        start_time=START,
        expiry_time=EXPIRY,
        user_cancellation_time=None,
        auto_renewing=True,
        product_id=FEAST_PRODUCT,
        billing_period_duration="P1M",
        free_trial=True,
        test_purchase=False,
        obfuscated_external_account_id="aaaa-bbbb-cccc-dddd",
        raw_response=body,
    )


@pytest.mark.parametrize(
    ("offer_details", "order_id", "free_trial"),
    [
        ({"basePlanId": "p1m", "offerId": "free-trial-7d"}, FIRST_ORDER, True),
        ({"basePlanId": "p1m", "offerId": "free-trial-7d"}, "GPA.1..0", False),
        ({"basePlanId": "p1m", "offerId": "free-trial-7d"}, f"{FIRST_ORDER}..3", False),
        ({"basePlanId": "p1m"}, FIRST_ORDER, False),
    ],
    ids=["offer-first-order", "offer-renewal-GPA.1..0", "offer-renewal", "no-offer"],
)
def test_free_trial_means_an_offer_on_the_first_order(
    offer_details: dict[str, str], order_id: str, free_trial: bool
) -> None:
    body = v2_body(line_item(offerDetails=offer_details), latestOrderId=order_id)
    assert google_subscription(body, MONETIZATION, package_name=FEAST).free_trial is free_trial


def test_the_line_items_latest_order_id_stands_in_for_the_deprecated_one() -> None:
    body = v2_body(line_item(latestSuccessfulOrderId=f"{FIRST_ORDER}..1"), latestOrderId=None)
    assert google_subscription(body, MONETIZATION, package_name=FEAST).free_trial is False


def test_a_prepaid_base_plan_gives_its_billing_period() -> None:
    item = line_item(autoRenewingPlan=None, prepaidPlan={}, offerDetails={"basePlanId": "prepaid-3m"})
    subscription = google_subscription(v2_body(item), MONETIZATION, package_name=FEAST)
    assert (subscription.billing_period_duration, subscription.auto_renewing) == ("P3M", False)


def test_a_feast_test_purchase_is_marked_and_renamed() -> None:
    """Google sends ``testPurchase: {}``: an empty object, truthy as in JavaScript."""
    subscription = google_subscription(v2_body(testPurchase={}), MONETIZATION, package_name=FEAST)
    assert (subscription.test_purchase, subscription.product_id) == (True, "dev_testing_feast")


def test_the_cancellation_start_and_account_id_are_optional() -> None:
    body = v2_body(
        line_item(autoRenewingPlan={"autoRenewEnabled": False}),
        startTime=None,
        externalAccountIdentifiers=None,
        subscriptionState="SUBSCRIPTION_STATE_CANCELED",
        canceledStateContext={
            "userInitiatedCancellation": {
                "cancelSurveyResult": {"reason": "CANCEL_SURVEY_REASON_NOT_ENOUGH_USAGE"},
                "cancelTime": "2026-01-15T00:00:00Z",
            }
        },
    )
    subscription = google_subscription(body, MONETIZATION, package_name=FEAST)
    assert subscription.start_time is None
    assert subscription.user_cancellation_time == datetime(2026, 1, 15, tzinfo=UTC)
    assert subscription.auto_renewing is False
    assert subscription.obfuscated_external_account_id is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (v2_body(lineItems=None), "expected exactly one line item in the subscription, got 0"),
        (v2_body(lineItems=[]), "expected exactly one line item in the subscription, got 0"),
        (v2_body(line_item(), line_item()), "expected exactly one line item in the subscription, got 2"),
        (v2_body(lineItems=["x"]), "the subscription's line item is not an object"),
        (v2_body(line_item(expiryTime=None)), "the subscription has no lineItems[0].expiryTime"),
        (v2_body(line_item(expiryTime="soon")), "unparsable lineItems[0].expiryTime: 'soon'"),
        (v2_body(startTime="yesterday"), "unparsable startTime: 'yesterday'"),
        (v2_body(line_item(productId=None)), "the subscription has no lineItems[0].productId"),
        (
            v2_body(line_item(offerDetails={"offerId": "x"})),
            "the subscription has no lineItems[0].offerDetails.basePlanId",
        ),
        (v2_body(latestOrderId=None), "the subscription has no latestOrderId"),
        (
            v2_body(line_item(offerDetails={"basePlanId": "gone"})),
            "base plan 'gone' not found in the subscription product",
        ),
        (
            v2_body(line_item(offerDetails={"basePlanId": "broken"})),
            "base plan 'broken' has no billingPeriodDuration",
        ),
    ],
    ids=[
        "no-line-items",
        "empty-line-items",
        "two-line-items",
        "line-item-not-object",
        "no-expiry",
        "unparsable-expiry",
        "unparsable-start",
        "no-product",
        "no-base-plan-id",
        "no-order-id",
        "unknown-base-plan",
        "base-plan-without-period",
    ],
)
def test_unusable_v2_data_is_given_up_on_with_a_clear_message(body: dict[str, Any], message: str) -> None:
    """A retry would get the same answer, so these are not retried."""
    with pytest.raises(ProcessingError) as raised:
        google_subscription(body, MONETIZATION, package_name=FEAST)
    assert (raised.value.message, raised.value.should_retry) == (message, False)


def test_base_plan_and_product_come_from_the_only_line_item() -> None:
    assert (base_plan_id(v2_body()), product_id_of(v2_body())) == ("p1m", FEAST_PRODUCT)
    with pytest.raises(ProcessingError, match="got 2"):
        base_plan_id(v2_body(line_item(), line_item()))


# --- §4.7 / §12.13 the Feast row ------------------------------------------------------------------


def test_the_feast_row_of_the_update_subs_test() -> None:
    """§12.13 case 1 (clock 2023-03-14): start now-1d, expiry now+30d, rawResponse the v2 body."""
    now = datetime(2023, 3, 14, tzinfo=UTC)
    subscription = GoogleSubscription(
        start_time=now - timedelta(days=1),
        expiry_time=now + timedelta(days=30),
        user_cancellation_time=None,
        auto_renewing=True,
        product_id="test-subscription-id",
        billing_period_duration="P1M",
        free_trial=False,
        test_purchase=False,
        obfuscated_external_account_id="aaaa-bbbb-cccc-dddd",
        raw_response={"kind": "androidpublisher#subscriptionPurchaseV2"},
    )
    row = to_feast_subscription("test-purchase-token", FEAST, subscription)
    assert row == {
        "subscriptionId": "test-purchase-token",
        "startTimestamp": "2023-03-13T00:00:00.000Z",
        "endTimestamp": "2023-04-13T00:00:00.000Z",
        "autoRenewing": True,
        "productId": "test-subscription-id",
        "platform": "android-feast",
        "freeTrial": False,
        "billingPeriod": "P1M",
        "googlePayload": {
            "startTime": "2023-03-13T00:00:00.000Z",
            "expiryTime": "2023-04-13T00:00:00.000Z",
            "userCancellationTime": None,
            "autoRenewing": True,
            "productId": "test-subscription-id",
            "billingPeriodDuration": "P1M",
            "freeTrial": False,
            "testPurchase": False,
            "obfuscatedExternalAccountId": "aaaa-bbbb-cccc-dddd",
            "rawResponse": {"kind": "androidpublisher#subscriptionPurchaseV2"},
        },
        "applePayload": None,
        "ttl": 1760313600,  # 2025-10-13T00:00:00.000Z: expiry + 30 months
    }
    assert list(row) == [
        "subscriptionId",
        "startTimestamp",
        "endTimestamp",
        "autoRenewing",
        "productId",
        "platform",
        "freeTrial",
        "billingPeriod",
        "googlePayload",
        "applePayload",
        "ttl",
    ]


def test_a_feast_row_without_start_or_account_and_with_a_cancellation() -> None:
    """No start: ``''`` (NULL once stored); the cancellation follows ``endTimestamp``."""
    body = v2_body(
        startTime=None,
        externalAccountIdentifiers=None,
        canceledStateContext={"userInitiatedCancellation": {"cancelTime": "2026-01-15T00:00:00Z"}},
    )
    row = to_feast_subscription(TOKEN, FEAST, google_subscription(body, MONETIZATION, package_name=FEAST))
    assert row["startTimestamp"] == ""
    assert list(row)[:4] == ["subscriptionId", "startTimestamp", "endTimestamp", "cancellationTimestamp"]
    assert row["cancellationTimestamp"] == "2026-01-15T00:00:00.000Z"
    assert row["ttl"] == EXPIRY_TTL
    assert row["googlePayload"]["startTime"] is None
    assert row["googlePayload"]["userCancellationTime"] == "2026-01-15T00:00:00.000Z"
    assert "obfuscatedExternalAccountId" not in row["googlePayload"]
    assert row["googlePayload"]["rawResponse"] == body
    assert "extra" not in row


# --- §4.7 the live row ----------------------------------------------------------------------------


def test_the_live_row_from_the_v1_body() -> None:
    body = v1_body()
    row = to_live_subscription(TOKEN, LIVE, "uk.co.guardian.gla.1month", body, billing_period="P1M", extra="")
    assert row == {
        "subscriptionId": TOKEN,
        "startTimestamp": "2026-01-01T10:00:00.123Z",
        "endTimestamp": "2026-02-01T10:00:00.456Z",
        "autoRenewing": True,
        "productId": "uk.co.guardian.gla.1month",
        "platform": "android",
        "freeTrial": False,
        "billingPeriod": "P1M",
        "googlePayload": body,
        "applePayload": None,
        "ttl": EXPIRY_TTL,
        "extra": "",
    }
    assert list(row)[-3:] == ["applePayload", "ttl", "extra"]


def test_the_live_row_keeps_its_cancellation_trial_and_extra() -> None:
    body = v1_body(userCancellationTimeMillis="1768435200000", paymentState=2, autoRenewing=False)
    row = to_live_subscription(TOKEN, LIVE, "sku", body, billing_period=None, extra='{"guType":"x"}')
    assert list(row)[:4] == ["subscriptionId", "startTimestamp", "endTimestamp", "cancellationTimestamp"]
    assert row["cancellationTimestamp"] == "2026-01-15T00:00:00.000Z"
    assert (row["freeTrial"], row["autoRenewing"], row["extra"]) == (True, False, '{"guType":"x"}')
    assert "billingPeriod" not in row


def test_optional_live_columns_are_omitted_when_undefined() -> None:
    """``userCancellationTimeMillis: ''`` (§12.13's v1 stub), unknown package, extra not built."""
    body = v1_body(userCancellationTimeMillis="", autoRenewing=None)
    row = to_live_subscription(TOKEN, "com.other", "sku", body, billing_period=None, extra=None)
    for column in ("cancellationTimestamp", "platform", "billingPeriod", "extra"):
        assert column not in row
    assert row["autoRenewing"] is False


def test_no_v1_body_is_retried() -> None:
    with pytest.raises(ProcessingError) as raised:
        to_live_subscription(TOKEN, LIVE, "sku", None, billing_period=None, extra="")
    assert (raised.value.message, raised.value.should_retry) == (
        "There was no data in the response from google",
        True,
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"startTimeMillis": "abc"}, "Unable to parse the startTimeMillis field 'abc'"),
        ({"expiryTimeMillis": None}, "Unable to parse the expiryTimeMillis field None"),
    ],
)
def test_an_unparsable_start_or_expiry_is_given_up_on(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ProcessingError) as raised:
        to_live_subscription(TOKEN, LIVE, "sku", v1_body(**changes), billing_period=None, extra="")
    assert (raised.value.message, raised.value.should_retry) == (message, False)


def test_numeric_millis_are_read_like_strings() -> None:
    row = to_live_subscription(
        TOKEN, LIVE, "sku", v1_body(startTimeMillis=1767261600123), billing_period=None, extra=""
    )
    assert row["startTimestamp"] == "2026-01-01T10:00:00.123Z"


# --- state_columns: from subscriptionsv2 --------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "status"),
    [
        ("SUBSCRIPTION_STATE_ACTIVE", "active"),
        ("SUBSCRIPTION_STATE_CANCELED", "active"),
        ("SUBSCRIPTION_STATE_IN_GRACE_PERIOD", "grace_period"),
        ("SUBSCRIPTION_STATE_ON_HOLD", "billing_retry"),
        ("SUBSCRIPTION_STATE_PENDING", "billing_retry"),
        ("SUBSCRIPTION_STATE_PAUSED", "paused"),
        ("SUBSCRIPTION_STATE_EXPIRED", "expired"),
        ("SUBSCRIPTION_STATE_PENDING_PURCHASE_CANCELED", "expired"),
    ],
)
def test_the_v2_state_maps_to_the_status(state: str, status: str) -> None:
    columns = state_columns(v2_body(subscriptionState=state), None, now=NOW, fetched_at=FETCHED)
    assert columns == {"status": status, "environment": "Production", "fetchedAt": "2026-01-20T08:29:59.005Z"}


@pytest.mark.parametrize(
    ("context", "status"),
    [
        ({"developerInitiatedCancellation": {}}, "revoked"),
        ({"systemInitiatedCancellation": {}}, "expired"),
        ({"userInitiatedCancellation": {"cancelTime": "2026-01-15T00:00:00Z"}}, "expired"),
        ({"replacementCancellation": {}}, "expired"),
    ],
)
def test_an_expiry_the_developer_caused_is_a_revocation(context: dict[str, Any], status: str) -> None:
    body = v2_body(subscriptionState="SUBSCRIPTION_STATE_EXPIRED", canceledStateContext=context)
    assert state_columns(body, None, now=NOW, fetched_at=FETCHED)["status"] == status


def test_a_developer_cancellation_before_expiry_keeps_access() -> None:
    body = v2_body(
        subscriptionState="SUBSCRIPTION_STATE_CANCELED",
        canceledStateContext={"developerInitiatedCancellation": {}},
    )
    assert state_columns(body, None, now=NOW, fetched_at=FETCHED)["status"] == "active"


@pytest.mark.parametrize(
    ("state", "status"),
    [
        ("SUBSCRIPTION_STATE_ACTIVE", "active"),
        ("SUBSCRIPTION_STATE_CANCELED", "active"),
        ("SUBSCRIPTION_STATE_EXPIRED", "refunded"),
        ("SUBSCRIPTION_STATE_ON_HOLD", "refunded"),
        ("SUBSCRIPTION_STATE_IN_GRACE_PERIOD", "refunded"),
        ("SUBSCRIPTION_STATE_PAUSED", "refunded"),
    ],
)
def test_after_a_voided_purchase_anything_but_active_is_refunded(state: str, status: str) -> None:
    body = v2_body(subscriptionState=state, canceledStateContext={"developerInitiatedCancellation": {}})
    assert state_columns(body, None, now=NOW, fetched_at=FETCHED, voided=True)["status"] == status


def test_an_unknown_v2_state_falls_back_to_the_v1_body() -> None:
    body = v2_body(subscriptionState="SUBSCRIPTION_STATE_UNSPECIFIED")
    assert state_columns(body, v1_body(), now=NOW, fetched_at=FETCHED)["status"] == "active"
    with pytest.raises(
        ValueError, match="unknown Google subscription state 'SUBSCRIPTION_STATE_UNSPECIFIED'"
    ):
        state_columns(body, None, now=NOW, fetched_at=FETCHED)


def test_the_v2_state_wins_over_the_v1_body() -> None:
    body = v2_body(subscriptionState="SUBSCRIPTION_STATE_ON_HOLD")
    assert state_columns(body, v1_body(), now=NOW, fetched_at=FETCHED)["status"] == "billing_retry"


def test_without_any_body_there_is_no_status() -> None:
    with pytest.raises(ValueError, match="no v1 body"):
        state_columns(None, None, now=NOW, fetched_at=FETCHED)


# --- state_columns: from the v1 API -----------------------------------------------------------------

PAST = "1768435200000"  # 2026-01-15T00:00:00.000Z, before NOW
FUTURE = "1769299200000"  # 2026-01-25T00:00:00.000Z, after NOW


@pytest.mark.parametrize(
    ("changes", "status"),
    [
        ({"expiryTimeMillis": FUTURE, "paymentState": 1}, "active"),
        ({"expiryTimeMillis": FUTURE, "paymentState": 2}, "active"),
        ({"expiryTimeMillis": FUTURE, "paymentState": 0}, "grace_period"),
        ({"expiryTimeMillis": FUTURE, "autoResumeTimeMillis": FUTURE}, "active"),
        ({"expiryTimeMillis": FUTURE, "cancelReason": 3}, "active"),
        ({"expiryTimeMillis": PAST, "autoResumeTimeMillis": FUTURE, "paymentState": 0}, "paused"),
        ({"expiryTimeMillis": PAST, "paymentState": 0}, "billing_retry"),
        ({"expiryTimeMillis": PAST, "paymentState": 0, "cancelReason": 3}, "billing_retry"),
        ({"expiryTimeMillis": PAST, "cancelReason": 3}, "revoked"),
        ({"expiryTimeMillis": PAST, "cancelReason": 0}, "expired"),
        ({"expiryTimeMillis": PAST, "cancelReason": 1}, "expired"),
        ({"expiryTimeMillis": PAST}, "expired"),
        ({"expiryTimeMillis": "1768897800000"}, "expired"),  # expires exactly at NOW
    ],
)
def test_the_v1_rules(changes: dict[str, Any], status: str) -> None:
    columns = state_columns(None, v1_body(**changes), now=NOW, fetched_at=FETCHED)
    assert columns == {"status": status, "environment": "Production", "fetchedAt": "2026-01-20T08:29:59.005Z"}


@pytest.mark.parametrize(("expiry", "status"), [(FUTURE, "active"), (PAST, "refunded")])
def test_a_voided_v1_subscription_is_refunded_once_it_has_no_access(expiry: str, status: str) -> None:
    body = v1_body(expiryTimeMillis=expiry, cancelReason=3)
    assert state_columns(None, body, now=NOW, fetched_at=FETCHED, voided=True)["status"] == status


def test_a_v1_body_without_expiry_is_given_up_on() -> None:
    with pytest.raises(ProcessingError, match="expiryTimeMillis"):
        state_columns(None, v1_body(expiryTimeMillis=None), now=NOW, fetched_at=FETCHED)


# --- state_columns: environment, linked token, fetchedAt --------------------------------------------


@pytest.mark.parametrize(
    ("v2", "v1", "environment"),
    [
        (v2_body(testPurchase={}), None, "Sandbox"),
        (v2_body(), None, "Production"),
        (None, v1_body(purchaseType=0), "Sandbox"),
        (None, v1_body(purchaseType=1), "Production"),
        (None, v1_body(), "Production"),
        (v2_body(), v1_body(purchaseType=0), "Sandbox"),
    ],
    ids=["v2-test", "v2-real", "v1-test", "v1-promo", "v1-real", "v1-test-beside-v2"],
)
def test_a_test_purchase_is_the_sandbox(
    v2: dict[str, Any] | None, v1: dict[str, Any] | None, environment: str
) -> None:
    assert state_columns(v2, v1, now=NOW, fetched_at=FETCHED)["environment"] == environment


@pytest.mark.parametrize(
    ("v2", "v1", "linked"),
    [
        (v2_body(linkedPurchaseToken="old-v2"), v1_body(linkedPurchaseToken="old-v1"), "old-v2"),
        (v2_body(), v1_body(linkedPurchaseToken="old-v1"), "old-v1"),
        (None, v1_body(linkedPurchaseToken="old-v1"), "old-v1"),
        (v2_body(linkedPurchaseToken=""), None, None),
        (v2_body(), v1_body(), None),
    ],
)
def test_the_linked_purchase_token_is_kept_when_google_names_one(
    v2: dict[str, Any] | None, v1: dict[str, Any] | None, linked: str | None
) -> None:
    columns = state_columns(v2, v1, now=NOW, fetched_at=FETCHED)
    assert columns.get("linkedPurchaseToken") == linked
    assert list(columns)[:3] == ["status", "environment", "fetchedAt"]


def test_fetched_at_is_when_the_fetch_started_not_now() -> None:
    later = NOW + timedelta(hours=1)
    columns = state_columns(v2_body(), None, now=later, fetched_at=FETCHED)
    assert columns["fetchedAt"] == "2026-01-20T08:29:59.005Z"
