"""Fixtures reproducing the upstream Jest fixtures (spec §12.1.4, §12.2, §12.3, §12.10)."""

from __future__ import annotations

import json
from typing import Any


def apple_notification(
    app_account_token: str | None = None,
    bid: str = "uk.co.guardian.iphone2",
    product_id: str = "uk.co.guardian.gla.12months.2018Dec.withFreeTrial",
) -> dict[str, Any]:
    """The all-``'TEST'`` V1 notification of ``pubsub.test.ts`` / ``apple-common.test.ts``."""
    receipt_info: dict[str, Any] = {
        "app_item_id": "TEST",
        "bvrs": "TEST",
        "is_in_intro_offer_period": "false",
        "is_trial_period": "true",
        "item_id": "TEST",
        "original_transaction_id": "TEST",
        "original_purchase_date_ms": "TEST",
        "product_id": product_id,
        "purchase_date_ms": "TEST",
        "expires_date_ms": "TEST",
        "quantity": "1",
        "transaction_id": "TEST",
        "unique_identifier": "TEST",
        "unique_vendor_identifier": "TEST",
        "version_external_identifier": "TEST",
        "web_order_line_item_id": "TEST",
        "purchase_date_pst": "TEST",
        "in_app_ownership_type": "PURCHASED",
    }
    if app_account_token is not None:
        receipt_info["app_account_token"] = app_account_token
    return {
        "original_transaction_id": "TEST",
        "cancellation_date": "TEST",
        "web_order_line_item_id": "TEST",
        "auto_renew_adam_id": "TEST",
        "expiration_intent": "TEST",
        "auto_renew_product_id": product_id,
        "auto_renew_status": "true",
        "auto_renew_status_change_date": "TEST",
        "bid": bid,
        "bvrs": "TEST",
        "environment": "Sandbox",
        "notification_type": "INITIAL_BUY",
        "password": "TEST",
        "unified_receipt": {
            "environment": "Sandbox",
            "latest_receipt": "TEST",
            "latest_receipt_info": [receipt_info],
            "pending_renewal_info": [
                {
                    "auto_renew_product_id": product_id,
                    "auto_renew_status": "1",
                    "expiration_intent": "1",
                    "is_in_billing_retry_period": "0",
                    "original_transaction_id": "TEST",
                    "product_id": product_id,
                    "price_consent_status": "",
                    "price_increase_status": "",
                }
            ],
            "status": 0,
        },
        "promotional_offer_id": "TEST",
        "promotional_offer_name": "TEST",
        "product_id": "TEST",
        "purchase_date_ms": 0,
        "expires_date_ms": 0,
    }


def apple_notification_body(**kwargs: Any) -> str:
    return json.dumps(apple_notification(**kwargs))


RECEIPT = "cmVjZWlwdA=="
MONTHLY_TRIAL = "uk.co.guardian.gla.1month.2018May.withFreeTrial"


def receipt_info(
    original_transaction_id: str = "1234", expires_date_ms: str | None = "1570705794000", **extra: str
) -> dict[str, str]:
    """A verifyReceipt receipt-info element as in ``appleValidateReceipts.test.ts`` (spec §12.3)."""
    info = {
        "bundle_id": "uk.co.guardian.iphone2",
        "is_trial_period": "false",
        "original_purchase_date_ms": "1567081703000",
        "original_transaction_id": original_transaction_id,
        "product_id": MONTHLY_TRIAL,
        **extra,
    }
    if expires_date_ms is not None:
        info["expires_date_ms"] = expires_date_ms
    return info
