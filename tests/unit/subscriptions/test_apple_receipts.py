"""verifyReceipt classification (spec §3.4), the Apple extra (§3.7) and the Subscription row (§3.8)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from supporterflow.domain.subscriptions.apple_receipts import (
    PRODUCTION_VERIFY_RECEIPT_URL,
    SANDBOX_VERIFY_RECEIPT_URL,
    ReceiptOutcome,
    apple_extra,
    check_http_status,
    check_receipt_response,
    decode_jws_payload,
    should_retry_in_sandbox,
    to_apple_subscription,
    verify_receipt_body,
    verify_receipt_url,
)
from supporterflow.domain.subscriptions.apple_validation import to_sensible_payload_format
from supporterflow.domain.subscriptions.errors import GracefulProcessingError, ProcessingError

from .fixtures import MONTHLY_TRIAL, RECEIPT, receipt_info

INFO = {"latest_receipt_info": [receipt_info()]}


def test_prod_verifies_against_buy_itunes_and_other_stages_against_sandbox() -> None:
    assert (
        verify_receipt_url("PROD")
        == PRODUCTION_VERIFY_RECEIPT_URL
        == "https://buy.itunes.apple.com/verifyReceipt"
    )
    assert (
        verify_receipt_url("CODE")
        == SANDBOX_VERIFY_RECEIPT_URL
        == "https://sandbox.itunes.apple.com/verifyReceipt"
    )


def test_the_verify_receipt_body_excludes_old_transactions() -> None:
    assert json.dumps(verify_receipt_body("r", "p"), separators=(",", ":")) == (
        '{"receipt-data":"r","password":"p","exclude-old-transactions":true}'
    )


@pytest.mark.parametrize(("code", "outcome"), [(200, "ok"), (299, "ok"), (300, "retry"), (503, "retry")])
def test_a_non_2xx_answer_is_retried(code: int, outcome: str) -> None:
    assert check_http_status(code).outcome == outcome


def test_21007_is_retried_in_sandbox_only_when_the_caller_allows_it() -> None:
    assert should_retry_in_sandbox({"status": 21007}, sandbox_retry=True) is True
    assert should_retry_in_sandbox({"status": 21007}, sandbox_retry=False) is False
    assert should_retry_in_sandbox({"status": 0}, sandbox_retry=True) is False


@pytest.mark.parametrize(
    ("response", "outcome"),
    [
        ({"status": 0, **INFO}, ReceiptOutcome.OK),
        ({"status": 21006, "latest_expired_receipt_info": receipt_info()}, ReceiptOutcome.OK),
        ({"status": 21100}, ReceiptOutcome.RETRY),
        ({"status": 21199}, ReceiptOutcome.RETRY),
        ({"status": 21007, "is-retryable": True}, ReceiptOutcome.RETRY),
        ({"status": 21007}, ReceiptOutcome.GRACEFUL),
        ({"status": 21008}, ReceiptOutcome.GIVE_UP),
        ({"status": 21010, **INFO}, ReceiptOutcome.GIVE_UP),
        ({"status": 21200, **INFO}, ReceiptOutcome.GIVE_UP),
        ({"status": 0}, ReceiptOutcome.GIVE_UP),
    ],
)
def test_receipt_status_matrix(response: dict[str, Any], outcome: ReceiptOutcome) -> None:
    assert check_receipt_response(response).outcome is outcome


def test_verdicts_convert_to_the_upstream_exceptions() -> None:
    assert check_receipt_response({"status": 0, **INFO}).error() is None
    assert isinstance(check_receipt_response({"status": 21007}).error(), GracefulProcessingError)
    retry = check_receipt_response({"status": 21150}).error()
    give_up = check_receipt_response({"status": 21008}).error()
    assert isinstance(retry, ProcessingError)
    assert retry.should_retry is True
    assert isinstance(give_up, ProcessingError)
    assert give_up.should_retry is False


def _jws(payload: dict[str, Any]) -> str:
    encoded = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")
    return f"eyJhbGciOiJFUzI1NiJ9.{encoded}.signature"


def test_the_signed_transaction_is_decoded_without_verification() -> None:
    assert decode_jws_payload(_jws({"transactionId": "2000", "price": 9990})) == {
        "transactionId": "2000",
        "price": 9990,
    }
    with pytest.raises(ValueError, match="not a JWS"):
        decode_jws_payload("garbage")


def test_the_apple_extra_is_a_compact_json_string_with_gu_type_first() -> None:
    transaction = {"transactionId": "2000", "purchaseDate": 1567081703000, "price": 9990.0, "currency": "GBP"}
    assert apple_extra(transaction) == (
        '{"guType":"apple-extra-2025-04-29","transactionId":"2000",'
        '"purchaseDate":1567081703000,"price":9990,"currency":"GBP"}'
    )


def _validation(**response: Any) -> Any:
    [validation] = to_sensible_payload_format(response, RECEIPT)
    return validation


def test_the_subscription_row_of_a_validated_receipt() -> None:
    response = {
        "status": 0,
        "auto_renew_status": 1,
        "latest_receipt_info": [receipt_info(is_trial_period="true")],
    }
    row = to_apple_subscription(_validation(**response), extra='{"guType":"apple-extra-2025-04-29"}')
    assert row == {
        "subscriptionId": "1234",
        "startTimestamp": "2019-08-29T12:28:23.000Z",
        "endTimestamp": "2019-10-10T11:09:54.000Z",
        "autoRenewing": True,
        "productId": MONTHLY_TRIAL,
        "platform": "ios",
        "freeTrial": True,
        "billingPeriod": "P1M",
        "googlePayload": None,
        "receipt": RECEIPT,
        "applePayload": response,
        "ttl": 1649588994,  # 2019-10-10T11:09:54.000Z + 30 months = 2022-04-10T11:09:54Z
        "extra": '{"guType":"apple-extra-2025-04-29"}',
    }


def test_the_ttl_is_expiry_plus_thirty_months_in_seconds_rounded_up() -> None:
    row = to_apple_subscription(
        _validation(latest_receipt_info=receipt_info(expires_date_ms="1570705794001"))
    )
    assert row["ttl"] == 1649588995  # 2022-04-10T11:09:54.001Z rounds up


def test_unknown_bundle_product_and_cancellation_are_handled_as_upstream() -> None:
    info = receipt_info(bundle_id="x", product_id="unknown.product", cancellation_date_ms="1570000000000")
    row = to_apple_subscription(_validation(latest_receipt_info=info))
    assert "platform" not in row
    assert "billingPeriod" not in row
    assert row["cancellationTimestamp"] == "2019-10-02T07:06:40.000Z"
    assert list(row)[:4] == ["subscriptionId", "startTimestamp", "endTimestamp", "cancellationTimestamp"]
    assert row["extra"] == ""


def test_a_feast_receipt_row_has_the_ios_feast_platform_and_yearly_period() -> None:
    info = receipt_info(bundle_id="uk.co.guardian.Feast", product_id="uk.co.guardian.Feast.yearly")
    row = to_apple_subscription(_validation(latest_receipt_info=info))
    assert (row["platform"], row["billingPeriod"]) == ("ios-feast", "P1Y")
