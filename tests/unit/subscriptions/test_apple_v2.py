"""V2 notifications and Server API answers as rows (``domain/subscriptions/apple_v2.py``), and the
state columns added to V1 rows (``apple_receipts.state_columns``).

Why these tests: the event row of a V2 notification must land on the same key when Apple retries
it, and the Subscription row must say the same thing (status, dates, trial, TTL, platform,
period, extra) whether it came from the Server API or from verifyReceipt. Inputs are plain dicts
with Apple's field names, as the adapter hands them over after verification; every expected
value is written out, so a change of mapping shows up here.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from supporterflow.domain.subscriptions.apple_receipts import state_columns
from supporterflow.domain.subscriptions.apple_v2 import (
    AppStoreSubscription,
    SignedNotification,
    fetch_reference,
    to_v2_event,
    to_v2_subscription,
)
from supporterflow.domain.subscriptions.apple_validation import (
    AppleValidationResponse,
    to_sensible_payload_format,
)

BUNDLE = "uk.co.guardian.iphone2"
FEAST_BUNDLE = "uk.co.guardian.Feast"
PRODUCT = "uk.co.guardian.gla.1month"
OTID = "2000000100"
UUID = "7b2d1c4e-0f1a-4c3b-9a55-3e1f0c6d8b21"
EXTRA_PREFIX = '{"guType":"apple-extra-2025-04-29",'

NOW = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
NOW_TTL = 1846119846  # 2028-07-02T03:04:05.678Z (NOW + 30 months), seconds rounded up
SIGNED = 1764577805250  # 2025-12-01T08:30:05.250Z
ORIGINAL_PURCHASE = 1759307400000  # 2025-10-01T08:30:00.000Z
PURCHASE = 1764577800000  # 2025-12-01T08:30:00.000Z
EXPIRES = 1767256200000  # 2026-01-01T08:30:00.000Z
EXPIRES_TTL = 1846053000  # 2028-07-01T08:30:00.000Z (EXPIRES + 30 months)


def transaction(**changes: Any) -> dict[str, Any]:
    """A ``JWSTransactionDecodedPayload`` of a renewal; ``None`` in ``changes`` removes a field."""
    payload: dict[str, Any] = {
        "transactionId": "2000000111",
        "originalTransactionId": OTID,
        "webOrderLineItemId": "2000000222",
        "bundleId": BUNDLE,
        "productId": PRODUCT,
        "subscriptionGroupIdentifier": "21000000",
        "purchaseDate": PURCHASE,
        "originalPurchaseDate": ORIGINAL_PURCHASE,
        "expiresDate": EXPIRES,
        "quantity": 1,
        "type": "Auto-Renewable Subscription",
        "inAppOwnershipType": "PURCHASED",
        "signedDate": SIGNED,
        "environment": "Sandbox",
        "transactionReason": "RENEWAL",
        "storefront": "GBR",
        "storefrontId": "143444",
        "price": 4990,
        "currency": "GBP",
    }
    payload.update(changes)
    return {key: value for key, value in payload.items() if value is not None}


def renewal(**changes: Any) -> dict[str, Any]:
    """A ``JWSRenewalInfoDecodedPayload``: auto-renew on, not in billing retry."""
    payload: dict[str, Any] = {
        "originalTransactionId": OTID,
        "autoRenewProductId": PRODUCT,
        "productId": PRODUCT,
        "autoRenewStatus": 1,
        "isInBillingRetryPeriod": False,
        "signedDate": SIGNED,
        "environment": "Sandbox",
        "renewalDate": EXPIRES,
    }
    payload.update(changes)
    return payload


def notification(
    notification_type: str = "DID_RENEW",
    subtype: str | None = None,
    *,
    tx: dict[str, Any] | None = None,
    renewal_info: dict[str, Any] | None = None,
    bundle_id: str = BUNDLE,
    signed_date: int | None = SIGNED,
) -> SignedNotification:
    """A verified notification as the adapter returns it: the signed strings stay in ``data``,
    their decoded payloads travel beside them."""
    data: dict[str, Any] = {"bundleId": bundle_id, "bundleVersion": "1", "environment": "Sandbox"}
    if tx is not None:
        data["signedTransactionInfo"] = "eyJ.transaction.sig"
    if renewal_info is not None:
        data["signedRenewalInfo"] = "eyJ.renewal.sig"
    data["status"] = 1
    payload: dict[str, Any] = {
        "notificationType": notification_type,
        "notificationUUID": UUID,
        "data": data,
        "version": "2.0",
    }
    if signed_date is not None:
        payload["signedDate"] = signed_date
    if subtype is not None:
        payload["subtype"] = subtype
    return SignedNotification(payload, tx, renewal_info)


# --- to_v2_event ---------------------------------------------------------------------------------


def test_the_event_of_a_renewal_is_keyed_by_signed_date_and_carries_the_decoded_payload() -> None:
    """The whole row: key from ``signedDate`` (not ``now``) so that Apple's retries land on one
    row; TTL from ``now`` as for V1; the signed strings replaced by what they decoded to."""
    tx, info = transaction(), renewal()
    event = to_v2_event(notification("DID_RENEW", tx=tx, renewal_info=info), now=NOW)
    assert event == {
        "subscriptionId": OTID,
        "timestampAndType": "2025-12-01T08:30:05.250Z|DID_RENEW",
        "date": "2025-12-01",
        "timestamp": "2025-12-01T08:30:05.250Z",
        "eventType": "DID_RENEW",
        "platform": "ios",
        "appId": BUNDLE,
        "freeTrial": False,
        "googlePayload": None,
        "applePayload": {
            "notificationType": "DID_RENEW",
            "notificationUUID": UUID,
            "data": {
                "bundleId": BUNDLE,
                "bundleVersion": "1",
                "environment": "Sandbox",
                "status": 1,
                "transactionInfo": tx,
                "renewalInfo": info,
            },
            "version": "2.0",
            "signedDate": SIGNED,
        },
        "ttl": NOW_TTL,
        "promotional_offer_id": None,
        "promotional_offer_name": None,
        "product_id": PRODUCT,
        "purchase_date_ms": PURCHASE,
        "expires_date_ms": EXPIRES,
        "extra": event["extra"],
        "notificationUUID": UUID,
    }
    assert event["extra"].startswith(EXTRA_PREFIX)
    assert json.loads(event["extra"]) == {"guType": "apple-extra-2025-04-29", **tx}


def test_building_the_event_leaves_the_verified_notification_as_it_was() -> None:
    """The adapter's payload is reused for logs and the fetch reference: it must not be rewritten."""
    verified = notification(tx=transaction(), renewal_info=renewal())
    before = copy.deepcopy(verified.payload)
    to_v2_event(verified, now=NOW)
    assert verified.payload == before
    assert verified.payload["data"]["signedTransactionInfo"] == "eyJ.transaction.sig"


def test_the_subtype_is_stored_only_when_apple_sends_one() -> None:
    with_subtype = to_v2_event(notification("SUBSCRIBED", "RESUBSCRIBE", tx=transaction()), now=NOW)
    without = to_v2_event(notification("DID_RENEW", tx=transaction()), now=NOW)
    assert with_subtype["subtype"] == "RESUBSCRIBE"
    assert with_subtype["timestampAndType"] == "2025-12-01T08:30:05.250Z|SUBSCRIBED"
    assert "subtype" not in without


@pytest.mark.parametrize(
    ("changes", "free_trial", "offer_id"),
    [
        ({"offerType": 1, "offerDiscountType": "FREE_TRIAL"}, True, None),
        ({"offerType": 1, "offerDiscountType": "PAY_AS_YOU_GO"}, True, None),
        ({"offerType": 2, "offerIdentifier": "winback.1"}, False, "winback.1"),
        ({"offerType": 3, "offerIdentifier": "CODE2025"}, False, "CODE2025"),
        ({}, False, None),
    ],
)
def test_an_introductory_offer_is_a_free_trial_and_a_promotional_offer_keeps_its_id(
    changes: dict[str, Any], free_trial: bool, offer_id: str | None
) -> None:
    """``offerType`` 1 is an introductory offer, which V1 already counted as a trial (§3.3)."""
    event = to_v2_event(notification(tx=transaction(**changes)), now=NOW)
    assert event["freeTrial"] is free_trial
    assert event["promotional_offer_id"] == offer_id
    assert event["promotional_offer_name"] is None


def test_a_test_notification_is_kept_under_its_uuid_with_empty_transaction_columns() -> None:
    """``TEST`` (and summaries) carry no transaction: the row is still written so that the
    notification is recorded, keyed by its ``notificationUUID``."""
    event = to_v2_event(notification("TEST", signed_date=SIGNED), now=NOW)
    assert event == {
        "subscriptionId": UUID,
        "timestampAndType": "2025-12-01T08:30:05.250Z|TEST",
        "date": "2025-12-01",
        "timestamp": "2025-12-01T08:30:05.250Z",
        "eventType": "TEST",
        "platform": "ios",
        "appId": BUNDLE,
        "freeTrial": False,
        "googlePayload": None,
        "applePayload": notification("TEST").payload,
        "ttl": NOW_TTL,
        "promotional_offer_id": None,
        "promotional_offer_name": None,
        "product_id": "",
        "purchase_date_ms": 0,
        "expires_date_ms": 0,
        "extra": "",
        "notificationUUID": UUID,
    }


def test_without_a_signed_date_the_event_is_keyed_by_now() -> None:
    event = to_v2_event(notification("TEST", signed_date=None), now=NOW)
    assert event["timestampAndType"] == "2026-01-02T03:04:05.678Z|TEST"
    assert (event["date"], event["timestamp"]) == ("2026-01-02", "2026-01-02T03:04:05.678Z")


@pytest.mark.parametrize(
    ("bundle_id", "platform"),
    [(BUNDLE, "ios"), (FEAST_BUNDLE, "ios-feast"), ("uk.co.guardian.feast", "unknown"), ("com.x", "unknown")],
)
def test_the_event_platform_comes_from_the_bundle_id_case_sensitively(bundle_id: str, platform: str) -> None:
    event = to_v2_event(notification(tx=transaction(bundleId=bundle_id), bundle_id=bundle_id), now=NOW)
    assert (event["platform"], event["appId"]) == (platform, bundle_id)


# --- fetch_reference -----------------------------------------------------------------------------


def test_the_fetch_reference_names_the_subscription_and_its_bundle_in_that_order() -> None:
    reference = fetch_reference(notification(tx=transaction(), renewal_info=renewal()))
    assert reference == {"originalTransactionId": OTID, "bundleId": BUNDLE}
    assert json.dumps(reference, separators=(",", ":")) == (
        '{"originalTransactionId":"2000000100","bundleId":"uk.co.guardian.iphone2"}'
    )


def test_a_numeric_original_transaction_id_is_sent_as_a_string() -> None:
    assert fetch_reference(notification(tx=transaction(originalTransactionId=2000000100))) == {
        "originalTransactionId": "2000000100",
        "bundleId": BUNDLE,
    }


@pytest.mark.parametrize(
    "verified",
    [
        notification("TEST"),
        notification(tx={}),
        notification(tx=transaction(originalTransactionId=None)),
        notification(tx=transaction(bundleId=None)),
        notification(tx=transaction(originalTransactionId="")),
    ],
    ids=["no-transaction", "empty-transaction", "no-original-id", "no-bundle", "empty-original-id"],
)
def test_nothing_is_fetched_for_a_notification_without_a_subscription(verified: SignedNotification) -> None:
    assert fetch_reference(verified) is None


# --- to_v2_subscription --------------------------------------------------------------------------


def state(
    status: int = 1,
    *,
    tx: dict[str, Any] | None = None,
    renewal_info: dict[str, Any] | None = None,
    bundle_id: str = BUNDLE,
    environment: str = "Sandbox",
) -> AppStoreSubscription:
    return AppStoreSubscription(
        status=status,
        transaction=tx if tx is not None else transaction(),
        renewal=renewal_info,
        environment=environment,
        bundle_id=bundle_id,
    )


def test_the_subscription_row_of_an_active_subscription() -> None:
    tx, info = transaction(), renewal()
    row = to_v2_subscription(state(1, tx=tx, renewal_info=info), now=NOW)
    assert row == {
        "subscriptionId": OTID,
        "startTimestamp": "2025-10-01T08:30:00.000Z",
        "endTimestamp": "2026-01-01T08:30:00.000Z",
        "autoRenewing": True,
        "productId": PRODUCT,
        "platform": "ios",
        "freeTrial": False,
        "billingPeriod": "P1M",
        "googlePayload": None,
        "applePayload": {
            "status": 1,
            "environment": "Sandbox",
            "bundleId": BUNDLE,
            "transactionInfo": tx,
            "renewalInfo": info,
        },
        "ttl": EXPIRES_TTL,
        "extra": row["extra"],
        "status": "active",
        "environment": "Sandbox",
        "bundleId": BUNDLE,
        "fetchedAt": "2025-12-01T08:30:05.250Z",
    }
    assert row["extra"].startswith(EXTRA_PREFIX)
    assert json.loads(row["extra"]) == {"guType": "apple-extra-2025-04-29", **tx}
    assert list(row)[:3] == ["subscriptionId", "startTimestamp", "endTimestamp"]


@pytest.mark.parametrize(
    ("status", "expected"),
    [(1, "active"), (2, "expired"), (3, "billing_retry"), (4, "grace_period"), (5, "revoked")],
)
def test_the_status_code_maps_to_the_normalised_status(status: int, expected: str) -> None:
    row = to_v2_subscription(state(status), now=NOW)
    assert row["status"] == expected
    assert row["applePayload"]["status"] == status
    assert "cancellationTimestamp" not in row


@pytest.mark.parametrize("status", [1, 2, 5])
@pytest.mark.parametrize("reason", [0, 1])
def test_a_revocation_with_a_reason_is_a_refund_whatever_the_status_code(status: int, reason: int) -> None:
    """Apple sets ``revocationReason`` only when it refunded the transaction."""
    tx = transaction(revocationDate=1766224800000, revocationReason=reason)  # 2025-12-20T10:00:00Z
    row = to_v2_subscription(state(status, tx=tx), now=NOW)
    assert row["status"] == "refunded"
    assert row["cancellationTimestamp"] == "2025-12-20T10:00:00.000Z"
    assert list(row)[:4] == ["subscriptionId", "startTimestamp", "endTimestamp", "cancellationTimestamp"]


def test_a_revocation_without_a_reason_is_revoked() -> None:
    """Family Sharing access withdrawn: revoked, not refunded."""
    row = to_v2_subscription(state(5, tx=transaction(revocationDate=1766224800000)), now=NOW)
    assert (row["status"], row["cancellationTimestamp"]) == ("revoked", "2025-12-20T10:00:00.000Z")


def test_an_unknown_status_code_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown App Store subscription status 9"):
        to_v2_subscription(state(9), now=NOW)


@pytest.mark.parametrize("missing", ["expiresDate", "originalPurchaseDate"])
def test_a_transaction_without_its_dates_is_refused(missing: str) -> None:
    with pytest.raises(ValueError, match="no expiresDate or originalPurchaseDate"):
        to_v2_subscription(state(tx=transaction(**{missing: None})), now=NOW)


@pytest.mark.parametrize(("offer_type", "free_trial"), [(1, True), (2, False), (3, False), (None, False)])
def test_the_free_trial_flag_comes_from_an_introductory_offer(
    offer_type: int | None, free_trial: bool
) -> None:
    row = to_v2_subscription(state(tx=transaction(offerType=offer_type)), now=NOW)
    assert row["freeTrial"] is free_trial


def test_fetched_at_is_apples_signed_date_else_now() -> None:
    """Apple's date orders two fetches of one subscription; ``now`` only when Apple sent none."""
    assert to_v2_subscription(state(), now=NOW)["fetchedAt"] == "2025-12-01T08:30:05.250Z"
    unsigned = to_v2_subscription(state(tx=transaction(signedDate=None)), now=NOW)
    assert unsigned["fetchedAt"] == "2026-01-02T03:04:05.678Z"


def test_the_ttl_is_expiry_plus_thirty_months_in_seconds_rounded_up() -> None:
    """2019-01-01T00:00:00.032Z + 30 months = 2021-07-01T00:00:00.032Z -> 1625097601 (ceil)."""
    row = to_v2_subscription(state(tx=transaction(expiresDate=1546300800032)), now=NOW)
    assert row["ttl"] == 1625097601
    assert row["endTimestamp"] == "2019-01-01T00:00:00.032Z"
    # JavaScript's month overflow: Aug 31 + 30 months is Mar 3 (2026-02 has 28 days).
    overflow = to_v2_subscription(state(tx=transaction(expiresDate=1693440000000)), now=NOW)
    assert overflow["ttl"] == 1772496000  # 2026-03-03T00:00:00.000Z


@pytest.mark.parametrize(
    ("product_id", "period"),
    [
        ("uk.co.guardian.gla.1month", "P1M"),
        ("uk.co.guardian.gla.6months", "P6M"),
        ("uk.co.guardian.Feast.yearly", "P1Y"),
        ("uk.co.guardain.Feast.yearly.discounted", "P1Y"),
        ("uk.co.guardian.unknown", None),
    ],
)
def test_the_billing_period_comes_from_the_product_table(product_id: str, period: str | None) -> None:
    row = to_v2_subscription(state(tx=transaction(productId=product_id)), now=NOW)
    assert row["productId"] == product_id
    assert row.get("billingPeriod") == period
    assert ("billingPeriod" in row) is (period is not None)


@pytest.mark.parametrize(
    ("bundle_id", "platform"), [(BUNDLE, "ios"), (FEAST_BUNDLE, "ios-feast"), ("uk.co.guardian.feast", None)]
)
def test_the_platform_comes_from_the_bundle_and_is_omitted_when_unknown(
    bundle_id: str, platform: str | None
) -> None:
    row = to_v2_subscription(state(bundle_id=bundle_id), now=NOW)
    assert row.get("platform") == platform
    assert ("platform" in row) is (platform is not None)
    assert row["bundleId"] == row["applePayload"]["bundleId"] == bundle_id


@pytest.mark.parametrize(
    ("renewal_info", "auto_renewing"),
    [(renewal(), True), (renewal(autoRenewStatus=0), False), (None, False)],
    ids=["on", "off", "no-renewal-info"],
)
def test_auto_renewing_comes_from_the_renewal_info(
    renewal_info: dict[str, Any] | None, auto_renewing: bool
) -> None:
    row = to_v2_subscription(state(renewal_info=renewal_info), now=NOW)
    assert row["autoRenewing"] is auto_renewing
    assert row["applePayload"]["renewalInfo"] == renewal_info


def test_the_environment_is_the_answers() -> None:
    row = to_v2_subscription(state(environment="Production"), now=NOW)
    assert row["environment"] == row["applePayload"]["environment"] == "Production"


# --- state_columns (V1 rows) ---------------------------------------------------------------------

V1_OTID = "1000000555"
REQUEST_MS = "1767600000000"  # 2026-01-05T08:00:00.000Z
V1_NOW = datetime(2026, 1, 10, tzinfo=UTC)
PAST_EXPIRY = "1767256200000"  # 2026-01-01T08:30:00.000Z, before V1_NOW
FUTURE_EXPIRY = "1768467600000"  # 2026-01-15T09:00:00.000Z, after V1_NOW


def v1_validation(
    *,
    expires_date_ms: str = FUTURE_EXPIRY,
    pending: list[dict[str, str]] | None = None,
    environment: str | None = "Production",
    request_date_ms: str | None = REQUEST_MS,
    bundle_id: str | None = BUNDLE,
    **info: str,
) -> AppleValidationResponse:
    """A status-0 verifyReceipt answer with one transaction, through ``toSensiblePayloadFormat``."""
    receipt_info = {
        "original_transaction_id": V1_OTID,
        "transaction_id": "1000000999",
        "product_id": PRODUCT,
        "original_purchase_date_ms": "1759307400000",
        "purchase_date_ms": "1764577800000",
        "expires_date_ms": expires_date_ms,
        "is_trial_period": "false",
        **info,
    }
    if bundle_id is not None:
        receipt_info["bundle_id"] = bundle_id
    receipt: dict[str, Any] = {"receipt_type": "Production"}
    if request_date_ms is not None:
        receipt["request_date_ms"] = request_date_ms
    response: dict[str, Any] = {
        "status": 0,
        "receipt": receipt,
        "latest_receipt": "cmVjZWlwdA==",
        "latest_receipt_info": [receipt_info],
        "pending_renewal_info": pending if pending is not None else [],
    }
    if environment is not None:
        response["environment"] = environment
    [validation] = to_sensible_payload_format(response, "cmVjZWlwdA==")
    return validation


def pending_renewal(original_transaction_id: str = V1_OTID, **fields: str) -> dict[str, str]:
    return {
        "original_transaction_id": original_transaction_id,
        "product_id": PRODUCT,
        "auto_renew_status": "1",
        **fields,
    }


def test_the_state_columns_of_an_active_receipt() -> None:
    columns = state_columns(v1_validation(pending=[pending_renewal()]), now=V1_NOW)
    assert columns == {
        "status": "active",
        "environment": "Production",
        "bundleId": BUNDLE,
        "fetchedAt": "2026-01-05T08:00:00.000Z",
    }


@pytest.mark.parametrize(
    ("renewal_fields", "status"),
    [
        ({"is_in_billing_retry_period": "1"}, "billing_retry"),
        (
            {"is_in_billing_retry_period": "1", "grace_period_expires_date_ms": "1768003200001"},
            "grace_period",
        ),  # grace ends 2026-01-10T00:00:00.001Z, just after V1_NOW
        (
            {"is_in_billing_retry_period": "1", "grace_period_expires_date_ms": "1768003200000"},
            "billing_retry",
        ),  # grace ended exactly at V1_NOW
        ({"is_in_billing_retry_period": "0", "grace_period_expires_date_ms": "1768467600000"}, "expired"),
        ({}, "expired"),
    ],
)
def test_billing_retry_and_grace_come_from_the_pending_renewal_info(
    renewal_fields: dict[str, str], status: str
) -> None:
    validation = v1_validation(expires_date_ms=PAST_EXPIRY, pending=[pending_renewal(**renewal_fields)])
    assert state_columns(validation, now=V1_NOW)["status"] == status


def test_the_pending_renewal_info_of_another_subscription_is_ignored() -> None:
    """A receipt lists every subscription of the Apple account: another one's billing retry
    says nothing about this one."""
    other = pending_renewal("1000000777", is_in_billing_retry_period="1")
    validation = v1_validation(expires_date_ms=PAST_EXPIRY, pending=[other])
    assert state_columns(validation, now=V1_NOW)["status"] == "expired"


def test_the_last_pending_renewal_info_of_the_subscription_wins() -> None:
    entries = [
        pending_renewal(is_in_billing_retry_period="0"),
        pending_renewal(is_in_billing_retry_period="1"),
    ]
    validation = v1_validation(expires_date_ms=PAST_EXPIRY, pending=entries)
    assert state_columns(validation, now=V1_NOW)["status"] == "billing_retry"


@pytest.mark.parametrize("expires_date_ms", [PAST_EXPIRY, FUTURE_EXPIRY])
def test_a_cancellation_date_is_a_refund_even_before_expiry(expires_date_ms: str) -> None:
    validation = v1_validation(
        expires_date_ms=expires_date_ms,
        pending=[pending_renewal(is_in_billing_retry_period="1")],
        cancellation_date_ms="1766224800000",
    )
    assert state_columns(validation, now=V1_NOW)["status"] == "refunded"


def test_the_environment_and_bundle_are_omitted_when_the_answer_has_none() -> None:
    columns = state_columns(v1_validation(environment=None, bundle_id=None), now=V1_NOW)
    assert columns == {"status": "active", "fetchedAt": "2026-01-05T08:00:00.000Z"}


@pytest.mark.parametrize("environment", ["Sandbox", "Production"])
def test_the_environment_is_verify_receipts(environment: str) -> None:
    assert state_columns(v1_validation(environment=environment), now=V1_NOW)["environment"] == environment


def test_fetched_at_is_now_when_the_receipt_has_no_request_date() -> None:
    columns = state_columns(v1_validation(request_date_ms=None), now=V1_NOW)
    assert columns["fetchedAt"] == "2026-01-10T00:00:00.000Z"
