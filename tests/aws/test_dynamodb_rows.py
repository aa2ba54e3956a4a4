"""Rows as DynamoDB stores them: what DynamoTable writes for the real tables of topology.py is
attribute-for-attribute and type-for-type what the original's data-mapper wrote (spec
mobile-purchases.md §1.2-§1.5), checked with a raw ``GetItem``; and the marshalling rules
themselves (``marshal.py``).

Reading a row back gives what the flows wrote, with one loss the original had too: an empty
string inside the "Any" payloads (``applePayload``, ``googlePayload``), or in a top-level
attribute not declared as a string, was stored as NULL and reads back as None."""

from __future__ import annotations

import copy
import json
import math
from datetime import UTC, datetime
from typing import Any

import pytest

from supporterflow.adapters.aws.dynamodb import DynamoTable
from supporterflow.adapters.aws.marshal import from_dynamo, from_value, number_text, to_dynamo, to_value
from supporterflow.declare import TableDef
from supporterflow.domain.subscriptions.apple_receipts import to_apple_subscription
from supporterflow.domain.subscriptions.apple_v1 import parse_payload, to_dynamo_event
from supporterflow.domain.subscriptions.apple_validation import to_sensible_payload_format
from supporterflow.domain.subscriptions.google_play import to_live_subscription
from supporterflow.topology import SUBSCRIPTION_EVENTS, SUBSCRIPTIONS, USER_SUBSCRIPTIONS
from tests.aws.conftest import REGION
from tests.aws.test_dynamodb_table import SESSION, create_table
from tests.unit.subscriptions.fixtures import MONTHLY_TRIAL, RECEIPT, apple_notification, receipt_info

APP, STAGE = "mobile-purchases", "CODE"
NOW = datetime(2023, 3, 14, tzinfo=UTC)
NULL = {"NULL": True}


@pytest.fixture
def client(aws: None) -> Any:
    client = SESSION.client("dynamodb", region_name=REGION)
    for definition in (SUBSCRIPTIONS, SUBSCRIPTION_EVENTS, USER_SUBSCRIPTIONS):
        create_table(client, definition, definition.physical_name(APP, STAGE))
    return client


def table(client: Any, definition: TableDef) -> DynamoTable:
    return DynamoTable(client, definition, table_name=definition.physical_name(APP, STAGE))


def raw(client: Any, definition: TableDef, key: dict[str, str]) -> dict[str, Any]:
    response = client.get_item(
        TableName=definition.physical_name(APP, STAGE),
        Key={name: {"S": value} for name, value in key.items()},
        ConsistentRead=True,
    )
    item: dict[str, Any] = response["Item"]
    return item


def test_the_tables_have_the_originals_physical_names() -> None:
    assert SUBSCRIPTIONS.physical_name(APP, STAGE) == "mobile-purchases-CODE-subscriptions"
    assert SUBSCRIPTION_EVENTS.physical_name(APP, STAGE) == "mobile-purchases-CODE-subscription-events-v2"
    assert USER_SUBSCRIPTIONS.physical_name(APP, STAGE) == "mobile-purchases-CODE-user-subscriptions"


# §1.3 Subscription -------------------------------------------------------------------------------


def apple_subscription_row() -> dict[str, Any]:
    """The V1 row of a verifyReceipt response (spec §3.8), as the Apple update flow builds it."""
    response = {
        "status": 0,
        "environment": "Production",
        "latest_receipt": RECEIPT,
        "latest_receipt_info": [receipt_info(is_trial_period="true")],
        "pending_renewal_info": [
            {
                "original_transaction_id": "1234",
                "auto_renew_status": "1",
                "product_id": MONTHLY_TRIAL,
                "price_consent_status": "",
            }
        ],
    }
    [validation] = to_sensible_payload_format(response, RECEIPT)
    return to_apple_subscription(validation, extra="")


async def test_an_apple_subscription_row_is_stored_as_the_data_mapper_stored_it(client: Any) -> None:
    row = apple_subscription_row()

    await table(client, SUBSCRIPTIONS).put(row)

    assert raw(client, SUBSCRIPTIONS, {"subscriptionId": "1234"}) == {
        "subscriptionId": {"S": "1234"},
        "startTimestamp": {"S": "2019-08-29T12:28:23.000Z"},
        "endTimestamp": {"S": "2019-10-10T11:09:54.000Z"},
        "autoRenewing": {"BOOL": True},
        "productId": {"S": MONTHLY_TRIAL},
        "platform": {"S": "ios"},
        "freeTrial": {"BOOL": True},
        "billingPeriod": {"S": "P1M"},
        "googlePayload": NULL,
        "receipt": {"S": RECEIPT},
        "applePayload": {
            "M": {
                "status": {"N": "0"},
                "environment": {"S": "Production"},
                "latest_receipt": {"S": RECEIPT},
                "latest_receipt_info": {
                    "L": [
                        {
                            "M": {
                                "bundle_id": {"S": "uk.co.guardian.iphone2"},
                                "is_trial_period": {"S": "true"},
                                "original_purchase_date_ms": {"S": "1567081703000"},
                                "original_transaction_id": {"S": "1234"},
                                "product_id": {"S": MONTHLY_TRIAL},
                                "expires_date_ms": {"S": "1570705794000"},
                            }
                        }
                    ]
                },
                "pending_renewal_info": {
                    "L": [
                        {
                            "M": {
                                "original_transaction_id": {"S": "1234"},
                                "auto_renew_status": {"S": "1"},
                                "product_id": {"S": MONTHLY_TRIAL},
                                "price_consent_status": NULL,  # nested '' (nullify)
                            }
                        }
                    ]
                },
            }
        },
        "ttl": {"N": "1649588994"},
        "extra": NULL,  # '' of a string attribute
    }


async def test_an_apple_subscription_row_reads_back_as_written_but_for_payload_empty_strings(
    client: Any,
) -> None:
    row = apple_subscription_row()
    subscriptions = table(client, SUBSCRIPTIONS)
    await subscriptions.put(row)

    read = await subscriptions.get({"subscriptionId": "1234"})

    expected = copy.deepcopy(row)
    expected["applePayload"]["pending_renewal_info"][0]["price_consent_status"] = None  # the original's loss
    assert read == expected
    assert read is not None
    assert read["extra"] == ""  # a declared string: '' again
    assert type(read["ttl"]) is int


def google_subscription_row() -> dict[str, Any]:
    """The live Google row from a v1 ``purchases.subscriptions`` body (spec §4.7)."""
    body = {
        "kind": "androidpublisher#subscriptionPurchase",
        "startTimeMillis": "1767261600123",
        "expiryTimeMillis": "1769940000456",
        "autoRenewing": True,
        "priceCurrencyCode": "GBP",
        "priceAmountMicros": "11990000",
        "countryCode": "GB",
        "developerPayload": "",
        "paymentState": 1,
        "orderId": "GPA.3301-2345-6789-01234",
        "acknowledgementState": 1,
    }
    return to_live_subscription(
        "purchase-token-1", "com.guardian", "uk.co.guardian.gla.1month", body, billing_period="P1M", extra=""
    )


async def test_a_google_subscription_row_is_stored_as_the_data_mapper_stored_it(client: Any) -> None:
    await table(client, SUBSCRIPTIONS).put(google_subscription_row())

    assert raw(client, SUBSCRIPTIONS, {"subscriptionId": "purchase-token-1"}) == {
        "subscriptionId": {"S": "purchase-token-1"},
        "startTimestamp": {"S": "2026-01-01T10:00:00.123Z"},
        "endTimestamp": {"S": "2026-02-01T10:00:00.456Z"},
        "autoRenewing": {"BOOL": True},
        "productId": {"S": "uk.co.guardian.gla.1month"},
        "platform": {"S": "android"},
        "freeTrial": {"BOOL": False},
        "billingPeriod": {"S": "P1M"},
        "googlePayload": {
            "M": {
                "kind": {"S": "androidpublisher#subscriptionPurchase"},
                "startTimeMillis": {"S": "1767261600123"},
                "expiryTimeMillis": {"S": "1769940000456"},
                "autoRenewing": {"BOOL": True},
                "priceCurrencyCode": {"S": "GBP"},
                "priceAmountMicros": {"S": "11990000"},
                "countryCode": {"S": "GB"},
                "developerPayload": NULL,
                "paymentState": {"N": "1"},
                "orderId": {"S": "GPA.3301-2345-6789-01234"},
                "acknowledgementState": {"N": "1"},
            }
        },
        "applePayload": NULL,
        "ttl": {"N": "1848736801"},
        "extra": NULL,
    }


async def test_a_google_subscription_row_reads_back_as_written_but_for_payload_empty_strings(
    client: Any,
) -> None:
    row = google_subscription_row()
    subscriptions = table(client, SUBSCRIPTIONS)
    await subscriptions.put(row)

    read = await subscriptions.get({"subscriptionId": "purchase-token-1"})

    expected = copy.deepcopy(row)
    expected["googlePayload"]["developerPayload"] = None  # the original's loss
    assert read == expected


async def test_a_feast_android_row_without_start_keeps_its_empty_start(client: Any) -> None:
    """Feast-Android rows may have ``startTimestamp: ''`` (spec §1.3) and no ``extra``."""
    row = {
        "subscriptionId": "feast-token",
        "startTimestamp": "",
        "endTimestamp": "2026-02-01T10:00:00.456Z",
        "autoRenewing": False,
        "productId": "dev_testing_feast",
        "googlePayload": {"rawResponse": {"startTime": ""}, "testPurchase": None},
        "applePayload": None,
        "ttl": 1848736801,
    }
    subscriptions = table(client, SUBSCRIPTIONS)
    await subscriptions.put(row)

    image = raw(client, SUBSCRIPTIONS, {"subscriptionId": "feast-token"})
    assert image["startTimestamp"] == NULL
    assert image["googlePayload"] == {"M": {"rawResponse": {"M": {"startTime": NULL}}, "testPurchase": NULL}}
    assert "extra" not in image
    read = await subscriptions.get({"subscriptionId": "feast-token"})
    assert read == {**row, "googlePayload": {"rawResponse": {"startTime": None}, "testPurchase": None}}


# §1.4 SubscriptionEvent --------------------------------------------------------------------------


def apple_event_row() -> dict[str, Any]:
    """The event of the V1 test notification (spec §12.1.4) with real dates in its receipt."""
    notification = apple_notification()
    (info,) = notification["unified_receipt"]["latest_receipt_info"]
    info.update(purchase_date_ms="1567081703000", expires_date_ms="1570705794000")
    return to_dynamo_event(parse_payload(json.dumps(notification)), now=NOW)


async def test_a_subscription_event_is_stored_as_the_data_mapper_stored_it(client: Any) -> None:
    event = apple_event_row()

    await table(client, SUBSCRIPTION_EVENTS).put(event)

    key = {"subscriptionId": "TEST", "timestampAndType": "2023-03-14T00:00:00.000Z|INITIAL_BUY"}
    image = raw(client, SUBSCRIPTION_EVENTS, key)
    payload = image.pop("applePayload")
    assert image == {
        "subscriptionId": {"S": "TEST"},
        "timestampAndType": {"S": "2023-03-14T00:00:00.000Z|INITIAL_BUY"},
        "date": {"S": "2023-03-14"},
        "timestamp": {"S": "2023-03-14T00:00:00.000Z"},
        "eventType": {"S": "INITIAL_BUY"},
        "platform": {"S": "ios"},
        "appId": {"S": "uk.co.guardian.iphone2"},
        "freeTrial": {"BOOL": True},
        "googlePayload": NULL,
        "ttl": {"N": "1757808000"},
        "promotional_offer_id": NULL,
        "promotional_offer_name": NULL,
        "product_id": {"S": "uk.co.guardian.gla.12months.2018Dec.withFreeTrial"},
        "purchase_date_ms": {"N": "1567081703000"},
        "expires_date_ms": {"N": "1570705794000"},
        "extra": NULL,
    }
    members = payload["M"]
    assert members["notification_type"] == {"S": "INITIAL_BUY"}
    assert members["purchase_date_ms"] == {"N": "1567081703000"}
    assert members["promotional_offer_id"] == NULL
    receipt = members["unified_receipt"]["M"]
    assert receipt["status"] == {"N": "0"}
    (renewal,) = receipt["pending_renewal_info"]["L"]
    assert renewal["M"]["price_consent_status"] == NULL
    assert renewal["M"]["price_increase_status"] == NULL
    (latest,) = receipt["latest_receipt_info"]["L"]
    assert latest["M"]["is_trial_period"] == {"S": "true"}


async def test_a_subscription_event_reads_back_as_written_but_for_payload_empty_strings(
    client: Any,
) -> None:
    event = apple_event_row()
    events = table(client, SUBSCRIPTION_EVENTS)
    await events.put(event)

    read = await events.get({"subscriptionId": "TEST", "timestampAndType": event["timestampAndType"]})

    expected = copy.deepcopy(event)
    renewal = expected["applePayload"]["unified_receipt"]["pending_renewal_info"][0]
    renewal.update(price_consent_status=None, price_increase_status=None)  # the original's loss
    assert read == expected
    assert read is not None
    assert read["extra"] == ""
    assert read["promotional_offer_id"] is None


async def test_an_event_of_the_all_test_notification_is_refused_as_the_original_was(client: Any) -> None:
    """``purchase_date_ms: 'TEST'`` gives NaN (§12.1.4), which DynamoDB refuses (§1.2)."""
    event = to_dynamo_event(parse_payload(json.dumps(apple_notification())), now=NOW)
    assert math.isnan(event["purchase_date_ms"])

    with pytest.raises(ValueError, match="purchase_date_ms"):
        await table(client, SUBSCRIPTION_EVENTS).put(event)

    assert client.scan(TableName=SUBSCRIPTION_EVENTS.physical_name(APP, STAGE))["Items"] == []


async def test_events_are_found_by_day_in_timestamp_order(client: Any) -> None:
    events = table(client, SUBSCRIPTION_EVENTS)
    for hour in (5, 1, 3):
        now = datetime(2023, 3, 14, hour, tzinfo=UTC)
        event = apple_event_row()
        event.update(timestampAndType=f"{now.isoformat()}|X", timestamp=now.isoformat())
        await events.put(event)

    page = await events.query("2023-03-14", index="date-timestamp-index-v2")

    assert [item["timestamp"][11:13] for item in page.items] == ["01", "03", "05"]


# §1.5 UserSubscription ---------------------------------------------------------------------------


async def test_a_user_subscription_is_stored_as_the_data_mapper_stored_it(client: Any) -> None:
    link = {"userId": "100004131", "subscriptionId": "1234", "creationTimestamp": "2023-03-14T00:00:00.000Z"}
    links = table(client, USER_SUBSCRIPTIONS)

    await links.put(link)

    assert raw(client, USER_SUBSCRIPTIONS, {"userId": "100004131", "subscriptionId": "1234"}) == {
        "userId": {"S": "100004131"},
        "subscriptionId": {"S": "1234"},
        "creationTimestamp": {"S": "2023-03-14T00:00:00.000Z"},
    }
    assert await links.get({"userId": "100004131", "subscriptionId": "1234"}) == link
    by_subscription = await links.query("1234", index="subscriptionId-userId")
    assert by_subscription.items == [link]


# marshal.py --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("text", {"S": "text"}),
        ("", NULL),
        (None, NULL),
        (True, {"BOOL": True}),
        (False, {"BOOL": False}),
        (0, {"N": "0"}),
        (-12, {"N": "-12"}),
        (10**20, {"N": "100000000000000000000"}),
        (1.5, {"N": "1.5"}),
        (0.1, {"N": "0.1"}),
        (1e-7, {"N": "1e-07"}),
        ({}, {"M": {}}),
        ([], {"L": []}),
        (
            {"a": "", "b": [1, "", None, {"c": ""}]},
            {"M": {"a": NULL, "b": {"L": [{"N": "1"}, NULL, NULL, {"M": {"c": NULL}}]}}},
        ),
        (("x", "y"), {"L": [{"S": "x"}, {"S": "y"}]}),
    ],
    ids=repr,
)
def test_values_are_stored_with_the_data_mapper_types(value: Any, stored: dict[str, Any]) -> None:
    assert to_value(value) == stored


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")], ids=repr)
def test_numbers_dynamodb_cannot_store_are_refused(value: float) -> None:
    with pytest.raises(ValueError, match="price"):
        to_dynamo({"id": "x", "payload": {"price": value}})


@pytest.mark.parametrize(
    "value", [b"bytes", {1, 2}, object(), {1: "a"}], ids=["bytes", "set", "object", "int-key"]
)
def test_values_that_are_not_json_are_refused(value: Any) -> None:
    with pytest.raises(ValueError, match="x"):
        to_dynamo({"x": value})


def test_ints_are_written_exactly_and_floats_as_their_shortest_text() -> None:
    assert number_text(3) == "3"
    assert number_text(2**70) == str(2**70)
    assert number_text(2.0) == "2.0"
    assert number_text(1 / 3) == "0.3333333333333333"
    with pytest.raises(ValueError, match="boolean"):
        number_text(True)


@pytest.mark.parametrize(
    ("stored", "value"),
    [
        ({"N": "42"}, 42),
        ({"N": "-7"}, -7),
        ({"N": "1.5"}, 1.5),
        ({"N": "1E+2"}, 100.0),
        ({"N": "100000000000000000000"}, 10**20),
        ({"S": ""}, ""),
        ({"NULL": True}, None),
        ({"BOOL": False}, False),
        ({"M": {"a": {"NULL": True}, "b": {"L": [{"N": "1"}, {"S": "x"}]}}}, {"a": None, "b": [1, "x"]}),
    ],
    ids=repr,
)
def test_stored_values_read_back(stored: dict[str, Any], value: Any) -> None:
    read = from_value(stored)
    assert read == value
    assert type(read) is type(value)


def test_null_reads_back_as_empty_only_for_top_level_declared_strings() -> None:
    image: dict[str, Any] = {
        "extra": NULL,
        "receipt": NULL,
        "note": NULL,
        "payload": {"M": {"extra": NULL}},
        "n": {"N": "1"},
    }

    assert from_dynamo(image, frozenset({"extra", "receipt"})) == {
        "extra": "",
        "receipt": "",
        "note": None,
        "payload": {"extra": None},
        "n": 1,
    }


def test_absent_attributes_stay_absent_both_ways() -> None:
    item = {"id": "x", "a": None}
    assert to_dynamo(item) == {"id": {"S": "x"}, "a": NULL}
    assert from_dynamo({"id": {"S": "x"}}, frozenset({"a"})) == {"id": "x"}


def test_an_attribute_value_of_an_unknown_type_is_refused() -> None:
    with pytest.raises(ValueError, match="B"):
        from_value({"B": b"x"})
    with pytest.raises(ValueError, match="attribute value"):
        from_value({"S": "a", "N": "1"})
