"""A subscription as Apple's signed payloads: ``JWSTransactionDecodedPayload`` (the latest
transaction), ``JWSRenewalInfoDecodedPayload`` and the V2 notification around them.

Field names and enum values follow Apple's documentation (and the ``app-store-server-library``
models): dates are milliseconds since the epoch, ``environment`` is ``Sandbox`` or
``Production``, ``type`` is ``Auto-Renewable Subscription``.
"""

from __future__ import annotations

from typing import Any

from supporterflow.emulators.apple.signing import AppStoreSigner, notification_payload
from supporterflow.emulators.apple.store import Step
from supporterflow.emulators.storage import Document

STOREFRONT, STOREFRONT_ID, CURRENCY, PRICE_MILLIS = "GBR", "143444", "GBP", 4990
"""A UK storefront and a 4.99 GBP price: the emulator sells one plausible product."""


def _present(payload: dict[str, Any]) -> dict[str, Any]:
    """Apple leaves absent values out rather than sending null."""
    return {key: value for key, value in payload.items() if value is not None}


def transaction_payload(subscription: Document, signed_date: int) -> dict[str, Any]:
    """The ``JWSTransactionDecodedPayload`` of the subscription's latest transaction."""
    latest = subscription["transactions"][-1]
    renewal = len(subscription["transactions"]) > 1
    return _present(
        {
            "transactionId": latest["transactionId"],
            "originalTransactionId": subscription["originalTransactionId"],
            "webOrderLineItemId": latest["webOrderLineItemId"],
            "bundleId": subscription["bundleId"],
            "productId": subscription["productId"],
            "subscriptionGroupIdentifier": subscription["subscriptionGroupIdentifier"],
            "purchaseDate": latest["purchaseDate"],
            "originalPurchaseDate": subscription["originalPurchaseDate"],
            "expiresDate": latest["expiresDate"],
            "quantity": 1,
            "type": "Auto-Renewable Subscription",
            "appAccountToken": subscription["appAccountToken"],
            "inAppOwnershipType": "PURCHASED",
            "signedDate": signed_date,
            "revocationReason": latest.get("revocationReason"),
            "revocationDate": latest.get("revocationDate"),
            "environment": subscription["environment"],
            "transactionReason": "RENEWAL" if renewal else "PURCHASE",
            "storefront": STOREFRONT,
            "storefrontId": STOREFRONT_ID,
            "price": PRICE_MILLIS,
            "currency": CURRENCY,
        }
    )


def renewal_info_payload(subscription: Document, signed_date: int) -> dict[str, Any]:
    """The ``JWSRenewalInfoDecodedPayload``: what happens at the end of the current period."""
    latest = subscription["transactions"][-1]
    return _present(
        {
            "originalTransactionId": subscription["originalTransactionId"],
            "autoRenewProductId": subscription["productId"],
            "productId": subscription["productId"],
            "autoRenewStatus": subscription["autoRenewStatus"],
            "isInBillingRetryPeriod": subscription["isInBillingRetryPeriod"],
            "gracePeriodExpiresDate": subscription["gracePeriodExpiresDate"],
            "expirationIntent": subscription["expirationIntent"],
            "signedDate": signed_date,
            "environment": subscription["environment"],
            "recentSubscriptionStartDate": subscription["transactions"][0]["purchaseDate"],
            "renewalDate": latest["expiresDate"],
            "currency": CURRENCY,
            "renewalPrice": PRICE_MILLIS,
            "appAccountToken": subscription["appAccountToken"],
        }
    )


def last_transaction_item(subscription: Document, signer: AppStoreSigner, signed_date: int) -> dict[str, Any]:
    """A ``lastTransactions`` item of Get All Subscription Statuses."""
    return {
        "originalTransactionId": subscription["originalTransactionId"],
        "status": subscription["status"],
        "signedTransactionInfo": signer.sign(transaction_payload(subscription, signed_date)),
        "signedRenewalInfo": signer.sign(renewal_info_payload(subscription, signed_date)),
    }


def signed_notification(
    step: Step,
    subscription: Document,
    signer: AppStoreSigner,
    signed_date: int,
    *,
    app_apple_id: int | None = None,
) -> str:
    """The V2 ``signedPayload`` Apple would POST for ``step``."""
    return signer.sign(
        notification_payload(
            notification_type=step.notification_type,
            subtype=step.subtype,
            bundle_id=subscription["bundleId"],
            environment=subscription["environment"],
            signed_date=signed_date,
            app_apple_id=app_apple_id,
            signed_transaction_info=signer.sign(transaction_payload(subscription, signed_date)),
            signed_renewal_info=signer.sign(renewal_info_payload(subscription, signed_date)),
            status=subscription["status"],
        )
    )
