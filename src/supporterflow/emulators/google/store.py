"""Emulated Google Play subscriptions, the product catalogue, and their life cycle.

A subscription purchase is kept the way Google describes it: one purchase token, its product and
base plan, the current period (start, expiry), auto-renew, the ``subscriptionState`` of
``subscriptionsv2`` and the v1 ``paymentState``, the order id (``GPA.xxxx-xxxx-xxxx-xxxxx``, each
renewal appending ``..0``, ``..1``, ...), and how it was cancelled. Each life-cycle call changes
that state and returns the :class:`Step` Google would notify (a Real-time developer notification),
so tests and the sender drive both from one place. Answers are built from this record by
:mod:`.payloads`, so v1 and v2 always agree.

The life cycle is compressed, like the App Store emulator's: a step that happens at the end of a
billing period (account hold, pause, revocation, expiry) ends the current period *now*, so that
the expiry time agrees with the state in every answer.

Records live in the shared :class:`DocumentStore`, in memory or in SQLite (``path``), so a
persisted emulator and a separate ``send-notification`` process see the same purchases.
"""

from __future__ import annotations

import calendar
import re
import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from supporterflow.emulators.storage import Document, DocumentStore

# subscriptionsv2 ``subscriptionState`` values.
PENDING = "SUBSCRIPTION_STATE_PENDING"
ACTIVE = "SUBSCRIPTION_STATE_ACTIVE"
PAUSED = "SUBSCRIPTION_STATE_PAUSED"
IN_GRACE_PERIOD = "SUBSCRIPTION_STATE_IN_GRACE_PERIOD"
ON_HOLD = "SUBSCRIPTION_STATE_ON_HOLD"
CANCELED = "SUBSCRIPTION_STATE_CANCELED"
EXPIRED = "SUBSCRIPTION_STATE_EXPIRED"
PENDING_PURCHASE_CANCELED = "SUBSCRIPTION_STATE_PENDING_PURCHASE_CANCELED"

# v1 ``paymentState``.
PAYMENT_PENDING, PAYMENT_RECEIVED, PAYMENT_FREE_TRIAL, PAYMENT_DEFERRED = 0, 1, 2, 3
# v1 ``cancelReason``; v2 ``canceledStateContext`` has one member per reason.
CANCEL_USER, CANCEL_SYSTEM, CANCEL_REPLACED, CANCEL_DEVELOPER = 0, 1, 2, 3
CANCEL_REASONS = {"user": CANCEL_USER, "system": CANCEL_SYSTEM, "developer": CANCEL_DEVELOPER}

# SubscriptionNotification ``notificationType`` (Google's Real-time developer notifications).
SUBSCRIPTION_RECOVERED = 1
SUBSCRIPTION_RENEWED = 2
SUBSCRIPTION_CANCELED = 3
SUBSCRIPTION_PURCHASED = 4
SUBSCRIPTION_ON_HOLD = 5
SUBSCRIPTION_IN_GRACE_PERIOD = 6
SUBSCRIPTION_RESTARTED = 7
SUBSCRIPTION_PAUSED = 10
SUBSCRIPTION_REVOKED = 12
SUBSCRIPTION_EXPIRED = 13
NOTIFICATION_NAMES = {
    SUBSCRIPTION_RECOVERED: "SUBSCRIPTION_RECOVERED",
    SUBSCRIPTION_RENEWED: "SUBSCRIPTION_RENEWED",
    SUBSCRIPTION_CANCELED: "SUBSCRIPTION_CANCELED",
    SUBSCRIPTION_PURCHASED: "SUBSCRIPTION_PURCHASED",
    SUBSCRIPTION_ON_HOLD: "SUBSCRIPTION_ON_HOLD",
    SUBSCRIPTION_IN_GRACE_PERIOD: "SUBSCRIPTION_IN_GRACE_PERIOD",
    SUBSCRIPTION_RESTARTED: "SUBSCRIPTION_RESTARTED",
    SUBSCRIPTION_PAUSED: "SUBSCRIPTION_PAUSED",
    SUBSCRIPTION_REVOKED: "SUBSCRIPTION_REVOKED",
    SUBSCRIPTION_EXPIRED: "SUBSCRIPTION_EXPIRED",
}
ONE_TIME_PRODUCT_PURCHASED = 1
PRODUCT_TYPE_SUBSCRIPTION, REFUND_TYPE_FULL = 1, 1

# Kinds of DeveloperNotification, by the member Google fills in.
SUBSCRIPTION, VOIDED, TEST, ONE_TIME = (
    "subscriptionNotification",
    "voidedPurchaseNotification",
    "testNotification",
    "oneTimeProductNotification",
)

DEFAULT_GRACE_PERIOD, DEFAULT_ACCOUNT_HOLD = "P7D", "P30D"
FREE_TRIAL_LENGTH = "P7D"
DEFAULT_PAUSE = "P1M"
TOKEN_LIFETIME_AFTER_EXPIRY = timedelta(days=60)
"""Google answers 410 for a purchase that expired more than 60 days ago."""
REGION, CURRENCY = "GB", "GBP"
DEFAULT_PRICE = {"currencyCode": CURRENCY, "units": "4", "nanos": 990_000_000}

_PURCHASES = "purchases"
_PRODUCTS = "products"
_COUNTERS = "counters"
_FIRST_ORDER = 33_000_000_000_000_000
"""17 digits, printed as ``GPA.3300-0000-0000-00000``."""
_DURATION = re.compile(r"P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Clock = Callable[[], datetime]
ACTIONS = (
    "renew",
    "cancel",
    "grace",
    "hold",
    "recover",
    "pause",
    "resume",
    "restart",
    "upgrade",
    "revoke",
    "expire",
    "refund",
)
"""The life-cycle steps after ``purchase``, by the names the control API and the CLI use
(``gone`` is control-only: it notifies nothing)."""


def default_catalogue() -> dict[tuple[str, str], Document]:
    """Products every emulator knows without configuration: Guardian-like ones, so a local
    service configured for the real apps finds its base plans. Priced in GBP."""

    def plan(base_plan_id: str, period: str, units: str, nanos: int = 990_000_000) -> Document:
        return base_plan(
            base_plan_id, period, price={"currencyCode": CURRENCY, "units": units, "nanos": nanos}
        )

    products = [
        product(
            "uk.co.guardian.feast",
            "uk.co.guardian.feast.access",
            [plan("feast-monthly", "P1M", "4"), plan("feast-annual", "P1Y", "49")],
        ),
        product("com.guardian", "guardian.subscription.month.meteredoffer", [plan("monthly", "P1M", "11")]),
        product("com.guardian", "guardian.subscription.annual.meteroffer", [plan("annual", "P1Y", "119")]),
        product("com.guardian", "guardian.month.11.99", [plan("monthly", "P1M", "11")]),
        product("com.guardian", "guardian.annual.114.99", [plan("annual", "P1Y", "114")]),
    ]
    return {(p["packageName"], p["productId"]): p for p in products}


def base_plan(
    base_plan_id: str,
    billing_period: str = "P1M",
    *,
    grace_period: str = DEFAULT_GRACE_PERIOD,
    account_hold: str = DEFAULT_ACCOUNT_HOLD,
    price: dict[str, Any] | None = None,
) -> Document:
    """One auto-renewing base plan of the catalogue, as the emulator keeps it."""
    for duration in (billing_period, grace_period, account_hold):
        parse_duration(duration)
    return {
        "basePlanId": base_plan_id,
        "billingPeriodDuration": billing_period,
        "gracePeriodDuration": grace_period,
        "accountHoldDuration": account_hold,
        "price": dict(price or DEFAULT_PRICE),
    }


def product(
    package_name: str, product_id: str, base_plans: list[Document], title: str | None = None
) -> Document:
    """A subscription product of the catalogue: its base plans and an English title."""
    if not base_plans:
        raise ValueError("a subscription product has at least one base plan")
    return {
        "packageName": package_name,
        "productId": product_id,
        "basePlans": base_plans,
        "title": title or product_id,
    }


class UnknownPurchase(KeyError):
    """No purchase has this token."""


class StepNotAllowed(ValueError):
    """The step cannot happen to a subscription in its current state (e.g. renewing an expired
    one): a mistake in the test script, refused instead of producing a state Google never shows."""


@dataclass(frozen=True)
class Step:
    """What one life-cycle call did, as Google would notify it: which ``DeveloperNotification``
    member (``kind``), its ``notificationType`` (subscription and one-time notifications), and
    what the notification names. ``order_id`` is set for a voided purchase."""

    kind: str
    package_name: str
    purchase_token: str | None
    notification_type: int | None
    product_id: str | None
    event_time_ms: int
    order_id: str | None = None

    @property
    def name(self) -> str:
        """``SUBSCRIPTION_RENEWED`` and the like, or the kind for other notifications."""
        if self.kind == SUBSCRIPTION and self.notification_type is not None:
            return NOTIFICATION_NAMES.get(self.notification_type, str(self.notification_type))
        return self.kind


def parse_duration(duration: str) -> tuple[int, int, int, int]:
    """``(years, months, weeks, days)`` of an ISO 8601 date duration (``P1M``, ``P1Y``, ``P7D``),
    the form of Google's ``billingPeriodDuration``; ValueError for anything else."""
    match = _DURATION.fullmatch(duration)
    if match is None or duration == "P":
        raise ValueError(f"{duration!r} is not an ISO 8601 duration like P1M, P1Y or P7D")
    years, months, weeks, days = (int(group or 0) for group in match.groups())
    return years, months, weeks, days


def add_duration(moment_ms: int, duration: str) -> int:
    """``moment_ms`` plus a calendar duration: months and years keep the day of the month
    (clamped to the month's length, as Google's billing dates are), weeks and days are exact."""
    years, months, weeks, days = parse_duration(duration)
    moment = _EPOCH + timedelta(milliseconds=moment_ms)
    month_index = moment.month - 1 + months + 12 * years
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    moment = moment.replace(year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1]))
    moment += timedelta(days=days + 7 * weeks)
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def _ms(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def new_purchase_token() -> str:
    """An opaque token shaped like Google's: 24 lowercase letters, ``.AO-J1O``, then base64url."""
    letters = "".join(secrets.choice(string.ascii_lowercase) for _ in range(24))
    return f"{letters}.AO-J1O{secrets.token_urlsafe(96)}"


def order_id(first_order: str, renewals: int) -> str:
    """The order id of the current period: the first order's, then ``..0``, ``..1``, ... for each
    renewal (the ``..`` is what spec §4.4's free-trial heuristic looks for)."""
    return first_order if renewals == 0 else f"{first_order}..{renewals - 1}"


class GooglePlayState:
    """Subscription purchases keyed by purchase token, plus configured products; ``clock`` is
    injectable so tests can freeze time."""

    def __init__(self, path: Path | str | None = None, *, clock: Clock | None = None) -> None:
        self.store = DocumentStore(path)
        self.clock: Clock = clock or (lambda: datetime.now(UTC))

    def now_ms(self) -> int:
        return _ms(self.clock())

    def next_counter(self, name: str, first: int) -> int:
        """The next value of a persisted counter (order ids, Pub/Sub message ids)."""
        with self.store.transaction():
            counter = self.store.get(_COUNTERS, name) or {"next": first}
            self.store.put(_COUNTERS, name, {"next": counter["next"] + 1})
        return int(counter["next"])

    def _new_order_id(self) -> str:
        digits = f"{self.next_counter('orders', _FIRST_ORDER):017d}"
        return f"GPA.{digits[:4]}-{digits[4:8]}-{digits[8:12]}-{digits[12:]}"

    # -- catalogue -------------------------------------------------------------------------------

    def product(self, package_name: str, product_id: str) -> Document | None:
        """A configured product, else one of :func:`default_catalogue`, else None."""
        configured = self.store.get(_PRODUCTS, f"{package_name}/{product_id}")
        if configured is not None:
            return configured
        return default_catalogue().get((package_name, product_id))

    def configure_product(self, configured: Document) -> Document:
        """Add or replace a product (built with :func:`product` and :func:`base_plan`)."""
        key = f"{configured['packageName']}/{configured['productId']}"
        self.store.put(_PRODUCTS, key, configured)
        return configured

    def _plan_for(self, package_name: str, product_id: str, base_plan_id: str | None) -> Document:
        """The base plan a purchase is of; a product never configured becomes one with a single
        P1M plan (``base_plan_id`` or ``monthly``), so monetization.subscriptions.get knows it."""
        found = self.product(package_name, product_id)
        if found is None:
            found = self.configure_product(
                product(package_name, product_id, [base_plan(base_plan_id or "monthly", "P1M")])
            )
        plans: list[Document] = found["basePlans"]
        if base_plan_id is None:
            return plans[0]
        for plan in plans:
            if plan["basePlanId"] == base_plan_id:
                return plan
        known = ", ".join(plan["basePlanId"] for plan in plans)
        raise ValueError(f"{product_id} has no base plan {base_plan_id!r} (it has {known})")

    # -- purchases -------------------------------------------------------------------------------

    def get(self, purchase_token: str) -> Document:
        found = self.store.get(_PURCHASES, purchase_token)
        if found is None:
            raise UnknownPurchase(purchase_token)
        return found

    def find(self, purchase_token: str) -> Document | None:
        return self.store.get(_PURCHASES, purchase_token)

    def is_gone(self, purchase: Document) -> bool:
        """Whether the API answers 410: marked ``gone``, or expired more than 60 days ago."""
        if purchase["gone"]:
            return True
        too_old = self.now_ms() - TOKEN_LIFETIME_AFTER_EXPIRY // timedelta(milliseconds=1)
        return bool(purchase["state"] == EXPIRED and purchase["expiryTimeMs"] < too_old)

    def purchase(
        self,
        package_name: str,
        product_id: str,
        base_plan_id: str | None = None,
        offer_id: str | None = None,
        obfuscated_external_account_id: str | None = None,
        test_purchase: bool = False,
        *,
        free_trial: bool = False,
        linked_purchase_token: str | None = None,
    ) -> Step:
        """A new subscription from now: active, auto-renewing, paid (or in a free trial of
        :data:`FREE_TRIAL_LENGTH`, v1 ``paymentState`` 2, under ``offer_id`` or ``free-trial``)."""
        with self.store.transaction():
            plan = self._plan_for(package_name, product_id, base_plan_id)
            now = self.now_ms()
            token = new_purchase_token()
            if free_trial and offer_id is None:
                offer_id = "free-trial"
            record: Document = {
                "purchaseToken": token,
                "packageName": package_name,
                "productId": product_id,
                "basePlanId": plan["basePlanId"],
                "offerId": offer_id,
                "billingPeriod": plan["billingPeriodDuration"],
                "gracePeriod": plan["gracePeriodDuration"],
                "price": plan["price"],
                "regionCode": REGION,
                "startTimeMs": now,
                "expiryTimeMs": add_duration(
                    now, FREE_TRIAL_LENGTH if free_trial else plan["billingPeriodDuration"]
                ),
                "autoRenewing": True,
                "state": ACTIVE,
                "paymentState": PAYMENT_FREE_TRIAL if free_trial else PAYMENT_RECEIVED,
                "firstOrderId": self._new_order_id(),
                "renewals": 0,
                "cancelReason": None,
                "cancelTimeMs": None,
                "autoResumeTimeMs": None,
                "linkedPurchaseToken": linked_purchase_token,
                "acknowledged": True,
                "obfuscatedExternalAccountId": obfuscated_external_account_id,
                "testPurchase": test_purchase,
                "gone": False,
                "refunded": False,
            }
            self.store.put(_PURCHASES, token, record)
        return self._step(record, SUBSCRIPTION_PURCHASED)

    def _step(self, purchase: Document, notification_type: int) -> Step:
        return Step(
            SUBSCRIPTION,
            purchase["packageName"],
            purchase["purchaseToken"],
            notification_type,
            purchase["productId"],
            self.now_ms(),
        )

    def _change(
        self,
        purchase_token: str,
        allowed: tuple[str, ...] | None,
        action: str,
        change: Callable[[Document], Step],
    ) -> Step:
        """Apply ``change`` atomically to a purchase in one of the ``allowed`` states (None: any)."""
        with self.store.transaction():
            purchase = self.get(purchase_token)
            if allowed is not None and purchase["state"] not in allowed:
                raise StepNotAllowed(f"cannot {action} a subscription in {purchase['state']}")
            step = change(purchase)
            self.store.put(_PURCHASES, purchase_token, purchase)
        return step

    def _end_period_now(self, purchase: Document) -> None:
        purchase["expiryTimeMs"] = min(purchase["expiryTimeMs"], self.now_ms())

    def _new_period(self, purchase: Document, start_ms: int) -> None:
        """A successful charge: a new order, a billing period from ``start_ms``, active."""
        purchase.update(
            renewals=purchase["renewals"] + 1,
            expiryTimeMs=add_duration(start_ms, purchase["billingPeriod"]),
            state=ACTIVE,
            paymentState=PAYMENT_RECEIVED,
            autoResumeTimeMs=None,
        )

    def renew(self, purchase_token: str) -> Step:
        """A successful renewal (``SUBSCRIPTION_RENEWED``): the next period follows the current
        one; after a pause (its automatic resumption) it starts now."""

        def change(purchase: Document) -> Step:
            start = purchase["expiryTimeMs"] if purchase["state"] == ACTIVE else self.now_ms()
            self._new_period(purchase, start)
            return self._step(purchase, SUBSCRIPTION_RENEWED)

        return self._change(purchase_token, (ACTIVE, PAUSED), "renew", change)

    def cancel(self, purchase_token: str, reason: str = "user") -> Step:
        """Auto-renew off (``SUBSCRIPTION_CANCELED``); the subscription stays entitled until its
        expiry. ``reason`` is ``user``, ``system`` (billing) or ``developer`` (the API's cancel)."""
        if reason not in CANCEL_REASONS:
            raise ValueError(f"reason must be one of {', '.join(CANCEL_REASONS)}")

        def change(purchase: Document) -> Step:
            purchase.update(
                autoRenewing=False,
                state=CANCELED,
                cancelReason=CANCEL_REASONS[reason],
                cancelTimeMs=self.now_ms(),
            )
            return self._step(purchase, SUBSCRIPTION_CANCELED)

        return self._change(purchase_token, (ACTIVE, IN_GRACE_PERIOD, PAUSED), "cancel", change)

    def restart(self, purchase_token: str) -> Step:
        """The user restores a cancelled, unexpired subscription (``SUBSCRIPTION_RESTARTED``)."""

        def change(purchase: Document) -> Step:
            purchase.update(autoRenewing=True, state=ACTIVE, cancelReason=None, cancelTimeMs=None)
            return self._step(purchase, SUBSCRIPTION_RESTARTED)

        return self._change(purchase_token, (CANCELED,), "restart", change)

    def grace(self, purchase_token: str) -> Step:
        """The renewal charge failed; the user keeps access for the base plan's grace period
        (``SUBSCRIPTION_IN_GRACE_PERIOD``): the expiry moves to now + grace, payment pending."""

        def change(purchase: Document) -> Step:
            purchase.update(
                expiryTimeMs=add_duration(self.now_ms(), purchase["gracePeriod"]),
                state=IN_GRACE_PERIOD,
                paymentState=PAYMENT_PENDING,
            )
            return self._step(purchase, SUBSCRIPTION_IN_GRACE_PERIOD)

        return self._change(purchase_token, (ACTIVE,), "grace", change)

    def hold(self, purchase_token: str) -> Step:
        """Account hold (``SUBSCRIPTION_ON_HOLD``): no access; the period ends now, payment
        pending, auto-renew still on (Google keeps retrying)."""

        def change(purchase: Document) -> Step:
            self._end_period_now(purchase)
            purchase.update(state=ON_HOLD, paymentState=PAYMENT_PENDING, autoResumeTimeMs=None)
            return self._step(purchase, SUBSCRIPTION_ON_HOLD)

        return self._change(purchase_token, (ACTIVE, IN_GRACE_PERIOD, PAUSED), "hold", change)

    def recover(self, purchase_token: str) -> Step:
        """The payment went through after grace or hold (``SUBSCRIPTION_RECOVERED``): a new order
        and a new period from now."""

        def change(purchase: Document) -> Step:
            self._new_period(purchase, self.now_ms())
            return self._step(purchase, SUBSCRIPTION_RECOVERED)

        return self._change(purchase_token, (IN_GRACE_PERIOD, ON_HOLD), "recover", change)

    def pause(self, purchase_token: str, duration: str = DEFAULT_PAUSE) -> Step:
        """The pause takes effect (``SUBSCRIPTION_PAUSED``): the period ends now and the
        subscription resumes by itself after ``duration`` (``autoResumeTime``)."""
        parse_duration(duration)

        def change(purchase: Document) -> Step:
            self._end_period_now(purchase)
            purchase.update(
                state=PAUSED,
                paymentState=PAYMENT_PENDING,
                autoResumeTimeMs=add_duration(self.now_ms(), duration),
            )
            return self._step(purchase, SUBSCRIPTION_PAUSED)

        return self._change(purchase_token, (ACTIVE,), "pause", change)

    def resume(self, purchase_token: str) -> Step:
        """The user resumes a paused subscription early (``SUBSCRIPTION_RECOVERED``, the code
        Google sends when a paused subscription comes back): a new order and period from now. The
        automatic resumption at ``autoResumeTime`` is a renewal: use :meth:`renew`."""

        def change(purchase: Document) -> Step:
            self._new_period(purchase, self.now_ms())
            return self._step(purchase, SUBSCRIPTION_RECOVERED)

        return self._change(purchase_token, (PAUSED,), "resume", change)

    def upgrade(
        self, purchase_token: str, product_id: str | None = None, base_plan_id: str | None = None
    ) -> Step:
        """A plan change (upgrade, downgrade, monthly to annual): Google issues a NEW purchase
        token whose ``linkedPurchaseToken`` is the old one, and the old subscription ends, replaced
        (v1 ``cancelReason`` 2, v2 ``replacementCancellation``). Returns ``SUBSCRIPTION_PURCHASED``
        for the new token. Without ``product_id`` the product stays and the base plan changes to
        ``base_plan_id`` or the product's next plan."""
        with self.store.transaction():
            old = self.get(purchase_token)
            new_product = product_id or old["productId"]
            if base_plan_id is None and new_product == old["productId"]:
                current = self.product(old["packageName"], new_product)
                plans: list[Document] = current["basePlans"] if current else []
                others = [plan["basePlanId"] for plan in plans if plan["basePlanId"] != old["basePlanId"]]
                base_plan_id = others[0] if others else old["basePlanId"]

            def change(purchase: Document) -> Step:
                self._end_period_now(purchase)
                purchase.update(
                    state=EXPIRED,
                    autoRenewing=False,
                    paymentState=None,
                    cancelReason=CANCEL_REPLACED,
                    cancelTimeMs=self.now_ms(),
                    autoResumeTimeMs=None,
                )
                return self._step(purchase, SUBSCRIPTION_EXPIRED)

            self._change(purchase_token, (ACTIVE, CANCELED, IN_GRACE_PERIOD), "upgrade", change)
            return self.purchase(
                old["packageName"],
                new_product,
                base_plan_id,
                obfuscated_external_account_id=old["obfuscatedExternalAccountId"],
                test_purchase=old["testPurchase"],
                linked_purchase_token=purchase_token,
            )

    def _end(self, purchase: Document, default_reason: int) -> None:
        """Expired now; a cancellation reason is kept if one was recorded, else ``default_reason``."""
        self._end_period_now(purchase)
        purchase.update(state=EXPIRED, autoRenewing=False, paymentState=None, autoResumeTimeMs=None)
        if purchase["cancelReason"] is None:
            purchase.update(cancelReason=default_reason, cancelTimeMs=self.now_ms())

    def revoke(self, purchase_token: str) -> Step:
        """Access withdrawn before the expiry (``SUBSCRIPTION_REVOKED``, e.g. the developer's
        ``revoke``): expired now, developer-cancelled unless already cancelled."""

        def change(purchase: Document) -> Step:
            self._end(purchase, CANCEL_DEVELOPER)
            return self._step(purchase, SUBSCRIPTION_REVOKED)

        return self._change(purchase_token, _NOT_EXPIRED, "revoke", change)

    def expire(self, purchase_token: str) -> Step:
        """The subscription ends (``SUBSCRIPTION_EXPIRED``): after a cancellation, or after a
        billing failure (then system-cancelled)."""

        def change(purchase: Document) -> Step:
            self._end(purchase, CANCEL_SYSTEM)
            return self._step(purchase, SUBSCRIPTION_EXPIRED)

        return self._change(purchase_token, _NOT_EXPIRED, "expire", change)

    def refund(self, purchase_token: str) -> Step:
        """Google refunds the latest order: a ``voidedPurchaseNotification`` (subscription, full
        refund), and the subscription is revoked unless it already ended. To also notify
        ``SUBSCRIPTION_REVOKED``, :meth:`revoke` first, then refund."""

        def change(purchase: Document) -> Step:
            if purchase["state"] != EXPIRED:
                self._end(purchase, CANCEL_DEVELOPER)
            purchase["refunded"] = True
            return Step(
                VOIDED,
                purchase["packageName"],
                purchase_token,
                None,
                purchase["productId"],
                self.now_ms(),
                order_id=order_id(purchase["firstOrderId"], purchase["renewals"]),
            )

        return self._change(purchase_token, None, "refund", change)

    def mark_gone(self, purchase_token: str) -> None:
        """The API answers 410 for this token from now on (as for long-expired purchases)."""

        with self.store.transaction():
            purchase = self.get(purchase_token)
            purchase["gone"] = True
            self.store.put(_PURCHASES, purchase_token, purchase)

    def test_notification(self, package_name: str) -> Step:
        """What the Play Console's "Send test notification" sends: no purchase involved."""
        return Step(TEST, package_name, None, None, None, self.now_ms())

    def one_time_purchase(self, package_name: str, sku: str) -> Step:
        """A ``oneTimeProductNotification`` (``ONE_TIME_PRODUCT_PURCHASED``) for a new token; the
        emulator keeps no one-time purchases, it only lets a service see the notification."""
        return Step(
            ONE_TIME, package_name, new_purchase_token(), ONE_TIME_PRODUCT_PURCHASED, sku, self.now_ms()
        )

    def apply(self, action: str, purchase_token: str, **options: Any) -> Step:
        """One life-cycle step by name (see :data:`ACTIONS`), for the control API and the CLI;
        ``options`` are the step's keyword arguments (``reason`` of ``cancel``, ``duration`` of
        ``pause``, ``product_id`` and ``base_plan_id`` of ``upgrade``)."""
        steps: dict[str, tuple[Callable[..., Step], frozenset[str]]] = {
            "renew": (self.renew, frozenset()),
            "cancel": (self.cancel, frozenset({"reason"})),
            "grace": (self.grace, frozenset()),
            "hold": (self.hold, frozenset()),
            "recover": (self.recover, frozenset()),
            "pause": (self.pause, frozenset({"duration"})),
            "resume": (self.resume, frozenset()),
            "restart": (self.restart, frozenset()),
            "upgrade": (self.upgrade, frozenset({"product_id", "base_plan_id"})),
            "revoke": (self.revoke, frozenset()),
            "expire": (self.expire, frozenset()),
            "refund": (self.refund, frozenset()),
        }
        if action not in steps:
            raise ValueError(f"action must be one of {', '.join(ACTIONS)}")
        step, accepted = steps[action]
        unknown = sorted(set(options) - accepted)
        if unknown:
            raise ValueError(f"{action} takes no option {', '.join(unknown)}")
        return step(purchase_token, **options)

    def reset(self) -> None:
        self.store.clear()

    def snapshot(self) -> dict[str, Any]:
        return {
            "purchases": self.store.documents(_PURCHASES),
            "products": self.store.documents(_PRODUCTS),
        }

    def close(self) -> None:
        self.store.close()


_NOT_EXPIRED = (ACTIVE, PAUSED, IN_GRACE_PERIOD, ON_HOLD, CANCELED)
