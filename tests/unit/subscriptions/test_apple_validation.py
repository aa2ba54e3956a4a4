"""``toSensiblePayloadFormat`` (spec §3.5): every case of spec §12.3 with its exact values."""

from __future__ import annotations

from typing import Any

import pytest

from supporterflow.domain.subscriptions.apple_validation import (
    AppleValidationResponse,
    to_sensible_payload_format,
)
from supporterflow.domain.subscriptions.dates import ms_to_date
from supporterflow.domain.subscriptions.errors import ProcessingError

from .fixtures import MONTHLY_TRIAL, RECEIPT, receipt_info


def _assert_common(result: AppleValidationResponse, response: dict[str, Any]) -> None:
    """What every §12.3 case expects."""
    assert result.is_retryable is False
    assert result.latest_receipt == RECEIPT
    info = result.latest_receipt_info
    assert info.bundle_id == "uk.co.guardian.iphone2"
    assert info.app_account_token is None
    assert info.cancellation_date is None
    assert info.original_purchase_date == ms_to_date(1567081703000)
    assert info.product_id == MONTHLY_TRIAL
    assert result.original_response is response


def test_an_expired_receipt_info_becomes_a_sane_one() -> None:
    expired = receipt_info(expires_date_ms=None, expires_date="1570705794000")
    response = {"status": 21006, "auto_renew_status": 0, "latest_expired_receipt_info": expired}
    [result] = to_sensible_payload_format(response, RECEIPT)
    _assert_common(result, response)
    info = result.latest_receipt_info
    assert info.expires_date == ms_to_date(1570705794000)
    assert (info.auto_renew_status, info.trial_period, info.in_intro_offer_period) == (False, False, False)
    assert info.original_transaction_id == "1234"


def test_the_intro_offer_flag_passes_through_the_cleanup() -> None:
    expired = receipt_info(
        expires_date_ms=None, expires_date="1570705794000", is_in_intro_offer_period="true"
    )
    response = {"status": 21006, "auto_renew_status": 0, "latest_expired_receipt_info": expired}
    [result] = to_sensible_payload_format(response, RECEIPT)
    _assert_common(result, response)
    assert result.latest_receipt_info.in_intro_offer_period is True


def _latest(info: Any) -> dict[str, Any]:
    return {"status": 0, "auto_renew_status": 0, "latest_receipt_info": info}


def test_a_single_latest_receipt_info_object_uses_expires_date_ms() -> None:
    response = _latest(receipt_info(expires_date="2019-09-10 11:09:54 Etc/GM"))
    [result] = to_sensible_payload_format(response, RECEIPT)
    _assert_common(result, response)
    assert result.latest_receipt_info.expires_date == ms_to_date(1570705794000)


def test_an_array_of_latest_receipts_gives_the_same_result() -> None:
    response = _latest([receipt_info(expires_date="2019-09-10 11:09:54 Etc/GM")])
    [result] = to_sensible_payload_format(response, RECEIPT)
    _assert_common(result, response)
    assert result.latest_receipt_info.expires_date == ms_to_date(1570705794000)
    assert result.latest_receipt_info.original_transaction_id == "1234"


def test_the_latest_expiry_of_each_original_transaction_is_picked() -> None:
    response = _latest(
        [
            receipt_info("1234", "1570705793000"),
            receipt_info("1235", "1570705793000"),
            receipt_info("1235", "1570705794000"),
        ]
    )
    results = to_sensible_payload_format(response, RECEIPT)
    assert [
        (r.latest_receipt_info.original_transaction_id, r.latest_receipt_info.expires_date) for r in results
    ] == [
        ("1234", ms_to_date(1570705793000)),
        ("1235", ms_to_date(1570705794000)),
    ]
    for result in results:
        _assert_common(result, response)


def test_one_off_purchases_without_expiry_are_filtered_out() -> None:
    response = _latest([receipt_info("1234", None), receipt_info("1235", "1570705794000")])
    [result] = to_sensible_payload_format(response, RECEIPT)
    _assert_common(result, response)
    assert result.latest_receipt_info.original_transaction_id == "1235"


def test_pending_renewal_info_overrides_the_top_level_auto_renew_flag() -> None:
    response = {
        "status": 0,
        "auto_renew_status": 1,
        "latest_receipt_info": [receipt_info("1235"), receipt_info("1236")],
        "pending_renewal_info": [
            {"original_transaction_id": "1235", "auto_renew_status": "0"},
            {"original_transaction_id": "1236", "auto_renew_status": "1"},
        ],
    }
    results = to_sensible_payload_format(response, RECEIPT)
    assert [r.latest_receipt_info.auto_renew_status for r in results] == [False, True]


def test_without_pending_renewal_info_the_top_level_flag_counts_loosely_equal_to_one() -> None:
    for flag, expected in ((1, True), ("1", True), (0, False), (None, False)):
        response = {"auto_renew_status": flag, "latest_receipt_info": receipt_info()}
        assert (
            to_sensible_payload_format(response, RECEIPT)[0].latest_receipt_info.auto_renew_status is expected
        )


def test_a_modern_expires_date_string_parses_to_its_year_in_milliseconds_like_parse_int() -> None:
    response = _latest(receipt_info(expires_date_ms=None, expires_date="2019-09-10 11:09:54 Etc/GMT"))
    assert to_sensible_payload_format(response, RECEIPT)[0].latest_receipt_info.expires_date == ms_to_date(
        2019
    )


def test_integer_like_transaction_ids_are_ordered_numerically_like_javascript_object_keys() -> None:
    response = _latest([receipt_info("20", "2"), receipt_info("abc", "1"), receipt_info("3", "3")])
    ids = [
        r.latest_receipt_info.original_transaction_id for r in to_sensible_payload_format(response, RECEIPT)
    ]
    assert ids == ["3", "20", "abc"]


def test_latest_receipt_retryable_flag_bundle_fallback_and_cancellation_are_read() -> None:
    info = receipt_info(cancellation_date_ms="1570000000000", app_account_token="tok")
    del info["bundle_id"]
    response = {
        "latest_receipt_info": info,
        "latest_receipt": "LATEST",
        "is-retryable": True,
        "receipt": {"bundle_id": "uk.co.guardian.Feast"},
    }
    [result] = to_sensible_payload_format(response, RECEIPT)
    assert (result.latest_receipt, result.is_retryable) == ("LATEST", True)
    assert result.latest_receipt_info.bundle_id == "uk.co.guardian.Feast"
    assert result.latest_receipt_info.cancellation_date == ms_to_date(1570000000000)
    assert result.latest_receipt_info.app_account_token == "tok"


@pytest.mark.parametrize(
    "response",
    [
        {"status": 0, "latest_receipt_info": []},
        {"status": 0},
        {"latest_receipt_info": receipt_info(expires_date_ms=None)},
        {"latest_receipt_info": receipt_info(original_purchase_date_ms="")},
    ],
)
def test_unusable_responses_are_given_up_on(response: dict[str, Any]) -> None:
    with pytest.raises(ProcessingError) as raised:
        to_sensible_payload_format(response, RECEIPT)
    assert raised.value.should_retry is False
