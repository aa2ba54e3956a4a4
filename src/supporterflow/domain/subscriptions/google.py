"""Google Play real-time developer notifications (RTDN) and the SubscriptionEvent they become
(spec §4.1, §4.2, §1.4, §1.6).

Why: Google pushes a Pub/Sub envelope whose ``message.data`` is a base64 ``DeveloperNotification``;
the original validated it with a zod union (unknown keys stripped, the stripped copy stored as
``googlePayload``), stored one event row and enqueued ``{packageName, purchaseToken, subscriptionId}``
for the update consumer. The subscription-notification row is reproduced exactly (§12.1 case 1,
§12.11 case 4). The Play Developer API side (Subscription rows, state) is in ``google_play``.

Additions to the original, each a decision where the spec is silent:

- ``testNotification`` and ``oneTimeProductNotification`` parse (kinds ``test`` / ``one_time``):
  the original answered 400, so Pub/Sub redelivered them forever (§13.3.1).
- Every kind gets an event row; the original stored none for voided purchases and pending refund
  reviews (§13.3.2). Its ``subscriptionId`` is the purchase token (voided, one-time), the
  ``pendingRefundToken`` (pending refund review) or the Pub/Sub ``messageId`` (test, which names
  no purchase); ``eventType`` is ``VOIDED_PURCHASE``, ``ONE_TIME_PRODUCT_PURCHASED`` /
  ``ONE_TIME_PRODUCT_CANCELED`` (codes 1/2, else the number), ``PENDING_REFUND_REVIEW``,
  ``TEST_NOTIFICATION``; ``product_id`` is the SKU of a one-time product, else ``''``.
- The codes Google defines beyond the original's table (10, 11, 17-20, 22) are stored by name.
- Each row carries the Pub/Sub ``messageId``: Pub/Sub redelivers a message until it is
  acknowledged, so the flow writes the row only when its key is absent and, on a conflict,
  compares ``messageId`` to tell a redelivery from another notification sharing the key (as the
  App Store flow does with ``notificationUUID``).
- A voided purchase of a subscription is fetched again (``{"packageName", "purchaseToken",
  "voided": True}``) so that the Subscription row can say ``refunded``.
- ``message.data`` must be standard or URL-safe base64 (padding optional); Node's decoder
  silently skipped any other character.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final, Literal, NoReturn

from supporterflow.domain.subscriptions.apple_v1 import (
    InvalidPayloadError,
    _Field,
    _is_number,
    _object,
    _pick,
    _required,
)
from supporterflow.domain.subscriptions.dates import (
    date_to_second_timestamp,
    iso_day,
    optional_ms_to_date,
    thirty_months,
    to_iso,
)
from supporterflow.domain.subscriptions.js import number_to_string
from supporterflow.domain.subscriptions.platforms import UNKNOWN_PLATFORM, platform_from_google_package

__all__ = [
    "ONE_TIME_PRODUCT_NOTIFICATION_TYPES",
    "PRODUCT_TYPE_SUBSCRIPTION",
    "SUBSCRIPTION_NOTIFICATION_TYPES",
    "InvalidNotification",
    "NotificationKind",
    "PushMessage",
    "event_type",
    "fetch_reference",
    "parse_push",
    "to_google_event",
]


class InvalidNotification(ValueError):
    """The push body is not an RTDN this service accepts; the handler answers 400 (spec §4.1)."""


NotificationKind = Literal["subscription", "voided", "one_time", "test", "pending_refund_review"]

#: ``notificationType`` of a ``subscriptionNotification`` -> ``eventType``. Codes 1-9, 12 and 13
#: are the original's table (spec §4.1); the others are Google's names for the codes it stored
#: as bare numbers (RTDN reference). 14-16 and 21 are unassigned.
SUBSCRIPTION_NOTIFICATION_TYPES: Final[Mapping[int, str]] = MappingProxyType(
    {
        1: "SUBSCRIPTION_RECOVERED",
        2: "SUBSCRIPTION_RENEWED",
        3: "SUBSCRIPTION_CANCELED",
        4: "SUBSCRIPTION_PURCHASED",
        5: "SUBSCRIPTION_ON_HOLD",
        6: "SUBSCRIPTION_IN_GRACE_PERIOD",
        7: "SUBSCRIPTION_RESTARTED",
        8: "SUBSCRIPTION_PRICE_CHANGE_CONFIRMED",
        9: "SUBSCRIPTION_DEFERRED",
        10: "SUBSCRIPTION_PAUSED",
        11: "SUBSCRIPTION_PAUSE_SCHEDULE_CHANGED",
        12: "SUBSCRIPTION_REVOKED",
        13: "SUBSCRIPTION_EXPIRED",
        17: "SUBSCRIPTION_ITEMS_CHANGED",
        18: "SUBSCRIPTION_CANCELLATION_SCHEDULED",
        19: "SUBSCRIPTION_PRICE_CHANGE_UPDATED",
        20: "SUBSCRIPTION_PENDING_PURCHASE_CANCELED",
        22: "SUBSCRIPTION_PRICE_STEP_UP_CONSENT_UPDATED",
    }
)

#: ``notificationType`` of a ``oneTimeProductNotification`` -> ``eventType`` (RTDN reference).
ONE_TIME_PRODUCT_NOTIFICATION_TYPES: Final[Mapping[int, str]] = MappingProxyType(
    {1: "ONE_TIME_PRODUCT_PURCHASED", 2: "ONE_TIME_PRODUCT_CANCELED"}
)

#: ``voidedPurchaseNotification.productType`` of a subscription (2 is a one-time product).
PRODUCT_TYPE_SUBSCRIPTION: Final = 1


def _mapped(table: Mapping[int, str], code: float) -> str:
    """The name of ``code``, else the number as JavaScript prints it (``"14"``), as upstream."""
    name = table.get(int(code)) if float(code).is_integer() else None
    return name if name is not None else number_to_string(code)


def event_type(notification_type: int | float) -> str:
    """The ``eventType`` of a subscription notification: its name, else the decimal code."""
    return _mapped(SUBSCRIPTION_NOTIFICATION_TYPES, notification_type)


@dataclass(frozen=True)
class _Kind:
    """One member of the notification union: its key in the DeveloperNotification, its schema
    (zod strips every other key) and how its event row is identified."""

    kind: NotificationKind
    key: str
    fields: tuple[_Field, ...]
    id_field: str | None  # field giving the event's subscriptionId; None: the Pub/Sub messageId
    product_field: str | None  # field giving the event's product_id; None: ''
    event_type: Callable[[Mapping[str, Any]], str]


#: The union in the original's order (subscription, voided, pending refund review), then the two
#: kinds supporterflow adds. The first member that validates wins, as with ``z.union``.
_KINDS: Final = (
    _Kind(
        "subscription",
        "subscriptionNotification",
        (
            _required("version"),
            _required("notificationType", _is_number),
            _required("purchaseToken"),
            _required("subscriptionId"),
        ),
        id_field="purchaseToken",
        product_field="subscriptionId",
        event_type=lambda inner: event_type(inner["notificationType"]),
    ),
    _Kind(
        "voided",
        "voidedPurchaseNotification",
        (
            _required("purchaseToken"),
            _required("orderId"),
            _required("productType", _is_number),
            _required("refundType", _is_number),
        ),
        id_field="purchaseToken",
        product_field=None,
        event_type=lambda _: "VOIDED_PURCHASE",
    ),
    _Kind(
        "pending_refund_review",
        "pendingRefundReviewNotification",
        (
            _required("version"),
            _required("pendingRefundToken"),
            _required("orderId"),
            _required("refundReason", _is_number),
        ),
        id_field="pendingRefundToken",
        product_field=None,
        event_type=lambda _: "PENDING_REFUND_REVIEW",
    ),
    _Kind(
        "one_time",
        "oneTimeProductNotification",
        (
            _required("version"),
            _required("notificationType", _is_number),
            _required("purchaseToken"),
            _required("sku"),
        ),
        id_field="purchaseToken",
        product_field="sku",
        event_type=lambda inner: _mapped(ONE_TIME_PRODUCT_NOTIFICATION_TYPES, inner["notificationType"]),
    ),
    _Kind("test", "testNotification", (_required("version"),), None, None, lambda _: "TEST_NOTIFICATION"),
)
_BY_KIND: Final[Mapping[NotificationKind, _Kind]] = MappingProxyType({k.kind: k for k in _KINDS})
_BASE: Final = (_required("version"), _required("packageName"), _required("eventTimeMillis"))


@dataclass(frozen=True)
class PushMessage:
    """A parsed Pub/Sub push: the envelope's identifiers and the stripped DeveloperNotification."""

    message_id: str
    publish_time: str | None
    subscription: str | None
    kind: NotificationKind
    notification: dict[str, Any]

    @property
    def inner(self) -> dict[str, Any]:
        """The kind-specific part, e.g. the ``subscriptionNotification`` object."""
        inner: dict[str, Any] = self.notification[_BY_KIND[self.kind].key]
        return inner


def _strip(source: object, fields: tuple[_Field, ...], where: str) -> dict[str, Any]:
    """zod's ``z.object(...).parse``: every field required and typed, unknown keys dropped."""
    try:
        return _pick(_object(source, where), fields)
    except InvalidPayloadError as error:
        raise InvalidNotification(f"{where}: {error}") from None


def _text(envelope: Mapping[str, Any], *names: str) -> str | None:
    """The first of ``names`` holding a non-empty string: Pub/Sub sends both camelCase and snake_case."""
    for name in names:
        value = envelope.get(name)
        if isinstance(value, str) and value:
            return value
    return None


def _not_json(constant: str) -> NoReturn:
    """``JSON.parse`` refuses the ``NaN`` / ``Infinity`` literals Python's parser accepts."""
    raise ValueError(f"{constant} is not JSON")


def _decode(data: object) -> object:
    if not isinstance(data, str):
        raise InvalidNotification("message.data is missing or not a string")
    text = "".join(data.split()).replace("-", "+").replace("_", "/")
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
        return json.loads(raw, parse_constant=_not_json)
    except (binascii.Error, ValueError, RecursionError):
        raise InvalidNotification("message.data is not base64-encoded JSON") from None


def _notification(decoded: object) -> tuple[NotificationKind, dict[str, Any]]:
    """The union parse of spec §4.1 on the decoded DeveloperNotification."""
    base = _strip(decoded, _BASE, "notification")
    if optional_ms_to_date(base["eventTimeMillis"]) is None:
        raise InvalidNotification(f"Unable to parse the eventTimeMillis field {base['eventTimeMillis']!r}")
    assert isinstance(decoded, Mapping)
    first_error: InvalidNotification | None = None
    for member in _KINDS:
        if member.key not in decoded:
            continue
        try:
            inner = _strip(decoded[member.key], member.fields, member.key)
        except InvalidNotification as error:
            first_error = first_error or error
            continue
        return member.kind, {**base, member.key: inner}
    if first_error is not None:
        raise first_error
    raise InvalidNotification("the notification has none of " + ", ".join(member.key for member in _KINDS))


def parse_push(envelope: Any) -> PushMessage:
    """Validate a Pub/Sub push body and the RTDN inside it (spec §4.1).

    Raises :class:`InvalidNotification` saying what is wrong (the handler answers 400).
    """
    if not isinstance(envelope, Mapping):
        raise InvalidNotification("the body is not a Pub/Sub push envelope")
    message = envelope.get("message")
    if not isinstance(message, Mapping):
        raise InvalidNotification("message is missing or not an object")
    message_id = _text(message, "messageId", "message_id")
    if not message_id:
        raise InvalidNotification("message.messageId is missing")
    kind, notification = _notification(_decode(message.get("data")))
    subscription = envelope.get("subscription")
    return PushMessage(
        message_id=message_id,
        publish_time=_text(message, "publishTime", "publish_time"),
        subscription=subscription if isinstance(subscription, str) else None,
        kind=kind,
        notification=notification,
    )


def to_google_event(
    message: PushMessage, *, free_trial: bool | None, extra: str = "", promotional_offer_id: str | None = None
) -> dict[str, Any]:
    """``toDynamoEventGoogleAsync``: the SubscriptionEvent row of a notification (spec §4.2, §1.4).

    ``free_trial`` is the v1 ``paymentState == 2`` of the metadata lookup, None (attribute
    omitted) when it failed. ``extra`` and ``promotional_offer_id`` come from
    ``google_play.google_extra`` when the flow builds it (live app), else ``''`` and None.
    ``purchase_date_ms`` / ``expires_date_ms`` are absent, as upstream.
    """
    member = _BY_KIND[message.kind]
    notification, inner = message.notification, message.inner
    event_time = optional_ms_to_date(notification["eventTimeMillis"])
    if event_time is None:
        raise ValueError(f"unparsable eventTimeMillis {notification['eventTimeMillis']!r}")
    timestamp = to_iso(event_time)
    name = member.event_type(inner)
    platform = platform_from_google_package(notification["packageName"])
    row: dict[str, Any] = {
        "subscriptionId": inner[member.id_field] if member.id_field else message.message_id,
        "timestampAndType": f"{timestamp}|{name}",
        "date": iso_day(event_time),
        "timestamp": timestamp,
        "eventType": name,
        "platform": platform.value if platform is not None else UNKNOWN_PLATFORM,
        "appId": notification["packageName"],
    }
    if free_trial is not None:
        row["freeTrial"] = free_trial
    row["googlePayload"] = copy.deepcopy(notification)
    row["applePayload"] = None
    row["ttl"] = date_to_second_timestamp(thirty_months(event_time))
    row["promotional_offer_id"] = promotional_offer_id
    row["promotional_offer_name"] = None
    row["product_id"] = inner[member.product_field] if member.product_field else ""
    row["extra"] = extra
    row["messageId"] = message.message_id
    return row


def fetch_reference(message: PushMessage) -> dict[str, Any] | None:
    """The update-subs message of a notification, or None when there is nothing to fetch.

    A subscription notification gives ``{"packageName", "purchaseToken", "subscriptionId"}`` in
    that order (spec §1.6; ``subscriptionId`` is the SKU). A voided subscription purchase gives
    ``{"packageName", "purchaseToken", "voided": True}``: it names no SKU, and the consumer reads
    it with the subscriptionsv2 API, which needs none.
    """
    package_name = message.notification["packageName"]
    inner = message.inner
    if message.kind == "subscription":
        return {
            "packageName": package_name,
            "purchaseToken": inner["purchaseToken"],
            "subscriptionId": inner["subscriptionId"],
        }
    if message.kind == "voided" and inner["productType"] == PRODUCT_TYPE_SUBSCRIPTION:
        return {"packageName": package_name, "purchaseToken": inner["purchaseToken"], "voided": True}
    return None
