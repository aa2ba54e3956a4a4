"""The deprecated formats the original system still speaks (spec/mobile-purchases.md §3.2-§3.4):
``verifyReceipt`` responses and V1 status-update notifications.

Everything is a string except ``status`` (as Apple sends it); dates come as ``*_ms`` strings and
as ``"2019-09-10 11:09:54 Etc/GMT"`` text. ``latest_receipt_info`` is newest first.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from supporterflow.emulators.apple.store import PRODUCTION, Step, receipt_data
from supporterflow.emulators.storage import Document

MALFORMED, NOT_AUTHENTIC, WRONG_SECRET = 21002, 21003, 21004
SANDBOX_RECEIPT_IN_PRODUCTION, PRODUCTION_RECEIPT_IN_SANDBOX = 21007, 21008


def _date(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S Etc/GMT")


def receipt_infos(subscription: Document) -> list[dict[str, str]]:
    """One ``latest_receipt_info`` element per transaction, newest first."""
    infos = []
    for transaction in reversed(subscription["transactions"]):
        info = {
            "quantity": "1",
            "product_id": subscription["productId"],
            "transaction_id": transaction["transactionId"],
            "original_transaction_id": subscription["originalTransactionId"],
            "purchase_date": _date(transaction["purchaseDate"]),
            "purchase_date_ms": str(transaction["purchaseDate"]),
            "original_purchase_date": _date(subscription["originalPurchaseDate"]),
            "original_purchase_date_ms": str(subscription["originalPurchaseDate"]),
            "expires_date": _date(transaction["expiresDate"]),
            "expires_date_ms": str(transaction["expiresDate"]),
            "web_order_line_item_id": transaction["webOrderLineItemId"],
            "is_trial_period": "false",
            "is_in_intro_offer_period": "false",
            "in_app_ownership_type": "PURCHASED",
            "subscription_group_identifier": subscription["subscriptionGroupIdentifier"],
        }
        if transaction.get("revocationDate") is not None:
            info["cancellation_date"] = _date(transaction["revocationDate"])
            info["cancellation_date_ms"] = str(transaction["revocationDate"])
            if transaction.get("revocationReason") is not None:
                info["cancellation_reason"] = str(transaction["revocationReason"])
        if subscription["appAccountToken"]:
            info["app_account_token"] = subscription["appAccountToken"]
        infos.append(info)
    return infos


def pending_renewal_info(subscription: Document) -> dict[str, str]:
    info = {
        "auto_renew_product_id": subscription["productId"],
        "product_id": subscription["productId"],
        "original_transaction_id": subscription["originalTransactionId"],
        "auto_renew_status": str(subscription["autoRenewStatus"]),
        "is_in_billing_retry_period": "1" if subscription["isInBillingRetryPeriod"] else "0",
    }
    if subscription["expirationIntent"] is not None:
        info["expiration_intent"] = str(subscription["expirationIntent"])
    if subscription["gracePeriodExpiresDate"] is not None:
        info["grace_period_expires_date_ms"] = str(subscription["gracePeriodExpiresDate"])
        info["grace_period_expires_date"] = _date(subscription["gracePeriodExpiresDate"])
    return info


def verify_receipt_response(
    subscription: Document, receipt: str, *, exclude_old_transactions: bool, request_ms: int
) -> dict[str, Any]:
    """A status-0 ``verifyReceipt`` body for an emulated receipt of ``subscription``."""
    infos = receipt_infos(subscription)
    production = subscription["environment"] == PRODUCTION
    return {
        "status": 0,
        "environment": subscription["environment"],
        "receipt": {
            "receipt_type": "Production" if production else "ProductionSandbox",
            "bundle_id": subscription["bundleId"],
            "application_version": "1",
            "original_application_version": "1.0",
            "receipt_creation_date_ms": str(request_ms),
            "request_date_ms": str(request_ms),
            "in_app": list(reversed(infos)),
        },
        "latest_receipt": receipt,
        "latest_receipt_info": infos[:1] if exclude_old_transactions else infos,
        "pending_renewal_info": [pending_renewal_info(subscription)],
    }


def v1_notification(step: Step, subscription: Document, *, password: str | None = None) -> dict[str, Any]:
    """The V1 status-update notification body for ``step`` (spec §3.2): top-level
    ``environment`` is ``PROD`` or ``Sandbox``, the receipt's is ``Production`` or ``Sandbox``."""
    production = subscription["environment"] == PRODUCTION
    body: dict[str, Any] = {
        "environment": "PROD" if production else "Sandbox",
        "bid": subscription["bundleId"],
        "bvrs": "1",
        "notification_type": step.v1_notification_type,
        "auto_renew_status": "true" if subscription["autoRenewStatus"] else "false",
        "auto_renew_product_id": subscription["productId"],
        "original_transaction_id": subscription["originalTransactionId"],
        "unified_receipt": {
            "environment": subscription["environment"],
            "latest_receipt": receipt_data(
                subscription["originalTransactionId"], subscription["environment"]
            ),
            "status": 0,
            "latest_receipt_info": receipt_infos(subscription),
            "pending_renewal_info": [pending_renewal_info(subscription)],
        },
    }
    if password is not None:
        body["password"] = password
    return body
