"""Feast acquisition events (spec §10.3, §10.4): which new user links make one, and the event the
Acquisition API is sent for an App Store or a Google Play purchase.

Why: Data Design counts Feast app purchases from the Acquisition API (Support's acquisition
events), fed by the original's three lambdas: a router on user-subscription INSERTs and one
builder per store. Everything after the lookups is pure and lives here; the flows
(``functions/feast_acquisitions.py``) do the lookups and the POST. The big country tables are
data, in ``acquisition_countries``.

Decisions where the original is silent or drops things (spec §13.1.9, §13.1.10):

- Whatever keeps a subscription from making an event (an unknown storefront, country, product or
  base plan, no start time) raises :class:`NotAnAcquisition`; the flows give up with its message,
  so the event waits in the dead-letter queue until the table is completed and it is replayed.
  The original threw, retried the whole batch and then dead-lettered it too.
- Apple: the country and currency come from the verified transaction of the App Store Server API
  (``storefront``, ``currency``). A transaction without a ``currency`` (Apple added it in 2023)
  takes the currency of its country from the table; the original posted no currency at all.
  The product is the transaction's (the row's when the transaction names none).
- Google: ``regionCode ?? "GB"`` as the original (only an absent or null region falls back);
  the start time is the v2 body's ``startTime`` as the original rebuilt it, or the row's
  ``startTimestamp`` when Google gives none (the original sent ``""``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any, Final, Literal

from supporterflow.domain.subscriptions.acquisition_countries import COUNTRY_CURRENCIES, STOREFRONT_COUNTRIES
from supporterflow.domain.subscriptions.dates import js_date_parse, ms_to_date, to_iso
from supporterflow.domain.subscriptions.errors import ProcessingError
from supporterflow.domain.subscriptions.google_play import base_plan_id
from supporterflow.domain.subscriptions.platforms import Platform

__all__ = [
    "ACTIVE_AFTER_END",
    "ANNUALLY",
    "APPLE_PRODUCT_FREQUENCIES",
    "DEFAULT_GOOGLE_COUNTRY",
    "FEAST_APPLE_BUNDLE_ID",
    "FEAST_GOOGLE_PACKAGE",
    "GOOGLE_BASE_PLAN_FREQUENCIES",
    "MONTHLY",
    "SUBSCRIPTIONS_TABLE_NAME",
    "NotAnAcquisition",
    "Store",
    "acquisition_payload",
    "acquisition_store",
    "apple_acquisition",
    "google_acquisition",
    "is_active",
    "queue_message",
]

#: The Feast app in each store; the original hard-coded the package and read the bundle id
#: from its configuration (``feastAppleStoreKitConfigAppBunbleId``), always this one.
FEAST_APPLE_BUNDLE_ID: Final = "uk.co.guardian.Feast"
FEAST_GOOGLE_PACKAGE: Final = "uk.co.guardian.feast"

#: A subscription still makes an acquisition up to 30 days after its end (``now <= end + 30 d``).
ACTIVE_AFTER_END: Final = timedelta(days=30)

#: The data-mapper's in-memory ``tableName``, which the original's queue messages carried.
SUBSCRIPTIONS_TABLE_NAME: Final = "subscriptions"

MONTHLY: Final = "MONTHLY"
ANNUALLY: Final = "ANNUALLY"

#: App Store product -> ``paymentFrequency`` (spec §10.3), verbatim: "guardain" is the upstream
#: product id of the discounted yearly subscription (spec §2.4).
APPLE_PRODUCT_FREQUENCIES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "uk.co.guardian.Feast.yearly": ANNUALLY,
        "uk.co.guardain.Feast.yearly.discounted": ANNUALLY,
        "uk.co.guardian.Feast.monthly": MONTHLY,
        "uk.co.guardian.Feast.monthly.discounted": MONTHLY,
    }
)

#: Google Play base plan -> ``paymentFrequency`` (spec §10.3).
GOOGLE_BASE_PLAN_FREQUENCIES: Final[Mapping[str, str]] = MappingProxyType(
    {"feast-annual": ANNUALLY, "feast-monthly": MONTHLY}
)

#: The country of a Google purchase whose v2 body names no ``regionCode``.
DEFAULT_GOOGLE_COUNTRY: Final = "GB"

Store = Literal["apple", "google"]

_STORES: Final[Mapping[str, Store]] = MappingProxyType(
    {Platform.IOS_FEAST.value: "apple", Platform.ANDROID_FEAST.value: "google"}
)


class NotAnAcquisition(ValueError):
    """The subscription cannot make an acquisition event as it is: the message says what is
    missing or unknown, for the operator who completes a table and replays the dead letter."""


# --- the router (spec §10.3) ----------------------------------------------------------------------


def acquisition_store(row: Mapping[str, Any]) -> Store | None:
    """Which store's acquisition queue a Subscription row goes to: ``apple`` for ``ios-feast``,
    ``google`` for ``android-feast``, None for every other app (no acquisition event)."""
    platform = row.get("platform")
    return _STORES.get(platform) if isinstance(platform, str) else None


def is_active(row: Mapping[str, Any], *, now: datetime) -> bool:
    """``now <= end + 30 days``; a row without a readable ``endTimestamp`` is not active (the
    original compared with an Invalid Date, which is never true)."""
    end = row.get("endTimestamp")
    moment = js_date_parse(end) if isinstance(end, str) else None
    return moment is not None and now <= moment + ACTIVE_AFTER_END


def queue_message(row: Mapping[str, Any]) -> dict[str, Any]:
    """The acquisition queue message (spec §1.7): the whole Subscription row, then the
    data-mapper's ``tableName``, which the original's messages carried and readers may expect."""
    return {**row, "tableName": SUBSCRIPTIONS_TABLE_NAME}


# --- the event (spec §10.4) ------------------------------------------------------------------------


def acquisition_payload(
    *, event_time_stamp: str, country: str, currency: str, payment_frequency: str, payment_id: str
) -> dict[str, Any]:
    """The Acquisition API body in the original's key order. Every other ``AcquisitionDataRow``
    field (``amount``, ``componentId``, ... ``email``) was ``undefined`` and is absent.
    ``paymentId`` carries the subscription id at Data Design's request."""
    return {
        "eventTimeStamp": event_time_stamp,
        "product": "FEAST_APP",
        "country": country,
        "currency": currency,
        "abTests": [],
        "paymentFrequency": payment_frequency,
        "labels": [],
        "reusedExistingPaymentMethod": False,
        "readerType": "Direct",
        "acquisitionType": "PURCHASE",
        "paymentId": payment_id,
        "queryParameters": [],
    }


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _subscription_id(row: Mapping[str, Any]) -> str:
    subscription_id = _text(row.get("subscriptionId"))
    if subscription_id is None:
        raise NotAnAcquisition("the subscription has no subscriptionId")
    return subscription_id


def _currency_of(country: str) -> str:
    currency = COUNTRY_CURRENCIES.get(country)
    if currency is None:
        raise NotAnAcquisition(f"no currency is known for country {country!r} (acquisition_countries)")
    return currency


def apple_acquisition(row: Mapping[str, Any], transaction: Mapping[str, Any]) -> dict[str, Any]:
    """The event of a Feast App Store subscription: ``row`` is the Subscription row, ``transaction``
    its last transaction as the App Store Server API signed it (``JWSTransactionDecodedPayload``).

    country = storefront (alpha-3) -> alpha-2; currency = the transaction's; paymentFrequency
    from the product; eventTimeStamp = the row's ``startTimestamp`` (the original purchase date)."""
    payment_id = _subscription_id(row)
    storefront = _text(transaction.get("storefront"))
    if storefront is None:
        raise NotAnAcquisition("the transaction names no storefront")
    country = STOREFRONT_COUNTRIES.get(storefront)
    if country is None:
        raise NotAnAcquisition(f"storefront {storefront!r} is no known country (acquisition_countries)")
    currency = _text(transaction.get("currency")) or _currency_of(country)
    product_id = _text(transaction.get("productId")) or _text(row.get("productId"))
    frequency = APPLE_PRODUCT_FREQUENCIES.get(product_id) if product_id is not None else None
    if frequency is None:
        raise NotAnAcquisition(f"product {product_id!r} has no known payment frequency")
    start = _text(row.get("startTimestamp"))
    if start is None:
        purchased = transaction.get("originalPurchaseDate")
        moment = (
            ms_to_date(purchased) if isinstance(purchased, int) and not isinstance(purchased, bool) else None
        )
        if moment is None:
            raise NotAnAcquisition("the subscription has no start time")
        start = to_iso(moment)
    return acquisition_payload(
        event_time_stamp=start,
        country=country,
        currency=currency,
        payment_frequency=frequency,
        payment_id=payment_id,
    )


def google_acquisition(row: Mapping[str, Any], v2_body: Mapping[str, Any]) -> dict[str, Any]:
    """The event of a Feast Google Play subscription: ``row`` is the Subscription row, ``v2_body``
    the ``purchases.subscriptionsv2`` answer for its purchase token.

    country = ``regionCode ?? "GB"``; currency from the country; paymentFrequency from the
    base plan of the (only) line item; eventTimeStamp = the subscription's start."""
    payment_id = _subscription_id(row)
    region = v2_body.get("regionCode")
    country = DEFAULT_GOOGLE_COUNTRY if region is None else region
    if not isinstance(country, str):
        raise NotAnAcquisition(f"regionCode {country!r} is not a country code")
    currency = _currency_of(country)
    try:
        plan = base_plan_id(v2_body)
    except ProcessingError as error:
        raise NotAnAcquisition(str(error)) from None
    frequency = GOOGLE_BASE_PLAN_FREQUENCIES.get(plan)
    if frequency is None:
        raise NotAnAcquisition(f"base plan {plan!r} has no known payment frequency")
    start_time = v2_body.get("startTime")
    if start_time is not None and start_time != "":
        moment = js_date_parse(start_time) if isinstance(start_time, str) else None
        if moment is None:
            raise NotAnAcquisition(f"unparsable startTime {start_time!r}")
        start = to_iso(moment)
    else:
        fallback = _text(row.get("startTimestamp"))
        if fallback is None:
            raise NotAnAcquisition("the subscription has no start time")
        start = fallback
    return acquisition_payload(
        event_time_stamp=start,
        country=country,
        currency=currency,
        payment_frequency=frequency,
        payment_id=payment_id,
    )
