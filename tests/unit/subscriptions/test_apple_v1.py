"""The V1 notification parser (spec §3.2, §12.2) and the SubscriptionEvent it becomes (§3.3, §1.4)."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

import pytest

from supporterflow.domain.subscriptions.apple_v1 import (
    MAX_EVENT_RECEIPT_LENGTH,
    MAX_SQS_RECEIPT_LENGTH,
    InvalidPayloadError,
    parse_notification,
    parse_payload,
    redact_for_log,
    to_dynamo_event,
    to_sqs_sub_reference,
)

from .fixtures import apple_notification, apple_notification_body

NOW = datetime(2023, 3, 14, tzinfo=UTC)


def test_a_valid_payload_parses_without_error() -> None:
    parsed = parse_payload(apple_notification_body())
    assert parsed["notification_type"] == "INITIAL_BUY"


def test_a_json_string_instead_of_an_object_is_an_invalid_payload() -> None:
    with pytest.raises(InvalidPayloadError):
        parse_payload('"NOT_A_VALID_PAYLOAD"')


def test_malformed_json_is_an_invalid_payload() -> None:
    with pytest.raises(InvalidPayloadError, match="invalid JSON"):
        parse_payload("{")


def test_the_app_account_token_is_preserved_when_available() -> None:
    token = "7fcdd33b-d111-4de3-8631-d792d213e5da"
    parsed = parse_payload(apple_notification_body(app_account_token=token))
    assert parsed["unified_receipt"]["latest_receipt_info"][0]["app_account_token"] == token


def test_unknown_fields_are_dropped_and_absent_optional_fields_left_out() -> None:
    parsed = parse_payload(apple_notification_body())
    assert "password" not in parsed
    assert "auto_renew_status_change_date" not in parsed
    info = parsed["unified_receipt"]["latest_receipt_info"][0]
    assert "purchase_date_pst" not in info
    assert "in_app_ownership_type" not in info
    assert "app_account_token" not in info
    assert parsed["unified_receipt"]["pending_renewal_info"][0]["price_consent_status"] == ""


def test_the_five_derived_fields_overwrite_the_input_and_non_numeric_ms_become_nan() -> None:
    parsed = parse_payload(apple_notification_body())
    assert parsed["promotional_offer_id"] is None
    assert parsed["promotional_offer_name"] is None
    assert parsed["product_id"] == "uk.co.guardian.gla.12months.2018Dec.withFreeTrial"
    assert math.isnan(parsed["purchase_date_ms"])
    assert math.isnan(parsed["expires_date_ms"])


def test_derived_fields_of_an_empty_receipt_list_are_defaults() -> None:
    notification = apple_notification()
    notification["unified_receipt"]["latest_receipt_info"] = []
    parsed = parse_notification(notification)
    assert (parsed["product_id"], parsed["purchase_date_ms"], parsed["expires_date_ms"]) == ("", 0, 0)


def test_derived_numbers_come_from_the_first_receipt_as_sent() -> None:
    notification = apple_notification()
    first = notification["unified_receipt"]["latest_receipt_info"][0]
    first.update(purchase_date_ms="1567081703000", expires_date_ms="1570705794000", promotional_offer_id="P")
    first["offer_code_ref_name"] = "N"
    parsed = parse_notification(notification)
    assert parsed["purchase_date_ms"] == 1567081703000
    assert parsed["expires_date_ms"] == 1570705794000
    assert (parsed["promotional_offer_id"], parsed["promotional_offer_name"]) == ("P", "N")


def test_a_numeric_original_transaction_id_is_converted_to_a_string() -> None:
    notification = apple_notification()
    notification["original_transaction_id"] = 1000000123
    assert parse_notification(notification)["original_transaction_id"] == "1000000123"


def _without(path: list[Any]) -> dict[str, Any]:
    notification = apple_notification()
    container: Any = notification
    for key in path[:-1]:
        container = container[key]
    del container[path[-1]]
    return notification


@pytest.mark.parametrize(
    ("path", "field"),
    [
        (["bid"], "bid"),
        (["auto_renew_product_id"], "auto_renew_product_id"),
        (["unified_receipt"], "unified_receipt"),
        (["unified_receipt", "status"], "status"),
        (["unified_receipt", "latest_receipt_info"], "latest_receipt_info"),
        (["unified_receipt", "pending_renewal_info"], "pending_renewal_info"),
        (["unified_receipt", "latest_receipt_info", 0, "product_id"], "product_id"),
        (["unified_receipt", "latest_receipt_info", 0, "is_trial_period"], "is_trial_period"),
        (
            ["unified_receipt", "pending_renewal_info", 0, "original_transaction_id"],
            "original_transaction_id",
        ),
    ],
)
def test_a_missing_required_field_is_named_in_the_error(path: list[Any], field: str) -> None:
    with pytest.raises(InvalidPayloadError, match=f"^missing field: {field}$"):
        parse_notification(_without(path))


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda n: n.update(cancellation_date=1), "cancellation_date"),
        (lambda n: n.update(original_transaction_id=True), "original_transaction_id"),
        (lambda n: n["unified_receipt"].update(status="0"), "status"),
        (lambda n: n["unified_receipt"].update(latest_receipt_info={}), "latest_receipt_info"),
        (
            lambda n: n["unified_receipt"]["latest_receipt_info"][0].update(expires_date_ms=None),
            "expires_date_ms",
        ),
        (
            lambda n: n["unified_receipt"]["pending_renewal_info"][0].update(auto_renew_status="2"),
            "auto_renew_status",
        ),
        (
            lambda n: n["unified_receipt"]["pending_renewal_info"][0].update(expiration_intent="6"),
            "expiration_intent",
        ),
        (
            lambda n: n["unified_receipt"]["pending_renewal_info"][0].update(
                is_in_billing_retry_period="true"
            ),
            "is_in_billing_retry_period",
        ),
    ],
)
def test_a_field_of_the_wrong_type_or_value_is_named_in_the_error(mutate: Any, field: str) -> None:
    notification = apple_notification()
    mutate(notification)
    with pytest.raises(InvalidPayloadError, match=f"^invalid field: {field}$"):
        parse_notification(notification)


def test_debug_dump_replaces_values_by_their_type_except_whitelisted_keys() -> None:
    dumped = redact_for_log({"environment": "Sandbox", "bid": "x", "unified_receipt": {"status": 0, "n": 1}})
    assert dumped == {
        "environment": "Sandbox",
        "bid": "<string>",
        "unified_receipt": {"status": 0, "n": "<number>"},
    }


def test_the_event_of_the_spec_12_1_4_notification() -> None:
    event = to_dynamo_event(parse_payload(apple_notification_body()), now=NOW)
    assert {key: event[key] for key in ("subscriptionId", "eventType", "platform", "appId", "freeTrial")} == {
        "subscriptionId": "TEST",
        "eventType": "INITIAL_BUY",
        "platform": "ios",
        "appId": "uk.co.guardian.iphone2",
        "freeTrial": True,
    }
    assert event["googlePayload"] is None
    assert event["applePayload"]["unified_receipt"]["latest_receipt"] == "TEST"
    assert event["timestampAndType"] == "2023-03-14T00:00:00.000Z|INITIAL_BUY"
    assert (event["date"], event["timestamp"]) == ("2023-03-14", "2023-03-14T00:00:00.000Z")
    assert event["ttl"] == 1757808000  # 2025-09-14T00:00:00Z
    assert event["extra"] == ""
    assert to_sqs_sub_reference(parse_payload(apple_notification_body())) == {"receipt": "TEST"}


def test_the_event_row_has_the_columns_of_spec_1_4_in_order() -> None:
    event = to_dynamo_event(parse_payload(apple_notification_body()), now=NOW, extra='{"guType":"x"}')
    assert list(event) == [
        "subscriptionId",
        "timestampAndType",
        "date",
        "timestamp",
        "eventType",
        "platform",
        "appId",
        "freeTrial",
        "googlePayload",
        "applePayload",
        "ttl",
        "promotional_offer_id",
        "promotional_offer_name",
        "product_id",
        "purchase_date_ms",
        "expires_date_ms",
        "extra",
    ]
    assert event["extra"] == '{"guType":"x"}'


def test_a_feast_notification_event_has_the_ios_feast_platform() -> None:
    body = apple_notification_body(bid="uk.co.guardian.Feast", product_id="uk.co.guardian.Feast.yearly")
    assert to_dynamo_event(parse_payload(body), now=NOW)["platform"] == "ios-feast"


def test_an_unknown_bundle_gives_the_unknown_platform() -> None:
    assert to_dynamo_event(parse_payload(apple_notification_body(bid="x")), now=NOW)["platform"] == "unknown"


def _two_receipts() -> dict[str, Any]:
    notification = apple_notification()
    infos = notification["unified_receipt"]["latest_receipt_info"]
    older = dict(infos[0], original_transaction_id="OLD", purchase_date_ms="1000", is_trial_period="false")
    newer = dict(
        infos[0],
        original_transaction_id="NEW",
        purchase_date_ms="2000",
        is_trial_period="false",
        is_in_intro_offer_period="true",
        product_id="second",
    )
    infos[:] = [older, newer]
    return parse_notification(notification)


def test_subscription_id_and_free_trial_come_from_the_most_recent_purchase() -> None:
    parsed = _two_receipts()
    event = to_dynamo_event(parsed, now=NOW)
    assert event["subscriptionId"] == "NEW"
    assert event["freeTrial"] is True  # intro offers count as trials
    assert event["product_id"] == "uk.co.guardian.gla.12months.2018Dec.withFreeTrial"  # first as sent
    assert event["purchase_date_ms"] == 1000
    sorted_ids = [
        info["original_transaction_id"]
        for info in event["applePayload"]["unified_receipt"]["latest_receipt_info"]
    ]
    assert sorted_ids == ["NEW", "OLD"]
    assert parsed["unified_receipt"]["latest_receipt_info"][0]["original_transaction_id"] == "OLD"


def test_an_empty_receipt_list_cannot_become_an_event() -> None:
    notification = apple_notification()
    notification["unified_receipt"]["latest_receipt_info"] = []
    with pytest.raises(ValueError, match="empty"):
        to_dynamo_event(parse_notification(notification), now=NOW)


def test_large_receipts_are_blanked_only_when_truncation_is_on() -> None:
    notification = apple_notification()
    notification["unified_receipt"]["latest_receipt"] = "x" * (MAX_EVENT_RECEIPT_LENGTH + 1)
    parsed = parse_notification(notification)
    assert (
        to_dynamo_event(parsed, now=NOW, truncate_large_receipt=True)["applePayload"]["unified_receipt"][
            "latest_receipt"
        ]
        == ""
    )
    assert len(to_dynamo_event(parsed, now=NOW)["applePayload"]["unified_receipt"]["latest_receipt"]) > 0


def test_the_sqs_guard_uses_the_upstream_200_times_2024_limit() -> None:
    assert MAX_SQS_RECEIPT_LENGTH == 404_800
    at_limit = {"unified_receipt": {"latest_receipt": "x" * MAX_SQS_RECEIPT_LENGTH}}
    over = {"unified_receipt": {"latest_receipt": "x" * (MAX_SQS_RECEIPT_LENGTH + 1)}}
    assert (
        to_sqs_sub_reference(at_limit, truncate_large_receipt=True)["receipt"]
        == at_limit["unified_receipt"]["latest_receipt"]
    )
    assert to_sqs_sub_reference(over, truncate_large_receipt=True) == {"receipt": ""}
    assert json.dumps(to_sqs_sub_reference(over))[:13] == '{"receipt": "'
