"""Google Play RTDN push parsing (spec §4.1, §12.1 cases 2-3) and the SubscriptionEvent rows
(``domain/subscriptions/google.py``: §4.2, §1.4, §1.6, §12.1 case 1, §12.11 case 4, §12.16).

Why these tests: the event row of a subscription notification must be byte-identical to what the
original stored, a Pub/Sub redelivery must be recognisable (``messageId``), and every envelope the
handler cannot use must be a 400 that says why. Inputs are the envelopes Pub/Sub pushes, with
Google's field names; every expected value is written out.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from supporterflow.domain.subscriptions.google import (
    SUBSCRIPTION_NOTIFICATION_TYPES,
    InvalidNotification,
    PushMessage,
    event_type,
    fetch_reference,
    parse_push,
    to_google_event,
)

EVENT_TIME_MS = "1503349566168"  # 2017-08-21T21:06:06.168Z
EVENT_TTL = 1582319167  # 2020-02-21T21:06:06.168Z (+30 months), seconds rounded up
PUBSUB_SUBSCRIPTION = "projects/guardian/subscriptions/mobile-purchases"


def subscription_notification(
    package_name: str = "com.guardian.debug", sku: str = "my.sku", notification_type: Any = 4
) -> dict[str, Any]:
    """The decoded notification of ``pubsub.test.ts`` (spec §12.1 case 1)."""
    return {
        "version": "1.0",
        "packageName": package_name,
        "eventTimeMillis": EVENT_TIME_MS,
        "subscriptionNotification": {
            "version": "1.0",
            "notificationType": notification_type,
            "purchaseToken": "PURCHASE_TOKEN",
            "subscriptionId": sku,
        },
    }


def notification_with(key: str, inner: Any, package_name: str = "com.guardian.debug") -> dict[str, Any]:
    return {"version": "1.0", "packageName": package_name, "eventTimeMillis": EVENT_TIME_MS, key: inner}


def encode(value: Any) -> str:
    return base64.b64encode(json.dumps(value).encode()).decode()


def envelope(notification: Any, message_id: str = "123", **message: Any) -> dict[str, Any]:
    """A Pub/Sub push body: both spellings of the ids, as Pub/Sub sends them."""
    body: dict[str, Any] = {
        "data": encode(notification),
        "messageId": message_id,
        "message_id": message_id,
        "publishTime": "2019-05-24T15:06:47.701Z",
        "publish_time": "2019-05-24T15:06:47.701Z",
    }
    body.update(message)
    return {"message": body, "subscription": PUBSUB_SUBSCRIPTION}


# --- §12.1 / §12.11: the subscription notification ----------------------------------------------


def test_a_subscription_notification_becomes_the_original_event_row() -> None:
    """§12.1 case 1: metadata ``{freeTrial: true}``, ``shouldBuildExtra = false``."""
    message = parse_push(envelope(subscription_notification()))
    assert message == PushMessage(
        message_id="123",
        publish_time="2019-05-24T15:06:47.701Z",
        subscription=PUBSUB_SUBSCRIPTION,
        kind="subscription",
        notification=subscription_notification(),
    )
    event = to_google_event(message, free_trial=True, extra="")
    assert event == {
        "subscriptionId": "PURCHASE_TOKEN",
        "timestampAndType": "2017-08-21T21:06:06.168Z|SUBSCRIPTION_PURCHASED",
        "date": "2017-08-21",
        "timestamp": "2017-08-21T21:06:06.168Z",
        "eventType": "SUBSCRIPTION_PURCHASED",
        "platform": "android",
        "appId": "com.guardian.debug",
        "freeTrial": True,
        "googlePayload": subscription_notification(),
        "applePayload": None,
        "ttl": EVENT_TTL,
        "promotional_offer_id": None,
        "promotional_offer_name": None,
        "product_id": "my.sku",
        "extra": "",
        "messageId": "123",
    }
    assert "purchase_date_ms" not in event
    assert "expires_date_ms" not in event


def test_the_fetch_reference_is_the_originals_message_byte_for_byte() -> None:
    """§12.1 case 1: the SQS body ``{packageName, purchaseToken, subscriptionId}`` in that order."""
    reference = fetch_reference(parse_push(envelope(subscription_notification())))
    assert json.dumps(reference, separators=(",", ":")) == (
        '{"packageName":"com.guardian.debug","purchaseToken":"PURCHASE_TOKEN","subscriptionId":"my.sku"}'
    )


def test_a_feast_subscription_notification_becomes_the_original_feast_event_row() -> None:
    """§12.11 cases 4 and 5: the Feast pubsub never builds the extra."""
    notification = subscription_notification("uk.co.guardian.feast", "uk.co.guardian.feast.access.test")
    message = parse_push(envelope(notification))
    assert to_google_event(message, free_trial=True) == {
        "subscriptionId": "PURCHASE_TOKEN",
        "timestampAndType": "2017-08-21T21:06:06.168Z|SUBSCRIPTION_PURCHASED",
        "date": "2017-08-21",
        "timestamp": "2017-08-21T21:06:06.168Z",
        "eventType": "SUBSCRIPTION_PURCHASED",
        "platform": "android-feast",
        "appId": "uk.co.guardian.feast",
        "freeTrial": True,
        "googlePayload": notification,
        "applePayload": None,
        "ttl": EVENT_TTL,
        "promotional_offer_id": None,
        "promotional_offer_name": None,
        "product_id": "uk.co.guardian.feast.access.test",
        "extra": "",
        "messageId": "123",
    }
    assert fetch_reference(message) == {
        "packageName": "uk.co.guardian.feast",
        "purchaseToken": "PURCHASE_TOKEN",
        "subscriptionId": "uk.co.guardian.feast.access.test",
    }


def test_the_live_extra_and_offer_id_are_stored_as_given() -> None:
    extra = '{"guType":"google-extra-2025-06-26"}'
    message = parse_push(envelope(subscription_notification("com.guardian")))
    event = to_google_event(message, free_trial=False, extra=extra, promotional_offer_id="intro-offer")
    assert (event["extra"], event["promotional_offer_id"], event["freeTrial"]) == (
        extra,
        "intro-offer",
        False,
    )


def test_free_trial_is_omitted_when_the_metadata_lookup_failed() -> None:
    event = to_google_event(parse_push(envelope(subscription_notification())), free_trial=None)
    assert "freeTrial" not in event
    assert list(event)[6:8] == ["appId", "googlePayload"]


def test_an_unknown_package_is_the_unknown_platform() -> None:
    event = to_google_event(parse_push(envelope(subscription_notification("com.other"))), free_trial=None)
    assert (event["platform"], event["appId"]) == ("unknown", "com.other")


def test_the_stored_payload_is_a_copy_of_the_parsed_notification() -> None:
    message = parse_push(envelope(subscription_notification()))
    event = to_google_event(message, free_trial=None)
    event["googlePayload"]["subscriptionNotification"]["purchaseToken"] = "changed"
    assert message.notification["subscriptionNotification"]["purchaseToken"] == "PURCHASE_TOKEN"


# --- §12.16: notification type mapping ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "name"),
    [
        (1, "SUBSCRIPTION_RECOVERED"),
        (2, "SUBSCRIPTION_RENEWED"),
        (3, "SUBSCRIPTION_CANCELED"),
        (4, "SUBSCRIPTION_PURCHASED"),
        (5, "SUBSCRIPTION_ON_HOLD"),
        (6, "SUBSCRIPTION_IN_GRACE_PERIOD"),
        (7, "SUBSCRIPTION_RESTARTED"),
        (8, "SUBSCRIPTION_PRICE_CHANGE_CONFIRMED"),
        (9, "SUBSCRIPTION_DEFERRED"),
        (10, "SUBSCRIPTION_PAUSED"),
        (11, "SUBSCRIPTION_PAUSE_SCHEDULE_CHANGED"),
        (12, "SUBSCRIPTION_REVOKED"),
        (13, "SUBSCRIPTION_EXPIRED"),
        (17, "SUBSCRIPTION_ITEMS_CHANGED"),
        (18, "SUBSCRIPTION_CANCELLATION_SCHEDULED"),
        (19, "SUBSCRIPTION_PRICE_CHANGE_UPDATED"),
        (20, "SUBSCRIPTION_PENDING_PURCHASE_CANCELED"),
        (22, "SUBSCRIPTION_PRICE_STEP_UP_CONSENT_UPDATED"),
        (4.0, "SUBSCRIPTION_PURCHASED"),
        (14, "14"),
        (21, "21"),
        (0, "0"),
        (99, "99"),
        (14.5, "14.5"),
    ],
)
def test_notification_types_map_to_names_and_unmapped_codes_to_their_number(
    code: int | float, name: str
) -> None:
    assert event_type(code) == name


def test_the_mapping_is_googles_full_list() -> None:
    assert sorted(SUBSCRIPTION_NOTIFICATION_TYPES) == [*range(1, 14), 17, 18, 19, 20, 22]


def test_an_unmapped_code_is_stored_and_fetched_under_its_number() -> None:
    message = parse_push(envelope(subscription_notification(notification_type=14)))
    event = to_google_event(message, free_trial=None)
    assert (event["eventType"], event["timestampAndType"]) == ("14", "2017-08-21T21:06:06.168Z|14")
    assert fetch_reference(message) is not None


# --- the other kinds -----------------------------------------------------------------------------------

VOIDED = {"purchaseToken": "VOIDED_TOKEN", "orderId": "GS.0000-0000-0000", "productType": 1, "refundType": 1}


def test_a_voided_purchase_parses_and_is_fetched_again_without_a_sku() -> None:
    """§12.1 case 3 (the original answered 200 and stored nothing); refunds are now recorded."""
    message = parse_push(envelope(notification_with("voidedPurchaseNotification", VOIDED)))
    assert message.kind == "voided"
    assert fetch_reference(message) == {
        "packageName": "com.guardian.debug",
        "purchaseToken": "VOIDED_TOKEN",
        "voided": True,
    }
    event = to_google_event(message, free_trial=None)
    assert event == {
        "subscriptionId": "VOIDED_TOKEN",
        "timestampAndType": "2017-08-21T21:06:06.168Z|VOIDED_PURCHASE",
        "date": "2017-08-21",
        "timestamp": "2017-08-21T21:06:06.168Z",
        "eventType": "VOIDED_PURCHASE",
        "platform": "android",
        "appId": "com.guardian.debug",
        "googlePayload": notification_with("voidedPurchaseNotification", VOIDED),
        "applePayload": None,
        "ttl": EVENT_TTL,
        "promotional_offer_id": None,
        "promotional_offer_name": None,
        "product_id": "",
        "extra": "",
        "messageId": "123",
    }


def test_a_voided_one_time_purchase_is_not_fetched() -> None:
    inner = {**VOIDED, "productType": 2}
    assert (
        fetch_reference(parse_push(envelope(notification_with("voidedPurchaseNotification", inner)))) is None
    )


def test_a_test_notification_is_accepted_and_kept_under_its_message_id() -> None:
    """The original answered 400 (spec §13.3.1), so Pub/Sub redelivered it forever."""
    message = parse_push(envelope(notification_with("testNotification", {"version": "1.0"}), "9876"))
    assert message.kind == "test"
    assert fetch_reference(message) is None
    event = to_google_event(message, free_trial=None)
    assert (event["subscriptionId"], event["eventType"], event["product_id"], event["messageId"]) == (
        "9876",
        "TEST_NOTIFICATION",
        "",
        "9876",
    )
    assert event["timestampAndType"] == "2017-08-21T21:06:06.168Z|TEST_NOTIFICATION"


@pytest.mark.parametrize(
    ("code", "name"), [(1, "ONE_TIME_PRODUCT_PURCHASED"), (2, "ONE_TIME_PRODUCT_CANCELED"), (3, "3")]
)
def test_a_one_time_product_notification_is_stored_under_its_token_with_its_sku(code: int, name: str) -> None:
    inner = {"version": "1.0", "notificationType": code, "purchaseToken": "OTP_TOKEN", "sku": "tip.small"}
    message = parse_push(envelope(notification_with("oneTimeProductNotification", inner)))
    assert message.kind == "one_time"
    assert fetch_reference(message) is None
    event = to_google_event(message, free_trial=None)
    assert (event["subscriptionId"], event["eventType"], event["product_id"]) == (
        "OTP_TOKEN",
        name,
        "tip.small",
    )


def test_a_pending_refund_review_is_stored_under_its_refund_token() -> None:
    inner = {"version": "1.0", "pendingRefundToken": "REFUND_TOKEN", "orderId": "GPA.1", "refundReason": 2}
    message = parse_push(envelope(notification_with("pendingRefundReviewNotification", inner)))
    assert message.kind == "pending_refund_review"
    assert fetch_reference(message) is None
    event = to_google_event(message, free_trial=None)
    assert (event["subscriptionId"], event["eventType"], event["product_id"]) == (
        "REFUND_TOKEN",
        "PENDING_REFUND_REVIEW",
        "",
    )


# --- parsing: what is kept --------------------------------------------------------------------------


def test_unknown_keys_are_stripped_at_every_level_and_schema_order_kept() -> None:
    """zod strips unknown keys; its output follows the schema's key order (spec §4.1)."""
    sent = {
        "subscriptionNotification": {
            "subscriptionId": "my.sku",
            "purchaseToken": "PURCHASE_TOKEN",
            "notificationType": 2,
            "version": "1.0",
            "extra": "dropped",
        },
        "eventTimeMillis": EVENT_TIME_MS,
        "packageName": "com.guardian",
        "version": "1.0",
        "unknown": {"dropped": True},
    }
    notification = parse_push(envelope(sent)).notification
    assert json.dumps(notification, separators=(",", ":")) == (
        '{"version":"1.0","packageName":"com.guardian","eventTimeMillis":"1503349566168",'
        '"subscriptionNotification":{"version":"1.0","notificationType":2,'
        '"purchaseToken":"PURCHASE_TOKEN","subscriptionId":"my.sku"}}'
    )


def test_snake_case_ids_and_a_missing_publish_time_and_subscription_are_accepted() -> None:
    body = {"message": {"data": encode(subscription_notification()), "message_id": "55"}}
    message = parse_push(body)
    assert (message.message_id, message.publish_time, message.subscription) == ("55", None, None)


def test_url_safe_base64_without_padding_is_accepted() -> None:
    raw = json.dumps({**subscription_notification(), "pad": "??>"}).encode()
    data = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    assert "-" in data or "_" in data
    assert parse_push(envelope(subscription_notification(), data=data)).kind == "subscription"


def test_an_invalid_subscription_notification_loses_to_a_valid_member_as_in_a_union() -> None:
    decoded = notification_with("testNotification", {"version": "1.0"})
    decoded["subscriptionNotification"] = {"version": "1.0"}
    assert parse_push(envelope(decoded)).kind == "test"


# --- parsing: what is refused (HTTP 400) ----------------------------------------------------------------


def test_a_payload_that_is_no_notification_is_invalid() -> None:
    """§12.1 case 2: ``message.data`` = base64 of ``{"foo":"bar"}``."""
    with pytest.raises(InvalidNotification, match=r"^notification: missing field: version$"):
        parse_push(envelope({"foo": "bar"}))


def _subscription_notification_without(field: str) -> dict[str, Any]:
    notification = subscription_notification()
    del notification["subscriptionNotification"][field]
    return notification


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("not an object", "the body is not a Pub/Sub push envelope"),
        ({"subscription": PUBSUB_SUBSCRIPTION}, "message is missing or not an object"),
        ({"message": {"data": encode(subscription_notification())}}, "message.messageId is missing"),
        (envelope(subscription_notification(), message_id=""), "message.messageId is missing"),
        (envelope(subscription_notification(), data=None), "message.data is missing or not a string"),
        (envelope(subscription_notification(), data="%%%"), "message.data is not base64-encoded JSON"),
        (
            envelope(subscription_notification(), data=base64.b64encode(b"{nope").decode()),
            "message.data is not base64-encoded JSON",
        ),
        (
            envelope(subscription_notification(), data=base64.b64encode(b'{"a": NaN}').decode()),
            "message.data is not base64-encoded JSON",
        ),
        (envelope(["a", "list"]), "notification: invalid field: notification"),
        (
            envelope({**subscription_notification(), "eventTimeMillis": "abc"}),
            "Unable to parse the eventTimeMillis field 'abc'",
        ),
        (
            envelope({**subscription_notification(), "eventTimeMillis": 1503349566168}),
            "notification: invalid field: eventTimeMillis",
        ),
        (
            envelope(_subscription_notification_without("subscriptionId")),
            "subscriptionNotification: missing field: subscriptionId",
        ),
        (
            envelope(subscription_notification(notification_type="4")),
            "subscriptionNotification: invalid field: notificationType",
        ),
        (
            envelope(subscription_notification(notification_type=True)),
            "subscriptionNotification: invalid field: notificationType",
        ),
        (
            envelope(notification_with("subscriptionNotification", None)),
            "subscriptionNotification: missing field: subscriptionNotification",
        ),
        (
            envelope(notification_with("voidedPurchaseNotification", {**VOIDED, "refundType": "1"})),
            "voidedPurchaseNotification: invalid field: refundType",
        ),
        (
            envelope(notification_with("testNotification", {})),
            "testNotification: missing field: version",
        ),
        (
            envelope(notification_with("somethingNew", {})),
            "the notification has none of subscriptionNotification, voidedPurchaseNotification, "
            "pendingRefundReviewNotification, oneTimeProductNotification, testNotification",
        ),
    ],
    ids=[
        "not-an-object",
        "no-message",
        "no-message-id",
        "empty-message-id",
        "no-data",
        "bad-base64",
        "bad-json",
        "nan-literal",
        "json-array",
        "unparsable-event-time",
        "numeric-event-time",
        "no-sku",
        "string-notification-type",
        "boolean-notification-type",
        "null-subscription-notification",
        "string-refund-type",
        "test-without-version",
        "no-known-kind",
    ],
)
def test_an_unusable_push_is_invalid_and_says_why(body: Any, message: str) -> None:
    with pytest.raises(InvalidNotification) as raised:
        parse_push(body)
    assert str(raised.value) == message
