"""Apple App Store Server Notifications V1 (spec §3.1-§3.3).

Why: the legacy system accepts only V1 (unsigned JSON) notifications -- a V2 ``signedPayload``
fails parsing and gets 400 (§3.1) -- validated by a strict hand-written parser whose output
(whitelisted fields plus five derived ones) is stored verbatim as ``applePayload``. Every parsed
notification type is stored and enqueued; none is ignored. Reproduced here as pure functions,
quirks included (each one cites the spec section that documents it).
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from supporterflow.domain.subscriptions.dates import (
    date_to_second_timestamp,
    iso_day,
    thirty_months,
    to_iso,
)
from supporterflow.domain.subscriptions.js import (
    is_number,
    js_number,
    number_to_string,
    parse_int,
)
from supporterflow.domain.subscriptions.platforms import UNKNOWN_PLATFORM, platform_from_apple_bundle

__all__ = [
    "InvalidPayloadError",
    "parse_notification",
    "parse_payload",
    "redact_for_log",
    "to_dynamo_event",
    "to_sqs_sub_reference",
]


class InvalidPayloadError(ValueError):
    """The body is not a valid V1 notification; the pubsub handler answers 400 (spec §3.2)."""


# --- §3.2 the strict V1 parser: field tables -------------------------------------------------

Check = Callable[[object], bool]


def _is_string(value: object) -> bool:
    return isinstance(value, str)


def _is_number(value: object) -> bool:
    return is_number(value)


def _one_of(*allowed: str) -> Check:
    return lambda value: isinstance(value, str) and value in allowed


@dataclass(frozen=True)
class _Field:
    name: str
    check: Check
    required: bool


def _required(name: str, check: Check = _is_string) -> _Field:
    return _Field(name, check, required=True)


def _optional(name: str, check: Check = _is_string) -> _Field:
    return _Field(name, check, required=False)


_TOP_LEVEL: Final = (
    _required("environment"),
    _required("bid"),
    _required("bvrs"),
    _required("notification_type"),
    _required("auto_renew_status"),
    _required("auto_renew_product_id"),
    _optional("cancellation_date"),
    _optional("web_order_line_item_id"),
    _optional("auto_renew_adam_id"),
    _optional("expiration_intent"),
)

_UNIFIED_RECEIPT: Final = (
    _required("environment"),
    _required("latest_receipt"),
    _required("status", _is_number),
)

_RECEIPT_INFO: Final = (
    _required("transaction_id"),
    _required("product_id"),
    _required("original_transaction_id"),
    _required("quantity"),
    _required("purchase_date_ms"),
    _required("original_purchase_date_ms"),
    _required("is_trial_period"),
    *(
        _optional(name)
        for name in (
            "item_id",
            "app_item_id",
            "web_order_line_item_id",
            "unique_identifier",
            "unique_vendor_identifier",
            "expires_date",
            "expires_date_ms",
            "is_in_intro_offer_period",
            "bvrs",
            "version_external_identifier",
            "promotional_offer_id",
            "offer_code_ref_name",
            "app_account_token",
        )
    ),
)

_PENDING_RENEWAL_INFO: Final = (
    _required("auto_renew_status", _one_of("0", "1")),
    _optional("is_in_billing_retry_period", _one_of("0", "1")),
    _optional("expiration_intent", _one_of("1", "2", "3", "4", "5")),
    _optional("auto_renew_product_id"),
    _optional("grace_period_expires_date_ms"),
    _required("original_transaction_id"),
    _required("product_id"),
    _optional("price_consent_status"),
    _optional("price_increase_status"),
)


def _pick(source: Mapping[str, Any], fields: Sequence[_Field]) -> dict[str, Any]:
    """Copy only whitelisted fields, failing on the first bad one (spec §3.2).

    Absent optional fields are left out: upstream they are present-but-``undefined``, which
    JSON and the data-mapper both drop. A JSON ``null`` is present and not a string, so it fails.
    """
    picked: dict[str, Any] = {}
    for field in fields:
        if field.name not in source:
            if field.required:
                raise InvalidPayloadError(f"missing field: {field.name}")
            continue
        value = source[field.name]
        if not field.check(value):
            raise InvalidPayloadError(f"invalid field: {field.name}")
        picked[field.name] = value
    return picked


def _object(value: object, name: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidPayloadError(f"missing field: {name}" if value is None else f"invalid field: {name}")
    return value


def _array_of_objects(container: Mapping[str, Any], name: str) -> list[Mapping[str, Any]]:
    if name not in container:
        raise InvalidPayloadError(f"missing field: {name}")
    value = container[name]
    if not isinstance(value, list):
        raise InvalidPayloadError(f"invalid field: {name}")
    return [_object(item, name) for item in value]


def _original_transaction_id(source: Mapping[str, Any]) -> dict[str, Any]:
    """Top-level ``original_transaction_id``: string, number (stringified) or absent (spec §3.2)."""
    if "original_transaction_id" not in source:
        return {}
    value = source["original_transaction_id"]
    if isinstance(value, str):
        return {"original_transaction_id": value}
    if is_number(value):
        return {"original_transaction_id": number_to_string(value)}
    raise InvalidPayloadError("invalid field: original_transaction_id")


def parse_notification(value: object) -> dict[str, Any]:
    """Validate an already-decoded V1 notification and return the whitelisted copy (spec §3.2).

    The five derived top-level fields come from the *first* ``latest_receipt_info`` element in
    the order Apple sent (spec §13.2.4) and overwrite any input keys of the same name.
    ``purchase_date_ms`` / ``expires_date_ms`` use ``Number()``, so ``"TEST"`` yields NaN (§12.1.4).
    """
    top = _object(value, "payload")
    parsed = _pick(top, _TOP_LEVEL)
    parsed.update(_original_transaction_id(top))
    if "unified_receipt" not in top:
        raise InvalidPayloadError("missing field: unified_receipt")
    receipt_source = _object(top["unified_receipt"], "unified_receipt")
    receipt = _pick(receipt_source, _UNIFIED_RECEIPT)
    receipt["latest_receipt_info"] = [
        _pick(info, _RECEIPT_INFO) for info in _array_of_objects(receipt_source, "latest_receipt_info")
    ]
    receipt["pending_renewal_info"] = [
        _pick(info, _PENDING_RENEWAL_INFO)
        for info in _array_of_objects(receipt_source, "pending_renewal_info")
    ]
    parsed["unified_receipt"] = receipt
    first: Mapping[str, Any] = receipt["latest_receipt_info"][0] if receipt["latest_receipt_info"] else {}
    parsed["promotional_offer_id"] = first.get("promotional_offer_id")
    parsed["promotional_offer_name"] = first.get("offer_code_ref_name")
    parsed["product_id"] = first.get("product_id", "")
    parsed["purchase_date_ms"] = js_number(first.get("purchase_date_ms") or "0")
    parsed["expires_date_ms"] = js_number(first.get("expires_date_ms", "0"))
    return parsed


def parse_payload(body: str) -> dict[str, Any]:
    """``parsePayload``: JSON-decode a request body and validate it as a V1 notification (spec §3.2)."""
    try:
        value = json.loads(body)
    except (json.JSONDecodeError, TypeError) as error:
        raise InvalidPayloadError(f"invalid JSON: {error}") from None
    return parse_notification(value)


_KEPT_IN_LOGS: Final = frozenset(
    {"environment", "product_id", "notification_type", "auto_renew_status", "status", "purchase_date"}
)


def _typeof(value: object) -> str:
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    return "number" if is_number(value) else "object"


def redact_for_log(value: object, key: str | None = None) -> object:
    """The "debug" dump logged on parse failure: every value becomes ``<type>`` except a few keys (§3.2)."""
    if key in _KEPT_IN_LOGS:
        return value
    if isinstance(value, Mapping):
        return {name: redact_for_log(item, name) for name, item in value.items()}
    if isinstance(value, list):
        return [redact_for_log(item) for item in value]
    return f"<{_typeof(value)}>"


# --- §3.3 SubscriptionEvent from a V1 notification -------------------------------------------

#: CODE only: receipts longer than this are blanked in the event (DynamoDB 400 KB item limit, §3.3).
MAX_EVENT_RECEIPT_LENGTH: Final = 100 * 1024
#: CODE only: SQS guard, ``200 * 2024`` sic -- a typo for 1024 kept for parity (spec §3.3, §13.2.3).
MAX_SQS_RECEIPT_LENGTH: Final = 200 * 2024


def _by_purchase_date_descending(left: Mapping[str, Any], right: Mapping[str, Any]) -> int:
    """JS comparator ``parseInt(b) - parseInt(a)``; a NaN result counts as "equal", like ``Array.sort``."""
    a, b = parse_int(left.get("purchase_date_ms")), parse_int(right.get("purchase_date_ms"))
    return 0 if a is None or b is None else b - a


def to_dynamo_event(
    notification: Mapping[str, Any], *, now: datetime, extra: str = "", truncate_large_receipt: bool = False
) -> dict[str, Any]:
    """``toDynamoEventAppleAsync``: the SubscriptionEvent row of a parsed notification (spec §3.3, §1.4).

    ``extra`` is the already-fetched StoreKit JSON string (§3.7), or ``''`` when StoreKit is not
    used or failed. ``truncate_large_receipt`` is true in CODE only. Upstream sorts the receipts in
    place, so ``applePayload`` carries them most-recent first; the input here is not mutated.
    Raises ``ValueError`` for an empty ``latest_receipt_info`` (upstream crashes, §13.1.2).
    """
    payload = copy.deepcopy(dict(notification))
    receipt = payload["unified_receipt"]
    receipts: list[Mapping[str, Any]] = receipt["latest_receipt_info"]
    if not receipts:
        raise ValueError("latest_receipt_info is empty: no most recent receipt")
    receipts.sort(key=functools.cmp_to_key(_by_purchase_date_descending))
    most_recent = receipts[0]
    if truncate_large_receipt and len(receipt["latest_receipt"]) > MAX_EVENT_RECEIPT_LENGTH:
        receipt["latest_receipt"] = ""
    platform = platform_from_apple_bundle(payload["bid"])
    timestamp = to_iso(now)
    return {
        "subscriptionId": most_recent["original_transaction_id"],
        "timestampAndType": f"{timestamp}|{payload['notification_type']}",
        "date": iso_day(now),
        "timestamp": timestamp,
        "eventType": payload["notification_type"],
        "platform": platform.value if platform is not None else UNKNOWN_PLATFORM,
        "appId": payload["bid"],
        "freeTrial": most_recent.get("is_trial_period") == "true"
        or most_recent.get("is_in_intro_offer_period") == "true",  # intro offers count as trials (§3.3)
        "googlePayload": None,
        "applePayload": payload,
        "ttl": date_to_second_timestamp(thirty_months(now)),
        "promotional_offer_id": payload.get("promotional_offer_id"),
        "promotional_offer_name": payload.get("promotional_offer_name"),
        "product_id": payload.get("product_id", ""),
        "purchase_date_ms": payload.get("purchase_date_ms", 0),
        "expires_date_ms": payload.get("expires_date_ms", 0),
        "extra": extra,
    }


def to_sqs_sub_reference(
    notification: Mapping[str, Any], *, truncate_large_receipt: bool = False
) -> dict[str, str]:
    """``toSqsSubReference``: ``{"receipt": latest_receipt}`` for the update-subs queue (spec §1.6, §3.3)."""
    receipt: str = notification["unified_receipt"]["latest_receipt"]
    if truncate_large_receipt and len(receipt) > MAX_SQS_RECEIPT_LENGTH:
        receipt = ""
    return {"receipt": receipt}
