"""``toSensiblePayloadFormat``: a verifyReceipt response reduced to one record per subscription (spec §3.5).

Why: a receipt holds every transaction of every subscription of the Apple account; the system
stores one Subscription row per *original transaction id*, using its latest expiry and its pending
renewal info. The reduction is pure and heavily tested upstream (§12.3); it is reproduced with its
JavaScript quirks (``parseInt`` of ``expires_date``, integer-like keys ordered first).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from supporterflow.domain.subscriptions.dates import ms_to_date, optional_ms_to_date
from supporterflow.domain.subscriptions.errors import ProcessingError
from supporterflow.domain.subscriptions.js import js_key_order, js_truthy, loosely_equals_one, parse_int

__all__ = ["AppleLatestReceiptInfo", "AppleValidationResponse", "to_sensible_payload_format"]


@dataclass(frozen=True)
class AppleLatestReceiptInfo:
    """One original transaction's state as the rest of the system sees it (spec §3.5 step 4)."""

    bundle_id: str | None
    auto_renew_status: bool
    cancellation_date: datetime | None
    expires_date: datetime
    original_purchase_date: datetime
    original_transaction_id: str
    product_id: str
    trial_period: bool
    in_intro_offer_period: bool
    app_account_token: str | None


@dataclass(frozen=True)
class AppleValidationResponse:
    """One element of ``toSensiblePayloadFormat``'s result; ``original_response`` is the whole response."""

    is_retryable: bool
    latest_receipt: str
    latest_receipt_info: AppleLatestReceiptInfo
    original_response: Mapping[str, Any]


def _expiry_ms(info: Mapping[str, Any]) -> int:
    """``expires_date_ms``, else ``parseInt(expires_date)`` -- 2019 ms for a modern date string (§13.2.2)."""
    for name in ("expires_date_ms", "expires_date"):
        if js_truthy(info.get(name)):
            expiry = parse_int(info[name])
            if expiry is None:
                raise ProcessingError(f"Unparsable {name} in receipt", should_retry=False)
            return expiry
    raise ProcessingError("Receipt has no expiry date", should_retry=False)


def _has_expiry(info: Mapping[str, Any]) -> bool:
    return js_truthy(info.get("expires_date")) or js_truthy(info.get("expires_date_ms"))


def _receipt_infos(response: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Step 2: latest expiry per original transaction id, in first-appearance (JS key) order."""
    latest = response.get("latest_receipt_info")
    if isinstance(latest, list):
        if not latest:
            raise ProcessingError("Empty latest_receipt_info", should_retry=False)
        subscriptions = sorted((info for info in latest if _has_expiry(info)), key=_expiry_ms)
        by_id: dict[str, Mapping[str, Any]] = {}
        for info in subscriptions:
            by_id[str(info.get("original_transaction_id"))] = info
        return [by_id[key] for key in js_key_order(by_id)]
    if isinstance(latest, Mapping):
        return [latest]
    expired = response.get("latest_expired_receipt_info")
    if isinstance(expired, Mapping):
        return [expired]
    raise ProcessingError("No receipt info in the response", should_retry=False)


def _first_defined(*values: object) -> Any:
    return next((value for value in values if value is not None), None)


def _required_string(info: Mapping[str, Any], name: str) -> str:
    value = info.get(name)
    if not isinstance(value, str):
        raise ProcessingError(f"Receipt has no {name}", should_retry=False)
    return value


def to_sensible_payload_format(response: Mapping[str, Any], receipt: str) -> list[AppleValidationResponse]:
    """``toSensiblePayloadFormat``: one record per original transaction id (spec §3.5).

    Raises ``ProcessingError(should_retry=False)`` where upstream does, and also for a receipt
    without ``original_transaction_id``/``product_id`` or with an unparsable expiry, which upstream
    would only discover when writing the row.
    """
    pending = {
        info.get("original_transaction_id"): info
        for info in response.get("pending_renewal_info") or []
        if isinstance(info, Mapping)
    }
    inner_receipt: Mapping[str, Any] = response.get("receipt") or {}
    latest_receipt = response.get("latest_receipt")
    results = []
    for info in _receipt_infos(response):
        original_transaction_id = _required_string(info, "original_transaction_id")
        renewal = pending.get(original_transaction_id)
        original_purchase_date = optional_ms_to_date(info.get("original_purchase_date_ms"))
        if original_purchase_date is None:
            raise ProcessingError("Receipt has no original purchase date", should_retry=False)
        expires_date = ms_to_date(_expiry_ms(info))
        if expires_date is None:
            raise ProcessingError("Receipt expiry out of range", should_retry=False)
        results.append(
            AppleValidationResponse(
                is_retryable=response.get("is-retryable") is True,
                latest_receipt=latest_receipt if latest_receipt is not None else receipt,
                latest_receipt_info=AppleLatestReceiptInfo(
                    bundle_id=_first_defined(
                        info.get("bundle_id"),
                        info.get("bid"),
                        inner_receipt.get("bundle_id"),
                        inner_receipt.get("bid"),
                    ),
                    auto_renew_status=renewal.get("auto_renew_status") == "1"
                    if renewal is not None
                    else loosely_equals_one(response.get("auto_renew_status")),
                    cancellation_date=optional_ms_to_date(info.get("cancellation_date_ms")),
                    expires_date=expires_date,
                    original_purchase_date=original_purchase_date,
                    original_transaction_id=original_transaction_id,
                    product_id=_required_string(info, "product_id"),
                    trial_period=info.get("is_trial_period") == "true",
                    in_intro_offer_period=info.get("is_in_intro_offer_period") == "true",
                    app_account_token=info.get("app_account_token"),
                ),
                original_response=response,
            )
        )
    return results
