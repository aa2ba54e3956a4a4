"""verifyReceipt decisions, the Apple "extra" column and the Subscription row (spec §3.4, §3.7, §3.8).

Why: whether a receipt lookup is retried, silently acknowledged or given up on is decided by
Apple's ``status`` code, and the Subscription row must be byte-compatible with what the legacy
code wrote. Both are pure once the HTTP exchange has happened, so they live here; the adapter
does the POSTs and StoreKit calls and passes the results in.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from supporterflow.domain.subscriptions.apple_validation import AppleValidationResponse
from supporterflow.domain.subscriptions.dates import (
    date_to_second_timestamp,
    optional_ms_to_date,
    thirty_months,
    to_iso,
)
from supporterflow.domain.subscriptions.errors import GracefulProcessingError, ProcessingError
from supporterflow.domain.subscriptions.js import is_number, js_json_stringify
from supporterflow.domain.subscriptions.platforms import platform_from_apple_bundle
from supporterflow.domain.subscriptions.products import billing_period
from supporterflow.domain.subscriptions.status import status_from_v1

__all__ = [
    "APPLE_EXTRA_GU_TYPE",
    "PRODUCTION_VERIFY_RECEIPT_URL",
    "SANDBOX_VERIFY_RECEIPT_URL",
    "ReceiptCheck",
    "ReceiptOutcome",
    "apple_extra",
    "check_http_status",
    "check_receipt_response",
    "decode_jws_payload",
    "should_retry_in_sandbox",
    "state_columns",
    "to_apple_subscription",
    "verify_receipt_body",
    "verify_receipt_url",
]

PRODUCTION_VERIFY_RECEIPT_URL: Final = "https://buy.itunes.apple.com/verifyReceipt"
SANDBOX_VERIFY_RECEIPT_URL: Final = "https://sandbox.itunes.apple.com/verifyReceipt"
APPLE_EXTRA_GU_TYPE: Final = "apple-extra-2025-04-29"

SANDBOX_RECEIPT_IN_PRODUCTION: Final = 21007
PRODUCTION_RECEIPT_IN_SANDBOX: Final = 21008
#: "Receipt valid but subscription expired": still a usable answer (spec §3.4 step 4).
EXPIRED_SUBSCRIPTION: Final = 21006
_RETRYABLE_STATUSES: Final = range(21100, 21200)


def verify_receipt_url(stage: str) -> str:
    """PROD verifies against Apple's production host; every other stage against the sandbox (§3.4)."""
    return PRODUCTION_VERIFY_RECEIPT_URL if stage == "PROD" else SANDBOX_VERIFY_RECEIPT_URL


def verify_receipt_body(receipt: str, password: str) -> dict[str, Any]:
    """The JSON body POSTed to verifyReceipt, keys in upstream order (§3.4)."""
    return {"receipt-data": receipt, "password": password, "exclude-old-transactions": True}


class ReceiptOutcome(StrEnum):
    """What an SQS consumer does with the message (spec §2.7)."""

    OK = "ok"
    RETRY = "retry"  # ProcessingError(shouldRetry=true): redelivered
    GRACEFUL = "graceful"  # GracefulProcessingError: acknowledged with a warning
    GIVE_UP = "give_up"  # ProcessingError(shouldRetry=false): acknowledged and dropped


@dataclass(frozen=True)
class ReceiptCheck:
    """The verdict on a verifyReceipt exchange, convertible to the upstream exception."""

    outcome: ReceiptOutcome
    message: str = ""

    def error(self) -> ProcessingError | GracefulProcessingError | None:
        """The exception upstream would throw, or None when the response is usable."""
        if self.outcome is ReceiptOutcome.OK:
            return None
        if self.outcome is ReceiptOutcome.GRACEFUL:
            return GracefulProcessingError(self.message)
        return ProcessingError(self.message, should_retry=self.outcome is ReceiptOutcome.RETRY)


_OK: Final = ReceiptCheck(ReceiptOutcome.OK)


def check_http_status(status_code: int) -> ReceiptCheck:
    """Step 1: a non-2xx answer from Apple is retried."""
    if 200 <= status_code <= 299:
        return _OK
    return ReceiptCheck(ReceiptOutcome.RETRY, "Impossible to validate receipt")


def should_retry_in_sandbox(response: Mapping[str, Any], *, sandbox_retry: bool) -> bool:
    """Step 3: re-POST to the sandbox host on 21007 when the caller allows it.

    Upstream sends the *Live* shared secret on that retry whatever the app (§13.2.1); the adapter
    must use ``apple.password`` to stay compatible.
    """
    return sandbox_retry and response.get("status") == SANDBOX_RECEIPT_IN_PRODUCTION


def check_receipt_response(response: Mapping[str, Any]) -> ReceiptCheck:
    """Step 4: classify a parsed verifyReceipt body, checks in upstream order (spec §3.4)."""
    status = response.get("status")
    if (is_number(status) and status in _RETRYABLE_STATUSES) or response.get("is-retryable") is True:
        return ReceiptCheck(ReceiptOutcome.RETRY, f"Apple internal error, status {status}")
    if status == SANDBOX_RECEIPT_IN_PRODUCTION:
        return ReceiptCheck(ReceiptOutcome.GRACEFUL, "Sandbox receipt sent to production (21007)")
    if status == PRODUCTION_RECEIPT_IN_SANDBOX:
        return ReceiptCheck(ReceiptOutcome.GIVE_UP, "Production receipt sent to sandbox (21008)")
    if status not in (0, EXPIRED_SUBSCRIPTION):
        return ReceiptCheck(ReceiptOutcome.GIVE_UP, f"Invalid receipt, status {status}")
    if not response.get("latest_receipt_info") and not response.get("latest_expired_receipt_info"):
        return ReceiptCheck(ReceiptOutcome.GIVE_UP, "No receipt info in the response")
    return _OK


def decode_jws_payload(jws: str) -> dict[str, Any]:
    """The payload of StoreKit's ``signedTransactionInfo``, decoded *without* verification (§3.6, §13.2.5)."""
    try:
        segment = jws.split(".")[1]
        payload = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (IndexError, ValueError, binascii.Error, RecursionError) as error:
        raise ValueError(f"not a JWS: {error or type(error).__name__}") from None
    if not isinstance(payload, dict):
        raise ValueError("not a JWS: its payload is not an object")
    return payload


def apple_extra(transaction: Mapping[str, Any]) -> str:
    """The ``extra`` column: ``{"guType": "apple-extra-2025-04-29", ...transaction}`` as a JSON string (§3.7).

    ``guType`` comes first; a ``guType`` inside the transaction (never sent by Apple) would win,
    as with the upstream object spread.
    """
    return js_json_stringify({"guType": APPLE_EXTRA_GU_TYPE, **transaction})


def to_apple_subscription(validation: AppleValidationResponse, *, extra: str = "") -> dict[str, Any]:
    """``toAppleSubscription_async``: the Subscription row of one validation record (spec §3.8, §1.3).

    ``extra`` is the StoreKit result already serialised with :func:`apple_extra`, or ``''`` when
    there is no bundle id or the lookup failed. Optional attributes are omitted when undefined,
    as the data-mapper does (§1.2); mapping ``''`` to NULL is the adapter's job.
    """
    info = validation.latest_receipt_info
    platform = platform_from_apple_bundle(info.bundle_id)
    period = billing_period(info.product_id)
    row: dict[str, Any] = {
        "subscriptionId": info.original_transaction_id,
        "startTimestamp": to_iso(info.original_purchase_date),
        "endTimestamp": to_iso(info.expires_date),
    }
    if info.cancellation_date is not None:
        row["cancellationTimestamp"] = to_iso(info.cancellation_date)
    row["autoRenewing"] = info.auto_renew_status
    row["productId"] = info.product_id
    if platform is not None:
        row["platform"] = platform.value
    row["freeTrial"] = info.trial_period or info.in_intro_offer_period
    if period is not None:
        row["billingPeriod"] = period
    row["googlePayload"] = None
    row["receipt"] = validation.latest_receipt
    row["applePayload"] = validation.original_response
    row["ttl"] = date_to_second_timestamp(thirty_months(info.expires_date))
    row["extra"] = extra
    return row


def state_columns(validation: AppleValidationResponse, *, now: datetime) -> dict[str, Any]:
    """The columns supporterflow adds to a V1 row: normalised ``status``, ``environment``,
    ``bundleId`` and ``fetchedAt`` (see docs/subscription-state.md).

    Billing retry and grace period come from the subscription's ``pending_renewal_info``;
    ``fetchedAt`` is Apple's ``receipt.request_date_ms``, else ``now``, so that a slower,
    older fetch never overwrites a newer one.
    """
    info = validation.latest_receipt_info
    response = validation.original_response
    pending = [
        entry
        for entry in response.get("pending_renewal_info") or []
        if isinstance(entry, Mapping) and entry.get("original_transaction_id") == info.original_transaction_id
    ]
    renewal: Mapping[str, Any] = pending[-1] if pending else {}
    status = status_from_v1(
        now=now,
        expires_date=info.expires_date,
        cancellation_date=info.cancellation_date,
        is_in_billing_retry_period=renewal.get("is_in_billing_retry_period") == "1",
        grace_period_expires_date=optional_ms_to_date(renewal.get("grace_period_expires_date_ms")),
    )
    receipt = response.get("receipt")
    requested = optional_ms_to_date(receipt.get("request_date_ms")) if isinstance(receipt, Mapping) else None
    columns: dict[str, Any] = {"status": status.value}
    environment = response.get("environment")
    if isinstance(environment, str):
        columns["environment"] = environment
    if info.bundle_id is not None:
        columns["bundleId"] = info.bundle_id
    columns["fetchedAt"] = to_iso(requested or now)
    return columns
