"""Emulated App Store subscriptions and their life cycle.

A subscription is kept as Apple describes it: one ``originalTransactionId`` with one transaction
per billing period, plus the renewal state (auto-renew, billing retry, grace period, expiration
intent) and the Get All Subscription Statuses ``status`` (1 active, 2 expired, 3 billing retry,
4 grace period, 5 revoked). Each life-cycle call changes that state and returns the
:class:`Step` that the App Store would notify, so tests and the sender drive both from one place.

The records live in the shared :class:`DocumentStore`, in memory or in SQLite (``path``), so a
persisted emulator and a separate ``send-notification`` process see the same subscriptions.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from supporterflow.emulators.storage import Document, DocumentStore

ACTIVE, EXPIRED, BILLING_RETRY, GRACE_PERIOD, REVOKED = 1, 2, 3, 4, 5
SANDBOX, PRODUCTION = "Sandbox", "Production"
DEFAULT_PERIOD = timedelta(days=30)
GRACE_PERIOD_LENGTH = timedelta(days=16)
"""Apple's longest billing grace period; the emulator always grants all of it."""
EXPIRATION_VOLUNTARY, EXPIRATION_BILLING_ERROR = 1, 2
_FIRST_TRANSACTION_ID = 2_000_000_000_000_000
"""Sandbox transaction ids are 16-digit numbers starting with 2."""

_SUBSCRIPTIONS = "subscriptions"
_COUNTERS = "counters"
_RECEIPT_MARK = "supporterflow-emulated-receipt"

Clock = Callable[[], datetime]
ACTIONS = (
    "renew",
    "auto-renew-on",
    "auto-renew-off",
    "fail-to-renew",
    "fail-to-renew-grace",
    "expire",
    "refund",
    "revoke",
)
"""The life-cycle steps after ``subscribe``, by the names the control API and CLI use."""


class UnknownSubscription(KeyError):
    """No subscription has this original transaction id (or transaction id)."""


@dataclass(frozen=True)
class Step:
    """What one life-cycle call did, as the App Store would notify it: the V2
    ``notificationType``/``subtype`` and the V1 ``notification_type``."""

    original_transaction_id: str
    notification_type: str
    subtype: str | None
    v1_notification_type: str


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def receipt_data(original_transaction_id: str, environment: str) -> str:
    """The emulator's stand-in for a base64 app receipt: opaque to clients, decodable here."""
    body = {
        "mark": _RECEIPT_MARK,
        "originalTransactionId": original_transaction_id,
        "environment": environment,
    }
    return base64.b64encode(json.dumps(body).encode()).decode()


def parse_receipt_data(receipt: Any) -> tuple[str, str] | None:
    """``(originalTransactionId, environment)`` of an emulated receipt, None when it is not one
    (``verifyReceipt`` then answers 21002, malformed)."""
    if not isinstance(receipt, str):
        return None
    try:
        body = json.loads(base64.b64decode(receipt, validate=True))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    if not isinstance(body, dict) or body.get("mark") != _RECEIPT_MARK:
        return None
    otid, environment = body.get("originalTransactionId"), body.get("environment")
    if not isinstance(otid, str) or environment not in (SANDBOX, PRODUCTION):
        return None
    return otid, environment


class AppleStoreState:
    """Subscriptions keyed by ``originalTransactionId``; ``clock`` is injectable so tests can
    freeze time inside the certificates' validity window."""

    def __init__(self, path: Path | str | None = None, *, clock: Clock | None = None) -> None:
        self.store = DocumentStore(path)
        self.clock: Clock = clock or (lambda: datetime.now(UTC))
        self.forced_receipt_statuses: list[int] = []
        """Statuses the next ``verifyReceipt`` calls answer, first first (kept in memory only)."""

    def now_ms(self) -> int:
        return _ms(self.clock())

    def _next_transaction_id(self) -> str:
        with self.store.transaction():
            counter = self.store.get(_COUNTERS, "transactions") or {"next": _FIRST_TRANSACTION_ID}
            self.store.put(_COUNTERS, "transactions", {"next": counter["next"] + 1})
        return str(counter["next"])

    def _new_transaction(self, purchase_ms: int, period_ms: int) -> Document:
        transaction_id = self._next_transaction_id()
        return {
            "transactionId": transaction_id,
            "webOrderLineItemId": str(int(transaction_id) + 1_000_000_000_000),
            "purchaseDate": purchase_ms,
            "expiresDate": purchase_ms + period_ms,
        }

    def get(self, original_transaction_id: str) -> Document:
        found = self.store.get(_SUBSCRIPTIONS, original_transaction_id)
        if found is None:
            raise UnknownSubscription(original_transaction_id)
        return found

    def find(self, any_transaction_id: str) -> Document:
        """The subscription owning this original or renewal transaction id. Clients almost always
        ask by original id, the key: only a renewal's id needs the scan."""
        found = self.store.get(_SUBSCRIPTIONS, any_transaction_id)
        if found is not None:
            return found
        for subscription in self.store.documents(_SUBSCRIPTIONS):
            ids = {subscription["originalTransactionId"]} | {
                t["transactionId"] for t in subscription["transactions"]
            }
            if any_transaction_id in ids:
                return subscription
        raise UnknownSubscription(any_transaction_id)

    def subscribe(
        self,
        *,
        bundle_id: str,
        product_id: str,
        environment: str = SANDBOX,
        period: timedelta = DEFAULT_PERIOD,
        subscription_group: str = "20000001",
        app_account_token: str | None = None,
    ) -> Step:
        """A first purchase: one transaction from now, auto-renew on, active."""
        if environment not in (SANDBOX, PRODUCTION):
            raise ValueError(f"environment must be {SANDBOX!r} or {PRODUCTION!r}")
        now, period_ms = self.now_ms(), int(period.total_seconds() * 1000)
        first = self._new_transaction(now, period_ms)
        subscription: Document = {
            "originalTransactionId": first["transactionId"],
            "bundleId": bundle_id,
            "environment": environment,
            "productId": product_id,
            "subscriptionGroupIdentifier": subscription_group,
            "originalPurchaseDate": now,
            "periodMs": period_ms,
            "appAccountToken": app_account_token,
            "transactions": [first],
            "autoRenewStatus": 1,
            "isInBillingRetryPeriod": False,
            "gracePeriodExpiresDate": None,
            "expirationIntent": None,
            "status": ACTIVE,
        }
        self.store.put(_SUBSCRIPTIONS, first["transactionId"], subscription)
        return Step(first["transactionId"], "SUBSCRIBED", "INITIAL_BUY", "INITIAL_BUY")

    def _change(self, original_transaction_id: str, change: Callable[[Document], Step]) -> Step:
        with self.store.transaction():
            subscription = self.get(original_transaction_id)
            step = change(subscription)
            self.store.put(_SUBSCRIPTIONS, original_transaction_id, subscription)
        return step

    def _end_period_now(self, subscription: Document) -> int:
        """The emulator runs a life cycle in minutes: a step that happens at the end of a billing
        period (a failed renewal, an expiry) ends the current period now, so that the expiry
        date agrees with the status in every answer, V1 and V2. Returns the new expiry."""
        latest = subscription["transactions"][-1]
        latest["expiresDate"] = min(latest["expiresDate"], self.now_ms())
        return int(latest["expiresDate"])

    def renew(self, original_transaction_id: str) -> Step:
        """A new billing period: right after the last one, or from now when recovering from
        billing retry (Apple's ``BILLING_RECOVERY``, V1 ``DID_RECOVER``)."""

        def change(subscription: Document) -> Step:
            recovering = subscription["status"] in (BILLING_RETRY, GRACE_PERIOD)
            start = self.now_ms() if recovering else subscription["transactions"][-1]["expiresDate"]
            subscription["transactions"].append(self._new_transaction(start, subscription["periodMs"]))
            subscription.update(
                status=ACTIVE,
                isInBillingRetryPeriod=False,
                gracePeriodExpiresDate=None,
                expirationIntent=None,
            )
            if recovering:
                return Step(original_transaction_id, "DID_RENEW", "BILLING_RECOVERY", "DID_RECOVER")
            return Step(original_transaction_id, "DID_RENEW", None, "DID_RENEW")

        return self._change(original_transaction_id, change)

    def set_auto_renew(self, original_transaction_id: str, on: bool) -> Step:
        """The customer turns auto-renew on or off; the current period is unchanged."""

        def change(subscription: Document) -> Step:
            subscription["autoRenewStatus"] = 1 if on else 0
            subtype = "AUTO_RENEW_ENABLED" if on else "AUTO_RENEW_DISABLED"
            return Step(
                original_transaction_id, "DID_CHANGE_RENEWAL_STATUS", subtype, "DID_CHANGE_RENEWAL_STATUS"
            )

        return self._change(original_transaction_id, change)

    def fail_to_renew(self, original_transaction_id: str, grace: bool) -> Step:
        """A billing failure at renewal: billing retry, with a grace period when ``grace``."""

        def change(subscription: Document) -> Step:
            expires = self._end_period_now(subscription)
            grace_ms = int(GRACE_PERIOD_LENGTH.total_seconds() * 1000)
            subscription.update(
                status=GRACE_PERIOD if grace else BILLING_RETRY,
                isInBillingRetryPeriod=True,
                gracePeriodExpiresDate=expires + grace_ms if grace else None,
                expirationIntent=EXPIRATION_BILLING_ERROR,
            )
            subtype = "GRACE_PERIOD" if grace else None
            return Step(original_transaction_id, "DID_FAIL_TO_RENEW", subtype, "DID_FAIL_TO_RENEW")

        return self._change(original_transaction_id, change)

    def expire(self, original_transaction_id: str) -> Step:
        """The subscription ends: voluntarily when auto-renew was off, else after billing retry.
        V1 had no expiry notification; Apple sent ``DID_CHANGE_RENEWAL_STATUS``."""

        def change(subscription: Document) -> Step:
            self._end_period_now(subscription)
            voluntary = subscription["autoRenewStatus"] == 0
            subscription.update(
                status=EXPIRED,
                isInBillingRetryPeriod=False,
                gracePeriodExpiresDate=None,
                expirationIntent=EXPIRATION_VOLUNTARY if voluntary else EXPIRATION_BILLING_ERROR,
            )
            subtype = "VOLUNTARY" if voluntary else "BILLING_RETRY"
            return Step(original_transaction_id, "EXPIRED", subtype, "DID_CHANGE_RENEWAL_STATUS")

        return self._change(original_transaction_id, change)

    def refund(self, original_transaction_id: str) -> Step:
        """Apple refunds the latest transaction; the subscription is revoked (status 5)."""
        return self._revoke(original_transaction_id, "REFUND")

    def revoke(self, original_transaction_id: str) -> Step:
        """Family Sharing access is withdrawn; the subscription is revoked (status 5)."""
        return self._revoke(original_transaction_id, "REVOKE")

    def _revoke(self, original_transaction_id: str, notification_type: str) -> Step:
        def change(subscription: Document) -> Step:
            # Apple gives a reason (0 other, 1 app issue) only when it refunds; a Family Sharing
            # revocation has a date and no reason.
            reason = 0 if notification_type == "REFUND" else None
            subscription["transactions"][-1].update(revocationDate=self.now_ms(), revocationReason=reason)
            subscription.update(status=REVOKED, autoRenewStatus=0, isInBillingRetryPeriod=False)
            return Step(original_transaction_id, notification_type, None, notification_type)

        return self._change(original_transaction_id, change)

    def apply(self, action: str, original_transaction_id: str) -> Step:
        """One life-cycle step by name (see :data:`ACTIONS`), for the control API and the CLI."""
        steps: dict[str, Callable[[str], Step]] = {
            "renew": self.renew,
            "auto-renew-on": lambda otid: self.set_auto_renew(otid, True),
            "auto-renew-off": lambda otid: self.set_auto_renew(otid, False),
            "fail-to-renew": lambda otid: self.fail_to_renew(otid, grace=False),
            "fail-to-renew-grace": lambda otid: self.fail_to_renew(otid, grace=True),
            "expire": self.expire,
            "refund": self.refund,
            "revoke": self.revoke,
        }
        if action not in steps:
            raise ValueError(f"action must be one of {', '.join(ACTIONS)}")
        return steps[action](original_transaction_id)

    def receipt(self, original_transaction_id: str) -> str:
        """The ``receipt-data`` a device would send for this subscription."""
        return receipt_data(original_transaction_id, self.get(original_transaction_id)["environment"])

    def reset(self) -> None:
        self.store.clear()
        self.forced_receipt_statuses.clear()

    def snapshot(self) -> dict[str, Any]:
        return {"subscriptions": self.store.documents(_SUBSCRIPTIONS)}

    def close(self) -> None:
        self.store.close()
