"""Feast acquisition events, the pure parts (spec §10.3, §10.4): the country tables, which rows
the router queues, and the Acquisition API event of an App Store and a Google Play purchase,
byte for byte."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from supporterflow.domain.subscriptions.acquisition_countries import COUNTRY_CURRENCIES, STOREFRONT_COUNTRIES
from supporterflow.domain.subscriptions.acquisitions import (
    NotAnAcquisition,
    acquisition_payload,
    acquisition_store,
    apple_acquisition,
    google_acquisition,
    is_active,
    queue_message,
)

OTID = "2000000123456789"
TOKEN = "feast-purchase-token"
START = "2026-02-14T09:30:00.000Z"

#: Spec §10.4, as the original's ``JSON.stringify`` wrote it for a monthly UK App Store purchase.
SPEC_10_4 = (
    b'{"eventTimeStamp":"2026-02-14T09:30:00.000Z","product":"FEAST_APP","country":"GB",'
    b'"currency":"GBP","abTests":[],"paymentFrequency":"MONTHLY","labels":[],'
    b'"reusedExistingPaymentMethod":false,"readerType":"Direct","acquisitionType":"PURCHASE",'
    b'"paymentId":"2000000123456789","queryParameters":[]}'
)


def compact(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def apple_row(**changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "subscriptionId": OTID,
        "startTimestamp": START,
        "endTimestamp": "2026-03-14T09:30:00.000Z",
        "autoRenewing": True,
        "productId": "uk.co.guardian.Feast.monthly",
        "platform": "ios-feast",
    }
    row.update(changes)
    return row


def transaction(**changes: Any) -> dict[str, Any]:
    """A ``JWSTransactionDecodedPayload`` as the App Store Server API signs it."""
    signed: dict[str, Any] = {
        "transactionId": "2000000987654321",
        "originalTransactionId": OTID,
        "bundleId": "uk.co.guardian.Feast",
        "productId": "uk.co.guardian.Feast.monthly",
        "originalPurchaseDate": 1771061400000,
        "storefront": "GBR",
        "storefrontId": "143444",
        "price": 4990,
        "currency": "GBP",
    }
    signed.update(changes)
    return {key: value for key, value in signed.items() if value is not None}


def google_row(**changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "subscriptionId": TOKEN,
        "startTimestamp": START,
        "endTimestamp": "2027-02-14T09:30:00.000Z",
        "productId": "uk.co.guardian.feast.access",
        "platform": "android-feast",
    }
    row.update(changes)
    return row


def v2(base_plan: str = "feast-annual", **changes: Any) -> dict[str, Any]:
    """A ``purchases.subscriptionsv2`` body with one line item."""
    body: dict[str, Any] = {
        "kind": "androidpublisher#subscriptionPurchaseV2",
        "regionCode": "DE",
        "startTime": "2026-02-14T09:30:00.123Z",
        "subscriptionState": "SUBSCRIPTION_STATE_ACTIVE",
        "latestOrderId": "GPA.1234-5678-9012-34567",
        "lineItems": [
            {
                "productId": "uk.co.guardian.feast.access",
                "expiryTime": "2027-02-14T09:30:00.123Z",
                "offerDetails": {"basePlanId": base_plan},
            }
        ],
    }
    body.update(changes)
    return body


def event(country: str, currency: str, frequency: str, payment_id: str, start: str = START) -> dict[str, Any]:
    return {
        "eventTimeStamp": start,
        "product": "FEAST_APP",
        "country": country,
        "currency": currency,
        "abTests": [],
        "paymentFrequency": frequency,
        "labels": [],
        "reusedExistingPaymentMethod": False,
        "readerType": "Direct",
        "acquisitionType": "PURCHASE",
        "paymentId": payment_id,
        "queryParameters": [],
    }


# --------------------------------------------------------------------------------------------------
# The tables


def test_every_storefront_is_an_iso_alpha_3_code_of_one_alpha_2_country() -> None:
    assert len(STOREFRONT_COUNTRIES) == 250
    assert all(re.fullmatch(r"[A-Z]{3}", code) for code in STOREFRONT_COUNTRIES)
    assert all(re.fullmatch(r"[A-Z]{2}", code) for code in STOREFRONT_COUNTRIES.values())
    assert len(set(STOREFRONT_COUNTRIES.values())) == 250
    assert [STOREFRONT_COUNTRIES[code] for code in ("GBR", "USA", "DEU", "FRA", "XKX", "ZWE", "CIV")] == [
        "GB",
        "US",
        "DE",
        "FR",
        "XK",
        "ZW",
        "CI",
    ]


def test_currencies_cover_more_than_the_original_and_keep_its_choices() -> None:
    assert len(COUNTRY_CURRENCIES) == 243
    assert set(COUNTRY_CURRENCIES) <= set(STOREFRONT_COUNTRIES.values())
    assert all(re.fullmatch(r"[A-Z]{3}", code) for code in COUNTRY_CURRENCIES.values())
    expected = {
        "GB": "GBP",
        "US": "USD",
        "DE": "EUR",
        "IE": "EUR",
        "HR": "EUR",
        "ME": "EUR",
        "XK": "EUR",
        "LI": "CHF",
        "IN": "INR",
        "AU": "AUD",
        "JP": "JPY",
        "ZW": "ZWL",  # kept for the Acquisition API's schema (spec §10.3)
        "BG": "EUR",  # the euro since 2026-01-01
    }
    assert {country: COUNTRY_CURRENCIES[country] for country in expected} == expected


@pytest.mark.parametrize("country", ["AQ", "BT", "HT", "LS", "NA", "PA", "PS"])
def test_countries_without_a_single_tender_have_no_currency(country: str) -> None:
    assert country not in COUNTRY_CURRENCIES


# --------------------------------------------------------------------------------------------------
# The router's decisions


@pytest.mark.parametrize(
    ("platform", "store"),
    [
        ("ios-feast", "apple"),
        ("android-feast", "google"),
        ("ios", None),
        ("android", None),
        ("ios-puzzles", None),
        (None, None),
        (7, None),
    ],
)
def test_only_feast_subscriptions_go_to_a_store_queue(platform: Any, store: str | None) -> None:
    row = apple_row(platform=platform) if platform is not None else apple_row()
    if platform is None:
        del row["platform"]
    assert acquisition_store(row) == store


END = datetime(2026, 3, 14, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("now", "active"),
    [
        (END - timedelta(days=20), True),
        (END + timedelta(days=30), True),
        (END + timedelta(days=30, milliseconds=1), False),
        (END + timedelta(days=400), False),
    ],
)
def test_a_subscription_is_active_until_30_days_after_its_end(now: datetime, active: bool) -> None:
    assert is_active(apple_row(), now=now) is active


@pytest.mark.parametrize("end", ["", "not a date", None, 1773480600000])
def test_a_subscription_without_a_readable_end_is_not_active(end: Any) -> None:
    assert is_active(apple_row(endTimestamp=end), now=END) is False


def test_the_queue_message_is_the_row_then_the_data_mapper_table_name() -> None:
    row = {"subscriptionId": OTID, "startTimestamp": START, "googlePayload": None, "ttl": 1852000000}
    assert compact(queue_message(row)) == (
        b'{"subscriptionId":"2000000123456789","startTimestamp":"2026-02-14T09:30:00.000Z",'
        b'"googlePayload":null,"ttl":1852000000,"tableName":"subscriptions"}'
    )
    assert "tableName" not in row


# --------------------------------------------------------------------------------------------------
# The event (spec §10.4)


def test_the_payload_is_spec_10_4_byte_for_byte() -> None:
    payload = acquisition_payload(
        event_time_stamp=START, country="GB", currency="GBP", payment_frequency="MONTHLY", payment_id=OTID
    )
    assert compact(payload) == SPEC_10_4


def test_the_apple_event_of_the_spec_fixture() -> None:
    assert compact(apple_acquisition(apple_row(), transaction())) == SPEC_10_4


@pytest.mark.parametrize(
    ("product", "frequency"),
    [
        ("uk.co.guardian.Feast.yearly", "ANNUALLY"),
        ("uk.co.guardain.Feast.yearly.discounted", "ANNUALLY"),  # sic
        ("uk.co.guardian.Feast.monthly", "MONTHLY"),
        ("uk.co.guardian.Feast.monthly.discounted", "MONTHLY"),
    ],
)
def test_the_apple_payment_frequency_comes_from_the_product(product: str, frequency: str) -> None:
    payload = apple_acquisition(apple_row(), transaction(productId=product))
    assert payload["paymentFrequency"] == frequency


def test_the_apple_country_and_currency_come_from_the_signed_transaction() -> None:
    signed = transaction(storefront="XKX", currency="EUR", productId="uk.co.guardian.Feast.yearly")
    assert apple_acquisition(apple_row(), signed) == event("XK", "EUR", "ANNUALLY", OTID)


def test_an_apple_transaction_without_currency_takes_its_country_s() -> None:
    signed = transaction(storefront="USA", currency=None)
    assert apple_acquisition(apple_row(), signed) == event("US", "USD", "MONTHLY", OTID)


def test_the_row_names_the_product_when_the_transaction_does_not() -> None:
    signed = transaction(productId=None)
    row = apple_row(productId="uk.co.guardian.Feast.yearly")
    assert apple_acquisition(row, signed)["paymentFrequency"] == "ANNUALLY"


def test_without_a_row_start_the_apple_event_takes_the_original_purchase_date() -> None:
    payload = apple_acquisition(apple_row(startTimestamp=""), transaction())
    assert payload["eventTimeStamp"] == "2026-02-14T09:30:00.000Z"


@pytest.mark.parametrize(
    ("row", "signed", "reason"),
    [
        (apple_row(), transaction(storefront="ZZZ"), "storefront 'ZZZ' is no known country"),
        (apple_row(), transaction(storefront="gbr"), "storefront 'gbr' is no known country"),
        (apple_row(), transaction(storefront=None), "the transaction names no storefront"),
        (
            apple_row(),
            transaction(storefront="ATA", currency=None),
            "no currency is known for country 'AQ'",
        ),
        (
            apple_row(),
            transaction(productId="uk.co.guardian.Feast.weekly"),
            "product 'uk.co.guardian.Feast.weekly' has no known payment frequency",
        ),
        (
            apple_row(productId=None),
            transaction(productId=None),
            "product None has no known payment frequency",
        ),
        (apple_row(startTimestamp=None), transaction(originalPurchaseDate=None), "no start time"),
        (apple_row(subscriptionId=""), transaction(), "the subscription has no subscriptionId"),
    ],
)
def test_what_keeps_an_apple_subscription_from_making_an_event(
    row: dict[str, Any], signed: dict[str, Any], reason: str
) -> None:
    with pytest.raises(NotAnAcquisition, match=re.escape(reason)):
        apple_acquisition(row, signed)


def test_the_google_event() -> None:
    payload = google_acquisition(google_row(), v2())
    assert compact(payload) == (
        b'{"eventTimeStamp":"2026-02-14T09:30:00.123Z","product":"FEAST_APP","country":"DE",'
        b'"currency":"EUR","abTests":[],"paymentFrequency":"ANNUALLY","labels":[],'
        b'"reusedExistingPaymentMethod":false,"readerType":"Direct","acquisitionType":"PURCHASE",'
        b'"paymentId":"feast-purchase-token","queryParameters":[]}'
    )


@pytest.mark.parametrize(
    ("region", "country", "currency"),
    [("GB", "GB", "GBP"), ("US", "US", "USD"), ("ZW", "ZW", "ZWL"), ("XK", "XK", "EUR")],
)
def test_the_google_currency_is_the_region_s(region: str, country: str, currency: str) -> None:
    payload = google_acquisition(google_row(), v2(regionCode=region))
    assert (payload["country"], payload["currency"]) == (country, currency)


@pytest.mark.parametrize("region", ["absent", None])
def test_a_google_purchase_without_region_is_british(region: str | None) -> None:
    body = v2()
    if region is None:
        body["regionCode"] = None
    else:
        del body["regionCode"]
    payload = google_acquisition(google_row(), body)
    assert (payload["country"], payload["currency"]) == ("GB", "GBP")


def test_the_google_payment_frequency_comes_from_the_base_plan() -> None:
    assert google_acquisition(google_row(), v2("feast-monthly"))["paymentFrequency"] == "MONTHLY"


def test_without_a_google_start_time_the_event_takes_the_row_s() -> None:
    body = v2()
    del body["startTime"]
    assert google_acquisition(google_row(), body)["eventTimeStamp"] == START


@pytest.mark.parametrize(
    ("row", "body", "reason"),
    [
        (google_row(), v2(regionCode="AQ"), "no currency is known for country 'AQ'"),
        (google_row(), v2(regionCode=""), "no currency is known for country ''"),
        (google_row(), v2(regionCode=826), "regionCode 826 is not a country code"),
        (google_row(), v2("feast-quarterly"), "base plan 'feast-quarterly' has no known payment frequency"),
        (google_row(), v2(lineItems=[]), "expected exactly one line item in the subscription, got 0"),
        (google_row(), v2(lineItems=[{"productId": "p"}]), "no lineItems[0].offerDetails.basePlanId"),
        (google_row(), v2(startTime="yesterday"), "unparsable startTime 'yesterday'"),
        (google_row(startTimestamp=""), v2(startTime=None), "the subscription has no start time"),
    ],
)
def test_what_keeps_a_google_subscription_from_making_an_event(
    row: dict[str, Any], body: dict[str, Any], reason: str
) -> None:
    with pytest.raises(NotAnAcquisition, match=re.escape(reason)):
        google_acquisition(row, body)
