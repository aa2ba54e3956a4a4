"""The Google Play update consumers (spec §4.3-§4.7, §5.6, §5.8, §12.13): the original's Feast
test reproduced with fakes over the real SQLite tables and queues, what each Play Developer API
answer means to the live consumer, events completed by the fetch, the "never backwards" rule and
superseded purchases; then the whole pipeline in process against the Play (and Braze) emulators:
the life cycle of a live and a Feast subscription from signed pushes, and Google failing
(5xx to the DLQ and replayed, 429 with ``Retry-After``, timeouts).

The tests that call a consumer with a message (``container``: fakes or the Play emulator's API
over the real tables and queues) run on both profiles (``[local]``, ``[aws]``): the local one on
SQLite, the aws one on a moto server provisioned from the CloudFormation template, where what a
fetch sends (snapshots, re-fetches) is written with its row to the transactional outbox and stays
there (no runtime, so no relay, runs in them). The in-process pipeline tests (``pipeline``) stay
on the local profile: they move a frozen clock past SQLite's visibility deadlines, read the DLQ's
messages with ``list()`` and wait for "both fetch queues empty", which on SQS holds before the
relay has sent the outbox's messages."""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]
import httpx
import pytest
from starlette.applications import Starlette

from supporterflow.adapters.braze import BrazeIdentityLookup
from supporterflow.adapters.clock import FrozenClock
from supporterflow.adapters.google import GoogleAccessTokens, GooglePlayApi
from supporterflow.adapters.outbound import AsgiTransport, Reply, Transport
from supporterflow.bootstrap import (
    EMULATED_TOKEN_URI,
    LOCAL_PUSH_AUDIENCE,
    Container,
    bootstrap,
    google_emulator_directory,
)
from supporterflow.config import Settings
from supporterflow.declare import Topology
from supporterflow.domain.subscriptions.dates import to_iso
from supporterflow.emulators.braze import create_braze_app
from supporterflow.emulators.google.app import create_play_app
from supporterflow.emulators.google.oauth import SERVICE_ACCOUNT_FILE, ServiceAccount
from supporterflow.emulators.google.payloads import developer_notification
from supporterflow.emulators.google.push import PushSigner, push_body
from supporterflow.emulators.google.sender import notification_body
from supporterflow.emulators.google.store import (
    SUBSCRIPTION,
    SUBSCRIPTION_PURCHASED,
    VOIDED,
    GooglePlayState,
    Step,
)
from supporterflow.functions.google_pubsub import google_pubsub
from supporterflow.functions.google_update import feast_google_update, google_update
from supporterflow.ports import GiveUp, Gone, Ignore, Retry
from supporterflow.runtime.process import Runtime
from supporterflow.topology import TOPOLOGY
from tests.aws.conftest import REGION
from tests.aws.test_aws_runtime import (  # noqa: F401 (endpoint, moto_endpoint: fixtures of the aws profile)
    aws_settings,
    endpoint,
    moto_endpoint,
    provisioned,
)
from tests.support import Flaky, ProfileRuntime, drive, fast_retries, open_container, outbox_rows, runtime_for

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
NOW_ISO = "2026-03-10T12:00:00.000Z"

LIVE = "com.guardian"
LIVE_SKU = "guardian.subscription.month.meteredoffer"
ANNUAL_SKU = "guardian.subscription.annual.meteroffer"
FEAST = "uk.co.guardian.feast"
FEAST_PRODUCT = "uk.co.guardian.feast.access"
TOKEN = "live-purchase-token"
OLD_TOKEN = "old-purchase-token"

LIVE_QUEUE = "google-subscriptions-to-fetch"
FEAST_QUEUE = "feast-google-subscriptions-to-fetch"
HISTORICAL = "google-historical-subscriptions"

FAST = fast_retries(TOPOLOGY)
#: The real back-off (2 s base, 300 s ceiling), without the schedules: what Retry-After meets.
REAL_BACKOFF = Topology(
    tables=TOPOLOGY.tables, queues=TOPOLOGY.queues, consumers=TOPOLOGY.consumers, streams=TOPOLOGY.streams
)


# --------------------------------------------------------------------------------------------------
# Fakes of the ports

Answer = dict[str, Any] | None | Exception


def _give(answer: Answer) -> dict[str, Any] | None:
    if isinstance(answer, Exception):
        raise answer
    return copy.deepcopy(answer)


@dataclass
class FakeGooglePlay:
    """The Play Developer API answering (or raising) what each field is set to, recording calls."""

    v1: Answer = None
    v2: Answer = None
    monetization: Answer = None
    calls: list[tuple[str, ...]] = field(default_factory=list)

    async def subscription_v1(
        self, package_name: str, subscription_id: str, purchase_token: str
    ) -> dict[str, Any] | None:
        self.calls.append(("v1", package_name, subscription_id, purchase_token))
        return _give(self.v1)

    async def subscription_v2(self, package_name: str, purchase_token: str) -> dict[str, Any] | None:
        self.calls.append(("v2", package_name, purchase_token))
        return _give(self.v2)

    async def monetization_subscription(self, package_name: str, product_id: str) -> dict[str, Any] | None:
        self.calls.append(("monetization", package_name, product_id))
        return _give(self.monetization)


class FakeIdentityLookup:
    """Braze as the original's stub: an external id it knows -> identity, anything else rejected."""

    def __init__(self, identities: Mapping[str, str | None]) -> None:
        self._identities = identities
        self.asked: list[str] = []

    async def identity_id(self, external_id: str) -> str | None:
        self.asked.append(external_id)
        if external_id not in self._identities:
            raise LookupError(f"unknown external id {external_id}")
        return self._identities[external_id]


# --------------------------------------------------------------------------------------------------
# Google-shaped answers


def ms(at: datetime) -> str:
    """A v1 time: a string of milliseconds."""
    return str(int(at.timestamp() * 1000))


START = NOW - timedelta(days=1)  # 2026-03-09T12:00:00.000Z
EXPIRY = NOW + timedelta(days=30)  # 2026-04-09T12:00:00.000Z
EXPIRY_TTL = 1854705600  # 2028-10-09T12:00:00.000Z: the expiry + 30 months, in seconds


def v1_body(**changes: Any) -> dict[str, Any]:
    """A v1 ``SubscriptionPurchase``, paid and auto-renewing; ``None`` removes a field."""
    body: dict[str, Any] = {
        "kind": "androidpublisher#subscriptionPurchase",
        "startTimeMillis": ms(START),
        "expiryTimeMillis": ms(EXPIRY),
        "autoRenewing": True,
        "priceCurrencyCode": "GBP",
        "priceAmountMicros": "11990000",
        "countryCode": "GB",
        "developerPayload": "",
        "paymentState": 1,
        "orderId": "GPA.3301-2345-6789-01234",
        "acknowledgementState": 1,
        **changes,
    }
    return {key: value for key, value in body.items() if value is not None}


def v2_body(
    product_id: str = LIVE_SKU, *, offer_id: str | None = "intro-offer", **changes: Any
) -> dict[str, Any]:
    """A ``SubscriptionPurchaseV2`` with one line item; ``None`` removes a field."""
    offer = {"basePlanId": "p1m", "offerTags": []} | ({"offerId": offer_id} if offer_id else {})
    body: dict[str, Any] = {
        "kind": "androidpublisher#subscriptionPurchaseV2",
        "regionCode": "GB",
        "lineItems": [
            {
                "productId": product_id,
                "expiryTime": "2026-04-09T12:00:00.000Z",
                "autoRenewingPlan": {"autoRenewEnabled": True},
                "offerDetails": offer,
                "latestSuccessfulOrderId": "GPA.3301-2345-6789-01234",
            }
        ],
        "startTime": "2026-03-09T12:00:00.000Z",
        "subscriptionState": "SUBSCRIPTION_STATE_ACTIVE",
        "latestOrderId": "GPA.3301-2345-6789-01234",
        "acknowledgementState": "ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED",
        **changes,
    }
    return {key: value for key, value in body.items() if value is not None}


def extra_of(package_name: str, token: str, product_id: str, v2: dict[str, Any], offers: list[Any]) -> str:
    """The ``extra`` column as the original's ``JSON.stringify`` wrote it (spec §4.6)."""
    extra = {
        "guType": "google-extra-2025-06-26",
        "packageName": package_name,
        "purchaseToken": token,
        "productId": product_id,
        "subscription": v2,
        "offerTags": offers,
    }
    return json.dumps(extra, separators=(",", ":"))


def message(reference: Mapping[str, Any]) -> bytes:
    return json.dumps(reference, separators=(",", ":")).encode()


def reference(token: str = TOKEN, sku: str = LIVE_SKU, package_name: str = LIVE) -> dict[str, Any]:
    return {"packageName": package_name, "purchaseToken": token, "subscriptionId": sku}


async def messages(container: Container, queue: str) -> list[bytes]:
    """The bodies of the messages sent towards ``queue`` (which nothing consumes): in the queue
    (local), or in the transactional outbox (aws; SQS cannot list messages without receiving
    them, and the outbox keeps no order). The outbox keeps what the relay sent until the rows'
    TTL, so it holds them all whether a runtime ran or not."""
    if container.settings.profile == "local":
        return [m.body for m in (await container.queues[queue].list(limit=1000)).messages]
    return [row["body"]["S"].encode() for row in outbox_rows(container, queue)]


async def forget(container: Container, queue: str) -> None:
    """Drop what was sent towards ``queue`` (from the outbox, on aws)."""
    if container.settings.profile == "local":
        await container.queues[queue].purge()
        return
    dynamodb = boto3.client("dynamodb", region_name=REGION, endpoint_url=container.settings.aws_endpoint_url)
    for row in outbox_rows(container, queue):
        dynamodb.delete_item(
            TableName=f"mobile-purchases-{container.settings.stage}-outbox", Key={"id": row["id"]}
        )


async def history(container: Container) -> list[dict[str, Any]]:
    """The snapshots sent to the historical queue, by ``snapshotDate`` (as sent, locally)."""
    snapshots = [json.loads(body) for body in await messages(container, HISTORICAL)]
    return sorted(snapshots, key=lambda snapshot: str(snapshot["snapshotDate"]))


async def links(container: Container) -> list[dict[str, Any]]:
    items = (await container.tables["user-subscriptions"].scan()).items
    return sorted(items, key=lambda item: (item["subscriptionId"], item["userId"]))


async def subscription(container: Container, subscription_id: str) -> dict[str, Any] | None:
    return await container.tables["subscriptions"].get({"subscriptionId": subscription_id})


async def all_subscriptions(container: Container) -> list[dict[str, Any]]:
    return (await container.tables["subscriptions"].scan()).items


@pytest.fixture(params=["local", "aws"])
def profile(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
async def container(profile: str, request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Container]:
    """Real tables and queues, a frozen clock; no emulator: the tests give their own fakes. On
    aws, the template's resources (stage CODE) in moto."""
    if profile == "local":
        opened = open_container(tmp_path, TOPOLOGY, FrozenClock(NOW), emulators="off")
    else:
        # The moto server starts with the module's first aws test; ``endpoint`` resets it after each.
        moto_url: str = request.getfixturevalue("endpoint")
        base = aws_settings(tmp_path, moto_url, "CODE", provisioned(moto_url, "CODE"))
        settings = Settings(**{name: getattr(base, name) for name in base.model_fields_set}, emulators="off")
        opened = bootstrap(settings, clock=FrozenClock(NOW), topology=TOPOLOGY).open()
    yield opened
    await opened.aclose()


def clock_of(container: Container) -> FrozenClock:
    assert isinstance(container.clock, FrozenClock)
    return container.clock


async def update(
    container: Container,
    body: bytes,
    google_play: FakeGooglePlay,
    *,
    feast: bool = False,
    identity_lookup: FakeIdentityLookup | None = None,
) -> None:
    """One message through ``google_update`` (or ``feast_google_update``), called with this
    container's tables, queues and clock and the fakes given."""
    container.collaborators["google_play"] = google_play
    container.collaborators["identity_lookup"] = identity_lookup or FakeIdentityLookup({})
    handler = feast_google_update if feast else google_update
    await container.inject(handler, leading=1)(body)


# --------------------------------------------------------------------------------------------------
# Spec §12.13: feast_google_update with every collaborator but the tables and queues injected

V2_1213 = v2_body(
    "test-subscription-id",
    offer_id=None,
    externalAccountIdentifiers={"obfuscatedExternalAccountId": "aaaa-bbbb-cccc-dddd"},
)
MONETIZATION_1213 = {
    "packageName": FEAST,
    "productId": "test-subscription-id",
    "basePlans": [
        {"basePlanId": "p1m", "state": "ACTIVE", "autoRenewingBasePlanType": {"billingPeriodDuration": "P1M"}}
    ],
}
V1_1213 = {
    "startTimeMillis": ms(START),
    "expiryTimeMillis": ms(EXPIRY),
    "autoRenewing": True,
    "paymentState": 1,
    "userCancellationTimeMillis": "",
}
REFERENCE_1213 = {
    "packageName": FEAST,
    "purchaseToken": "test-purchase-token",
    "subscriptionId": "test-subscription-id",
}


def feast_row_1213(v2: dict[str, Any], *, account: bool) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "startTime": "2026-03-09T12:00:00.000Z",
        "expiryTime": "2026-04-09T12:00:00.000Z",
        "userCancellationTime": None,
        "autoRenewing": True,
        "productId": "test-subscription-id",
        "billingPeriodDuration": "P1M",
        "freeTrial": False,
        "testPurchase": False,
    }
    if account:
        payload["obfuscatedExternalAccountId"] = "aaaa-bbbb-cccc-dddd"
    payload["rawResponse"] = v2
    return {
        "subscriptionId": "test-purchase-token",
        "startTimestamp": "2026-03-09T12:00:00.000Z",
        "endTimestamp": "2026-04-09T12:00:00.000Z",
        "autoRenewing": True,
        "productId": "test-subscription-id",
        "platform": "android-feast",
        "freeTrial": False,
        "billingPeriod": "P1M",
        "googlePayload": payload,
        "applePayload": None,
        "ttl": EXPIRY_TTL,
        "status": "active",
        "environment": "Production",
        "fetchedAt": NOW_ISO,
    }


async def test_spec_12_13_the_subscription_is_stored_sent_to_the_historical_queue_and_linked(
    container: Container,
) -> None:
    google_play = FakeGooglePlay(v1=V1_1213, v2=V2_1213, monetization=MONETIZATION_1213)
    identities = FakeIdentityLookup({"aaaa-bbbb-cccc-dddd": "123456"})

    await update(container, message(REFERENCE_1213), google_play, feast=True, identity_lookup=identities)

    assert google_play.calls == [
        ("v2", FEAST, "test-purchase-token"),
        ("monetization", FEAST, "test-subscription-id"),
        ("v1", FEAST, "test-subscription-id", "test-purchase-token"),
    ]
    assert await all_subscriptions(container) == [feast_row_1213(V2_1213, account=True)]
    assert await history(container) == [
        {"subscriptionId": "test-purchase-token", "snapshotDate": NOW_ISO, "payload": V1_1213}
    ]
    assert identities.asked == ["aaaa-bbbb-cccc-dddd"]
    assert await links(container) == [
        {"userId": "123456", "subscriptionId": "test-purchase-token", "creationTimestamp": NOW_ISO}
    ]


async def test_spec_12_13_without_an_external_account_id_the_subscription_is_stored_not_linked(
    container: Container,
) -> None:
    v2 = {key: value for key, value in V2_1213.items() if key != "externalAccountIdentifiers"}
    google_play = FakeGooglePlay(v1=V1_1213, v2=v2, monetization=MONETIZATION_1213)
    identities = FakeIdentityLookup({"aaaa-bbbb-cccc-dddd": "123456"})

    await update(container, message(REFERENCE_1213), google_play, feast=True, identity_lookup=identities)

    assert await all_subscriptions(container) == [feast_row_1213(v2, account=False)]
    assert [s["payload"] for s in await history(container)] == [V1_1213]
    assert identities.asked == []
    assert await links(container) == []


async def test_feast_asks_v1_for_the_product_v2_names(container: Container) -> None:
    """The reference of a superseded Feast test purchase names its stored product,
    ``dev_testing_feast``: Google knows the purchase by its real product."""
    google_play = FakeGooglePlay(v1=V1_1213, v2=V2_1213, monetization=MONETIZATION_1213)
    body = message({**REFERENCE_1213, "subscriptionId": "dev_testing_feast"})

    await update(
        container,
        body,
        google_play,
        feast=True,
        identity_lookup=FakeIdentityLookup({"aaaa-bbbb-cccc-dddd": None}),
    )

    assert google_play.calls[-1] == ("v1", FEAST, "test-subscription-id", "test-purchase-token")
    assert await all_subscriptions(container) == [feast_row_1213(V2_1213, account=True)]


@pytest.mark.parametrize(
    ("v2", "monetization", "outcome", "reason"),
    [
        (Gone("410"), MONETIZATION_1213, Ignore, "Purchase expired a very long time ago"),
        (None, MONETIZATION_1213, GiveUp, r"Google does not know this purchase \(HTTP 404\)"),
        (V2_1213, None, GiveUp, r"Google does not know product test-subscription-id \(HTTP 404\)"),
        (Retry("google-play: HTTP 503"), MONETIZATION_1213, Retry, "google-play: HTTP 503"),
        (
            v2_body("test-subscription-id", lineItems=[]),
            MONETIZATION_1213,
            GiveUp,
            "expected exactly one line item in the subscription, got 0",
        ),
        (
            V2_1213,
            {**MONETIZATION_1213, "basePlans": []},
            GiveUp,
            "base plan 'p1m' not found in the subscription product",
        ),
    ],
)
async def test_what_each_feast_failure_tells_the_runtime(
    container: Container, v2: Answer, monetization: Answer, outcome: type[Exception], reason: str
) -> None:
    """Unlike the original (§13.1.12), a 410 is acknowledged as in the live flow
    (docs/compatibility.md); nothing is stored or linked when the fetch fails."""
    google_play = FakeGooglePlay(v1=V1_1213, v2=v2, monetization=monetization)
    identities = FakeIdentityLookup({"aaaa-bbbb-cccc-dddd": "123456"})
    with pytest.raises(outcome, match=f"^{reason}$"):
        await update(container, message(REFERENCE_1213), google_play, feast=True, identity_lookup=identities)

    assert await all_subscriptions(container) == []
    assert await history(container) == []
    assert await links(container) == []


# --------------------------------------------------------------------------------------------------
# The live consumer (spec §4.7, §5.6)

LIVE_V1 = v1_body()
LIVE_V2 = v2_body(subscriptionState="SUBSCRIPTION_STATE_IN_GRACE_PERIOD")


def read_back(container: Container, row: dict[str, Any]) -> dict[str, Any]:
    """``row`` as the profile reads it back: on aws an empty string below the top level (in
    ``googlePayload``) reads back as None, as the original's data-mapper stored it in DynamoDB
    (NULL; adapters/aws/dynamodb.py)."""

    def nested(value: Any) -> Any:
        if value == "":
            return None
        if isinstance(value, dict):
            return {key: nested(item) for key, item in value.items()}
        if isinstance(value, list):
            return [nested(item) for item in value]
        return value

    if container.settings.profile == "local":
        return row
    return {key: nested(value) if isinstance(value, dict | list) else value for key, value in row.items()}


def live_row(*, without: tuple[str, ...] = (), **changes: Any) -> dict[str, Any]:
    """The live row of LIVE_V1 (spec §4.7) with the extra and status of LIVE_V2; ``changes``
    replace columns, ``without`` removes them."""
    row: dict[str, Any] = {
        "subscriptionId": TOKEN,
        "startTimestamp": "2026-03-09T12:00:00.000Z",
        "endTimestamp": "2026-04-09T12:00:00.000Z",
        "autoRenewing": True,
        "productId": LIVE_SKU,
        "platform": "android",
        "freeTrial": False,
        "billingPeriod": "P1M",
        "googlePayload": LIVE_V1,
        "applePayload": None,
        "ttl": EXPIRY_TTL,
        "extra": extra_of(LIVE, TOKEN, LIVE_SKU, LIVE_V2, ["intro-offer"]),
        "status": "grace_period",
        "environment": "Production",
        "fetchedAt": NOW_ISO,
        **changes,
    }
    return {key: value for key, value in row.items() if key not in without}


async def test_the_live_row_is_the_v1_body_with_the_extra_and_status_of_v2(container: Container) -> None:
    google_play = FakeGooglePlay(v1=LIVE_V1, v2=LIVE_V2)

    await update(container, message(reference()), google_play)

    assert google_play.calls == [("v2", LIVE, TOKEN), ("v1", LIVE, LIVE_SKU, TOKEN)]
    assert await all_subscriptions(container) == [read_back(container, live_row())]
    assert await history(container) == [
        {"subscriptionId": TOKEN, "snapshotDate": NOW_ISO, "payload": LIVE_V1}
    ]


@pytest.mark.parametrize(
    "v2_failure",
    [Retry("google-play purchases.subscriptionsv2.get: HTTP 503"), GiveUp("Invalid token value"), None],
    ids=["retry", "give-up", "not-found"],
)
async def test_without_a_v2_answer_the_row_is_stored_with_an_empty_extra_and_the_v1_status(
    container: Container, v2_failure: Exception | None
) -> None:
    await update(container, message(reference()), FakeGooglePlay(v1=LIVE_V1, v2=v2_failure))

    assert await all_subscriptions(container) == [read_back(container, live_row(extra="", status="active"))]
    assert [s["payload"] for s in await history(container)] == [LIVE_V1]


@pytest.mark.parametrize(
    ("v1", "v2", "outcome", "reason"),
    [
        (Gone("410"), LIVE_V2, Ignore, "Purchase expired a very long time ago"),
        (LIVE_V1, Gone("410"), Ignore, "Purchase expired a very long time ago"),
        (None, LIVE_V2, Retry, "There was no data in the response from google"),
        (GiveUp("Invalid token value"), LIVE_V2, GiveUp, "Invalid token value"),
        (Retry("google-play purchases.subscriptions.get: HTTP 500"), None, Retry, "google-play .*HTTP 500"),
        (
            v1_body(expiryTimeMillis="soon"),
            LIVE_V2,
            GiveUp,
            "Unable to parse the expiryTimeMillis field 'soon'",
        ),
    ],
)
async def test_what_each_v1_answer_tells_the_runtime(
    container: Container, v1: Answer, v2: Answer, outcome: type[Exception], reason: str
) -> None:
    with pytest.raises(outcome, match=f"^{reason}$"):
        await update(container, message(reference()), FakeGooglePlay(v1=v1, v2=v2))

    assert await all_subscriptions(container) == []
    assert await history(container) == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "the message is not JSON"),
        (b"[]", "the message is not a JSON object"),
        (
            b'{"packageName": "com.guardian", "purchaseToken": 5, "subscriptionId": "sku"}',
            "not a subscription",
        ),
        (b'{"packageName": "com.guardian", "purchaseToken": "t"}', "a subscription reference needs its"),
    ],
)
async def test_a_message_that_is_no_reference_is_given_up(
    container: Container, body: bytes, reason: str
) -> None:
    google_play = FakeGooglePlay(v1=LIVE_V1, v2=LIVE_V2)
    with pytest.raises(GiveUp, match=f"^{reason}"):
        await update(container, body, google_play)
    assert google_play.calls == []


async def test_an_unknown_sku_is_stored_without_billing_period(container: Container) -> None:
    sku = "com.guardian.not.in.the.product.table"
    v2 = v2_body(sku, offer_id=None)
    await update(container, message(reference(sku=sku)), FakeGooglePlay(v1=LIVE_V1, v2=v2))

    assert await all_subscriptions(container) == [
        read_back(
            container,
            live_row(
                productId=sku,
                without=("billingPeriod",),
                extra=extra_of(LIVE, TOKEN, sku, v2, [None]),
                status="active",
            ),
        )
    ]


async def test_a_test_purchase_is_sandbox(container: Container) -> None:
    v2 = v2_body(testPurchase={})
    await update(container, message(reference()), FakeGooglePlay(v1=v1_body(purchaseType=0), v2=v2))

    row = await subscription(container, TOKEN)
    assert row is not None
    assert (row["environment"], row["status"], row["productId"]) == ("Sandbox", "active", LIVE_SKU)


# A purchase Google refunded: the v2 body after its revocation.
REFUNDED_V2 = v2_body(
    subscriptionState="SUBSCRIPTION_STATE_EXPIRED",
    canceledStateContext={"developerInitiatedCancellation": {}},
)
REFUNDED_V1 = v1_body(
    expiryTimeMillis=ms(NOW - timedelta(minutes=5)), autoRenewing=False, paymentState=None, cancelReason=3
)
VOIDED_REFERENCE = {"packageName": LIVE, "purchaseToken": TOKEN, "voided": True}


async def test_a_voided_purchase_takes_its_sku_from_v2_and_is_refunded_once_ended(
    container: Container,
) -> None:
    google_play = FakeGooglePlay(v1=REFUNDED_V1, v2=REFUNDED_V2)

    await update(container, message(VOIDED_REFERENCE), google_play)

    assert google_play.calls == [("v2", LIVE, TOKEN), ("v1", LIVE, LIVE_SKU, TOKEN)]
    assert await all_subscriptions(container) == [
        read_back(
            container,
            live_row(
                endTimestamp="2026-03-10T11:55:00.000Z",
                autoRenewing=False,
                googlePayload=REFUNDED_V1,
                ttl=1852199700,  # 2028-09-10T11:55:00.000Z, in seconds
                extra=extra_of(LIVE, TOKEN, LIVE_SKU, REFUNDED_V2, ["intro-offer"]),
                status="refunded",
            ),
        )
    ]


async def test_a_voided_purchase_still_active_stays_active(container: Container) -> None:
    """A refund of one order that leaves the subscription running (v2 still active)."""
    v2 = v2_body()
    await update(container, message(VOIDED_REFERENCE), FakeGooglePlay(v1=LIVE_V1, v2=v2))

    row = await subscription(container, TOKEN)
    assert row is not None
    assert (row["status"], row["productId"]) == ("active", LIVE_SKU)


@pytest.mark.parametrize(
    ("v2", "outcome", "reason"),
    [
        (None, GiveUp, r"Google does not know this purchase \(HTTP 404\)"),
        (Retry("google-play: HTTP 503"), Retry, "google-play: HTTP 503"),
        (GiveUp("Invalid token value"), GiveUp, "Invalid token value"),
        (Gone("410"), Ignore, "Purchase expired a very long time ago"),
        (v2_body(lineItems=[]), GiveUp, "expected exactly one line item in the subscription, got 0"),
    ],
)
async def test_a_voided_purchase_needs_the_v2_answer(
    container: Container, v2: Answer, outcome: type[Exception], reason: str
) -> None:
    google_play = FakeGooglePlay(v1=REFUNDED_V1, v2=v2)
    with pytest.raises(outcome, match=f"^{reason}$"):
        await update(container, message(VOIDED_REFERENCE), google_play)
    assert google_play.calls == [("v2", LIVE, TOKEN)]
    assert await all_subscriptions(container) == []


# --------------------------------------------------------------------------------------------------
# The notification's event, completed by the fetch (spec §4.2; docs/compatibility.md)

EVENT_MS = int((NOW - timedelta(minutes=1)).timestamp() * 1000)
EVENT_KEY = "2026-03-10T11:59:00.000Z|SUBSCRIPTION_PURCHASED"


async def notify(container: Container, step: Step, *, feast: bool = False) -> bytes:
    """The notification of ``step`` through ``google_pubsub``; the fetch reference it queued."""
    queue = FEAST_QUEUE if feast else LIVE_QUEUE
    answer = await google_pubsub(
        push_body(developer_notification(step), "4000000000000001", "2026-03-10T11:59:00.500Z"),
        subscription_events=container.tables["subscription-events"],
        subscriptions_to_fetch=container.queues[queue],
        clock=container.clock,
    )
    assert answer.status == 200, answer.body
    (queued,) = await messages(container, queue)
    await forget(container, queue)
    return queued


async def event(container: Container, token: str, key: str = EVENT_KEY) -> dict[str, Any] | None:
    return await container.tables["subscription-events"].get(
        {"subscriptionId": token, "timestampAndType": key}
    )


def event_row(package_name: str, product_id: str, **changes: Any) -> dict[str, Any]:
    """The event ``google_pubsub`` stores for a purchase notified at EVENT_MS (spec §4.2)."""
    notification = {
        "version": "1.0",
        "packageName": package_name,
        "eventTimeMillis": str(EVENT_MS),
        "subscriptionNotification": {
            "version": "1.0",
            "notificationType": SUBSCRIPTION_PURCHASED,
            "purchaseToken": TOKEN,
            "subscriptionId": product_id,
        },
    }
    return {
        "subscriptionId": TOKEN,
        "timestampAndType": EVENT_KEY,
        "date": "2026-03-10",
        "timestamp": "2026-03-10T11:59:00.000Z",
        "eventType": "SUBSCRIPTION_PURCHASED",
        "platform": "android-feast" if package_name == FEAST else "android",
        "appId": package_name,
        "googlePayload": notification,
        "applePayload": None,
        "ttl": 1852199940,  # 2028-09-10T11:59:00.000Z, in seconds
        "promotional_offer_id": None,
        "promotional_offer_name": None,
        "product_id": product_id,
        "extra": "",
        "messageId": "4000000000000001",
        **changes,
    }


async def test_the_fetch_completes_the_live_event_with_free_trial_extra_and_offer(
    container: Container,
) -> None:
    body = await notify(
        container, Step(SUBSCRIPTION, LIVE, TOKEN, SUBSCRIPTION_PURCHASED, LIVE_SKU, EVENT_MS)
    )
    assert json.loads(body) == {**reference(), "timestampAndType": EVENT_KEY}
    assert await event(container, TOKEN) == event_row(LIVE, LIVE_SKU)

    trial = v1_body(paymentState=2)
    await update(container, body, FakeGooglePlay(v1=trial, v2=LIVE_V2))

    assert await event(container, TOKEN) == event_row(
        LIVE,
        LIVE_SKU,
        freeTrial=True,
        extra=extra_of(LIVE, TOKEN, LIVE_SKU, LIVE_V2, ["intro-offer"]),
        promotional_offer_id="intro-offer",
    )
    row = await subscription(container, TOKEN)
    assert row is not None
    assert (row["freeTrial"], row["extra"]) == (
        True,
        extra_of(LIVE, TOKEN, LIVE_SKU, LIVE_V2, ["intro-offer"]),
    )


async def test_without_v2_the_live_event_gets_free_trial_and_an_empty_extra(container: Container) -> None:
    body = await notify(
        container, Step(SUBSCRIPTION, LIVE, TOKEN, SUBSCRIPTION_PURCHASED, LIVE_SKU, EVENT_MS)
    )

    await update(container, body, FakeGooglePlay(v1=LIVE_V1, v2=Retry("HTTP 503")))

    assert await event(container, TOKEN) == event_row(LIVE, LIVE_SKU, freeTrial=False)


async def test_the_fetch_completes_the_feast_event_with_free_trial_only(container: Container) -> None:
    v2 = v2_body(FEAST_PRODUCT, offerDetails=None)
    v2["lineItems"][0]["offerDetails"] = {"basePlanId": "feast-monthly", "offerId": "free-trial"}
    monetization = {
        "basePlans": [
            {"basePlanId": "feast-monthly", "autoRenewingBasePlanType": {"billingPeriodDuration": "P1M"}}
        ]
    }
    body = await notify(
        container,
        Step(SUBSCRIPTION, FEAST, TOKEN, SUBSCRIPTION_PURCHASED, FEAST_PRODUCT, EVENT_MS),
        feast=True,
    )

    google_play = FakeGooglePlay(v1=v1_body(paymentState=2), v2=v2, monetization=monetization)
    await update(container, body, google_play, feast=True)

    assert await event(container, TOKEN) == event_row(FEAST, FEAST_PRODUCT, freeTrial=True)
    row = await subscription(container, TOKEN)
    assert row is not None
    assert (row["freeTrial"], row["platform"], row["billingPeriod"], "extra" in row) == (
        True,
        "android-feast",
        "P1M",
        False,
    )


async def test_the_fetch_after_a_refund_completes_the_voided_event(container: Container) -> None:
    voided = Step(VOIDED, LIVE, TOKEN, None, LIVE_SKU, EVENT_MS, order_id="GPA.3301-2345-6789-01234")
    body = await notify(container, voided)
    key = "2026-03-10T11:59:00.000Z|VOIDED_PURCHASE"
    assert json.loads(body) == {**VOIDED_REFERENCE, "timestampAndType": key}
    before = await event(container, TOKEN, key)
    assert before is not None
    assert "freeTrial" not in before

    await update(container, body, FakeGooglePlay(v1=REFUNDED_V1, v2=REFUNDED_V2))

    extra = extra_of(LIVE, TOKEN, LIVE_SKU, REFUNDED_V2, ["intro-offer"])
    assert await event(container, TOKEN, key) == {
        **before,
        "freeTrial": False,
        "extra": extra,
        "promotional_offer_id": "intro-offer",
    }
    row = await subscription(container, TOKEN)
    assert row is not None
    assert row["status"] == "refunded"


async def test_an_event_that_is_not_stored_is_left_alone(container: Container) -> None:
    body = message({**reference(), "timestampAndType": EVENT_KEY})
    await update(container, body, FakeGooglePlay(v1=LIVE_V1, v2=LIVE_V2))

    assert (await container.tables["subscription-events"].scan()).items == []
    assert await subscription(container, TOKEN) == read_back(container, live_row())


# --------------------------------------------------------------------------------------------------
# Never backwards: a fetch that started earlier never overwrites one that started later


class SlowGooglePlay(FakeGooglePlay):
    """A fake whose v1 answer waits until ``release`` is set: a fetch that started and then hung."""

    def __init__(self, *, v1: Answer, v2: Answer) -> None:
        super().__init__(v1=v1, v2=v2)
        self.waiting = asyncio.Event()
        self.release = asyncio.Event()

    async def subscription_v1(
        self, package_name: str, subscription_id: str, purchase_token: str
    ) -> dict[str, Any] | None:
        self.waiting.set()
        await self.release.wait()
        return await super().subscription_v1(package_name, subscription_id, purchase_token)


async def test_a_fetch_that_started_earlier_never_moves_a_subscription_back(container: Container) -> None:
    clock = clock_of(container)
    body = message(reference())
    # The first fetch starts at NOW (auto-renew still on) and hangs on Google's answer.
    slow = SlowGooglePlay(v1=LIVE_V1, v2=LIVE_V2)
    container.collaborators["google_play"] = slow
    first = asyncio.create_task(container.inject(google_update, leading=1)(body))
    await asyncio.wait_for(slow.waiting.wait(), 5)

    # A minute later the customer has cancelled; a second fetch starts and finishes.
    clock.advance(60)
    cancelled_v1 = v1_body(autoRenewing=False, cancelReason=0, userCancellationTimeMillis=ms(NOW))
    await update(container, body, FakeGooglePlay(v1=cancelled_v1, v2=LIVE_V2))
    newer = await subscription(container, TOKEN)
    assert newer is not None
    assert (newer["autoRenewing"], newer["cancellationTimestamp"], newer["fetchedAt"]) == (
        False,
        NOW_ISO,
        "2026-03-10T12:01:00.000Z",
    )

    # The first fetch finishes last: it changes nothing and sends no snapshot.
    clock.advance(60)
    slow.release.set()
    await asyncio.wait_for(first, 5)

    assert await subscription(container, TOKEN) == newer
    assert [s["payload"] for s in await history(container)] == [cancelled_v1]


async def test_the_same_state_fetched_twice_is_accepted_and_a_later_fetch_replaces(
    container: Container,
) -> None:
    body = message(reference())
    await update(container, body, FakeGooglePlay(v1=LIVE_V1, v2=LIVE_V2))
    await update(container, body, FakeGooglePlay(v1=LIVE_V1, v2=LIVE_V2))  # equal fetchedAt
    assert await subscription(container, TOKEN) == read_back(container, live_row())

    clock_of(container).advance(86400)
    renewed = v1_body(expiryTimeMillis=ms(EXPIRY + timedelta(days=30)))
    await update(container, body, FakeGooglePlay(v1=renewed, v2=None))

    row = await subscription(container, TOKEN)
    assert row is not None
    assert (row["endTimestamp"], row["status"], row["fetchedAt"]) == (
        "2026-05-09T12:00:00.000Z",
        "active",
        "2026-03-11T12:00:00.000Z",
    )
    assert len(await history(container)) == 3


# --------------------------------------------------------------------------------------------------
# linkedPurchaseToken: the purchase an upgrade replaced is superseded, once


async def store_old_purchase(container: Container) -> dict[str, Any]:
    old_v2 = v2_body()
    await update(container, message(reference(OLD_TOKEN)), FakeGooglePlay(v1=LIVE_V1, v2=old_v2))
    old = await subscription(container, OLD_TOKEN)
    assert old is not None
    assert "supersededBy" not in old
    return old


UPGRADED_V2 = v2_body(ANNUAL_SKU, linkedPurchaseToken=OLD_TOKEN)
UPGRADED_V1 = v1_body(linkedPurchaseToken=OLD_TOKEN, expiryTimeMillis=ms(NOW + timedelta(days=365)))


async def test_an_upgrade_supersedes_the_purchase_it_replaced(container: Container) -> None:
    old = await store_old_purchase(container)
    clock_of(container).advance(60)

    await update(
        container, message(reference(sku=ANNUAL_SKU)), FakeGooglePlay(v1=UPGRADED_V1, v2=UPGRADED_V2)
    )

    new = await subscription(container, TOKEN)
    assert new is not None
    assert (new["linkedPurchaseToken"], new["productId"], new["billingPeriod"], new["status"]) == (
        OLD_TOKEN,
        ANNUAL_SKU,
        "P1Y",
        "active",
    )
    assert "supersededBy" not in new
    assert await subscription(container, OLD_TOKEN) == {**old, "supersededBy": TOKEN}


async def test_a_second_update_of_the_new_purchase_changes_nothing_on_the_old_one(
    container: Container,
) -> None:
    await store_old_purchase(container)
    clock_of(container).advance(60)
    body = message(reference(sku=ANNUAL_SKU))
    await update(container, body, FakeGooglePlay(v1=UPGRADED_V1, v2=UPGRADED_V2))
    superseded = await subscription(container, OLD_TOKEN)
    queued = await messages(container, LIVE_QUEUE)

    clock_of(container).advance(60)
    await update(container, body, FakeGooglePlay(v1=UPGRADED_V1, v2=UPGRADED_V2))

    assert await subscription(container, OLD_TOKEN) == superseded
    assert len(await messages(container, LIVE_QUEUE)) == len(queued)


async def test_a_purchase_replaced_by_two_keeps_the_first_that_superseded_it(container: Container) -> None:
    await store_old_purchase(container)
    await update(
        container, message(reference(sku=ANNUAL_SKU)), FakeGooglePlay(v1=UPGRADED_V1, v2=UPGRADED_V2)
    )
    await update(
        container,
        message(reference("another-token", ANNUAL_SKU)),
        FakeGooglePlay(v1=UPGRADED_V1, v2=UPGRADED_V2),
    )

    old = await subscription(container, OLD_TOKEN)
    assert old is not None
    assert old["supersededBy"] == TOKEN


async def test_an_old_purchase_that_is_not_stored_is_left_alone(container: Container) -> None:
    await update(
        container, message(reference(sku=ANNUAL_SKU)), FakeGooglePlay(v1=UPGRADED_V1, v2=UPGRADED_V2)
    )

    assert [row["subscriptionId"] for row in await all_subscriptions(container)] == [TOKEN]
    assert await messages(container, LIVE_QUEUE) == []


async def test_the_v1_linked_purchase_token_supersedes_too_when_v2_fails(container: Container) -> None:
    await store_old_purchase(container)

    await update(
        container, message(reference(sku=ANNUAL_SKU)), FakeGooglePlay(v1=UPGRADED_V1, v2=Retry("503"))
    )

    old = await subscription(container, OLD_TOKEN)
    new = await subscription(container, TOKEN)
    assert old is not None
    assert new is not None
    assert (old["supersededBy"], new["linkedPurchaseToken"], new["extra"]) == (TOKEN, OLD_TOKEN, "")


async def test_the_refetch_of_a_superseded_purchase_keeps_the_mark_and_ends_it(container: Container) -> None:
    """Google ends the replaced subscription without a notification of its own: the upgrade's
    fetch queues a fetch of the old token, which stores Google's end and stays superseded."""
    await store_old_purchase(container)
    clock_of(container).advance(60)
    await update(
        container, message(reference(sku=ANNUAL_SKU)), FakeGooglePlay(v1=UPGRADED_V1, v2=UPGRADED_V2)
    )
    (refetch,) = await messages(container, LIVE_QUEUE)
    assert json.loads(refetch) == reference(OLD_TOKEN)

    clock_of(container).advance(60)
    replaced_v1 = v1_body(expiryTimeMillis=ms(NOW), autoRenewing=False, paymentState=None, cancelReason=2)
    replaced_v2 = v2_body(
        subscriptionState="SUBSCRIPTION_STATE_EXPIRED", canceledStateContext={"replacementCancellation": {}}
    )
    await update(container, refetch, FakeGooglePlay(v1=replaced_v1, v2=replaced_v2))

    old = await subscription(container, OLD_TOKEN)
    assert old is not None
    assert (
        old["status"],
        old["endTimestamp"],
        old["autoRenewing"],
        old["supersededBy"],
        old["fetchedAt"],
    ) == (
        "expired",
        NOW_ISO,
        False,
        TOKEN,
        "2026-03-10T12:02:00.000Z",
    )


# --------------------------------------------------------------------------------------------------
# The pipeline in process: signed pushes, the consumers, the Play (and Braze) emulators


def iso_ms(epoch_ms: int) -> str:
    return to_iso(datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=epoch_ms))


@dataclass
class Pipeline:
    container: Container
    runtime: ProfileRuntime
    clock: FrozenClock
    api: httpx.AsyncClient
    state: GooglePlayState
    signer: PushSigner
    directory: Path
    closers: list[httpx.AsyncClient] = field(default_factory=list)

    async def notify(self, step: Step, *, feast: bool = False) -> None:
        """POST the push Pub/Sub would send for ``step``, with Google's OIDC token."""
        path = "/feast/google/pubsub" if feast else "/google/pubsub"
        headers = {"Authorization": f"Bearer {self.signer.token(LOCAL_PUSH_AUDIENCE)}"}
        response = await self.api.post(path, json=notification_body(step, self.state), headers=headers)
        assert response.status_code == 200, response.text

    async def drain(self, *, timeout_s: float = 10.0) -> None:
        """Run the consumers until both fetch queues are empty; the service's frozen clock is
        moved to real time first (the emulated Play's), never backwards."""
        self.clock.set(max(self.clock.now(), datetime.now(UTC)))
        queues = [self.container.queues[name] for name in (LIVE_QUEUE, FEAST_QUEUE)]

        async def drained() -> bool:
            # ``quiet``: on aws, the outbox relay has nothing left to send to them either.
            return all([(await q.depth()).total == 0 for q in queues]) and self.runtime.quiet

        await self.runtime.run_until(drained, timeout_s=timeout_s)

    async def after(self, step: Step, *, feast: bool = False) -> dict[str, Any]:
        """Notify ``step``, fetch, and return the row of the purchase it names."""
        await self.notify(step, feast=feast)
        await self.drain()
        assert step.purchase_token is not None
        row = await subscription(self.container, step.purchase_token)
        assert row is not None
        return row

    def expires(self, token: str) -> str:
        return iso_ms(self.state.get(token)["expiryTimeMs"])

    def emulator(self) -> Starlette:
        """Another Play emulator over the same purchases and keys, for a test to control."""
        return create_play_app(
            self.state,
            service_account=ServiceAccount.load_or_create(self.directory, EMULATED_TOKEN_URI),
            push_signer=PushSigner.load_or_create(self.directory),
            token_uri=EMULATED_TOKEN_URI,
        )

    def use_google_play(self, emulator: Starlette, api: Transport | None = None) -> None:
        """The consumers call ``emulator`` (through ``api`` when given): the Play Developer API
        client as the local profile builds it, over its own transports. Before the runtime
        starts: it binds its collaborators then."""
        tokens = GoogleAccessTokens.from_file(
            str(self.directory / SERVICE_ACCOUNT_FILE), self.keep(AsgiTransport(emulator, "play"))
        )
        transport = self.keep(api or AsgiTransport(emulator, "play"))
        self.container.collaborators["google_play"] = GooglePlayApi(transport, tokens)

    def control(self, app: Starlette) -> httpx.AsyncClient:
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://control")
        self.closers.append(client)
        return client

    def keep(self, transport: Transport) -> Transport:
        self.container.transports.append(transport)
        return transport


async def start_pipeline(
    tmp_path: Path, topology: Topology, profile: str = "local", request: pytest.FixtureRequest | None = None
) -> tuple[Pipeline, Callable[[], Awaitable[None]]]:
    """The service on ``profile`` with the Play emulator it mounts: locally the local runtime; on
    aws (the template's resources, stage CODE, in moto) the Lambda handlers only."""
    clock = FrozenClock(datetime.now(UTC).replace(microsecond=0))
    if profile == "local":
        container = open_container(tmp_path, topology, clock)
    else:
        assert request is not None
        # The moto server starts with the module's first aws test; ``endpoint`` resets it after each.
        moto_url: str = request.getfixturevalue("endpoint")
        settings = aws_settings(tmp_path, moto_url, "CODE", provisioned(moto_url, "CODE"))
        container = bootstrap(settings, clock=clock, topology=topology).open()
    directory = google_emulator_directory(container.settings)
    state = GooglePlayState(directory / "purchases.sqlite3")
    runtime = runtime_for(container)
    api = httpx.AsyncClient(transport=runtime.transport(), base_url="http://sf")
    pipeline = Pipeline(
        container, runtime, clock, api, state, PushSigner.load_or_create(directory), directory
    )

    async def close() -> None:
        for client in [api, *pipeline.closers]:
            await client.aclose()
        await runtime.aclose()
        state.close()
        await container.aclose()

    return pipeline, close


@pytest.fixture(params=["local", "aws"])
async def pipeline(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Pipeline]:
    """The pipeline on either profile. The tests of failures and back-off take only ``local``
    (``indirect``): they move the frozen clock past SQLite's visibility deadlines and read the
    queues with ``list()``; on SQS back-off is visibility in real time and a queue cannot be
    listed."""
    started, close = await start_pipeline(tmp_path, FAST, request.param, request)
    yield started
    await close()


async def event_types(pipeline: Pipeline, token: str) -> list[str]:
    items = (await pipeline.container.tables["subscription-events"].query(token)).items
    return [item["eventType"] for item in sorted(items, key=lambda item: item["timestamp"])]


async def test_the_life_cycle_of_a_live_subscription(pipeline: Pipeline) -> None:
    state = pipeline.state
    step = state.purchase(LIVE, LIVE_SKU)
    token = step.purchase_token
    assert token is not None

    def checked(row: dict[str, Any]) -> tuple[Any, ...]:
        assert row["endTimestamp"] == pipeline.expires(token)
        return row["status"], row["autoRenewing"], row.get("cancellationTimestamp")

    row = await pipeline.after(step)
    assert checked(row) == ("active", True, None)
    assert (row["platform"], row["productId"], row["billingPeriod"], row["environment"]) == (
        "android",
        LIVE_SKU,
        "P1M",
        "Production",
    )
    assert json.loads(row["extra"])["subscription"]["subscriptionState"] == "SUBSCRIPTION_STATE_ACTIVE"

    row = await pipeline.after(state.cancel(token))
    assert checked(row) == ("active", False, iso_ms(state.get(token)["cancelTimeMs"]))
    assert row["googlePayload"]["cancelReason"] == 0

    assert checked(await pipeline.after(state.restart(token))) == ("active", True, None)
    assert checked(await pipeline.after(state.grace(token))) == ("grace_period", True, None)
    assert checked(await pipeline.after(state.hold(token))) == ("billing_retry", True, None)
    assert checked(await pipeline.after(state.recover(token))) == ("active", True, None)
    row = await pipeline.after(state.pause(token))
    assert checked(row) == ("paused", True, None)
    assert row["googlePayload"]["autoResumeTimeMillis"] == str(state.get(token)["autoResumeTimeMs"])
    assert checked(await pipeline.after(state.resume(token))) == ("active", True, None)

    upgrade = state.upgrade(token, product_id=ANNUAL_SKU)
    new_token = upgrade.purchase_token
    assert new_token is not None
    new = await pipeline.after(upgrade)
    assert (new["status"], new["endTimestamp"], new["autoRenewing"]) == (
        "active",
        pipeline.expires(new_token),
        True,
    )
    assert (new["linkedPurchaseToken"], new["productId"], new["billingPeriod"]) == (token, ANNUAL_SKU, "P1Y")
    old = await subscription(pipeline.container, token)
    assert old is not None
    assert checked(old) == ("expired", False, None)
    assert (old["supersededBy"], old["googlePayload"]["cancelReason"]) == (new_token, 2)

    row = await pipeline.after(state.revoke(new_token))
    assert (row["status"], row["endTimestamp"], row["autoRenewing"]) == (
        "revoked",
        pipeline.expires(new_token),
        False,
    )
    row = await pipeline.after(state.refund(new_token))
    assert (row["status"], row["endTimestamp"], row["autoRenewing"]) == (
        "refunded",
        pipeline.expires(new_token),
        False,
    )

    assert await event_types(pipeline, token) == [
        "SUBSCRIPTION_PURCHASED",
        "SUBSCRIPTION_CANCELED",
        "SUBSCRIPTION_RESTARTED",
        "SUBSCRIPTION_IN_GRACE_PERIOD",
        "SUBSCRIPTION_ON_HOLD",
        "SUBSCRIPTION_RECOVERED",
        "SUBSCRIPTION_PAUSED",
        "SUBSCRIPTION_RECOVERED",
    ]
    assert await event_types(pipeline, new_token) == [
        "SUBSCRIPTION_PURCHASED",
        "SUBSCRIPTION_REVOKED",
        "VOIDED_PURCHASE",
    ]
    # One snapshot per fetch; the upgrade's two fetches (the new purchase, the old one's refetch)
    # share a ``snapshotDate``, and the outbox keeps no order between them (aws).
    snapshots = [
        sorted(s["subscriptionId"] for s in same)
        for _, same in itertools.groupby(await history(pipeline.container), key=lambda s: s["snapshotDate"])
    ]
    assert snapshots == [[token]] * 8 + [sorted([new_token, token]), [new_token], [new_token]]


async def test_a_live_subscription_that_expires(pipeline: Pipeline) -> None:
    step = pipeline.state.purchase(LIVE, LIVE_SKU, free_trial=True)
    token = step.purchase_token
    assert token is not None
    row = await pipeline.after(step)
    assert (row["status"], row["freeTrial"], row["endTimestamp"]) == ("active", True, pipeline.expires(token))
    (purchased,) = (await pipeline.container.tables["subscription-events"].query(token)).items
    assert (purchased["freeTrial"], purchased["promotional_offer_id"]) == (True, "free-trial")

    row = await pipeline.after(pipeline.state.expire(token))

    assert (row["status"], row["endTimestamp"], row["autoRenewing"]) == (
        "expired",
        pipeline.expires(token),
        False,
    )
    assert "cancellationTimestamp" not in row
    assert row["googlePayload"]["cancelReason"] == 1


async def test_a_test_purchase_is_sandbox_and_a_gone_purchase_is_acknowledged(pipeline: Pipeline) -> None:
    step = pipeline.state.purchase(LIVE, LIVE_SKU, test_purchase=True)
    token = step.purchase_token
    assert token is not None
    row = await pipeline.after(step)
    assert (row["status"], row["environment"]) == ("active", "Sandbox")

    # Cancelled, then forgotten by Google (410) before the fetch: acknowledged, nothing stored.
    cancelled = pipeline.state.cancel(token)
    pipeline.state.mark_gone(token)
    await pipeline.notify(cancelled)
    if pipeline.container.settings.profile == "local":  # on aws it waits in the outbox
        assert await depth(pipeline, LIVE_QUEUE) == 1
    await pipeline.drain()

    assert await subscription(pipeline.container, token) == row
    assert await depth(pipeline, f"{LIVE_QUEUE}-dlq") == 0


async def register_braze_user(pipeline: Pipeline, external_id: str, identity_id: str) -> None:
    """A Braze emulator knowing ``external_id``, as the Feast consumer's identity lookup."""
    braze_app = create_braze_app("braze-test-key")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=braze_app), base_url="http://braze-control"
    ) as braze:
        registered = await braze.post(
            "/__emulator/users", json={"external_id": external_id, "identity_id": identity_id}
        )
        assert registered.status_code == 201, registered.text
    pipeline.container.collaborators["identity_lookup"] = BrazeIdentityLookup(
        pipeline.keep(AsgiTransport(braze_app, "braze")), "braze-test-key"
    )


async def test_a_feast_subscription_is_linked_to_its_braze_identity_once(pipeline: Pipeline) -> None:
    await register_braze_user(pipeline, "feast-account-1", "1000042")
    state = pipeline.state
    step = state.purchase(
        FEAST, FEAST_PRODUCT, "feast-monthly", obfuscated_external_account_id="feast-account-1"
    )
    token = step.purchase_token
    assert token is not None
    unknown = state.purchase(FEAST, FEAST_PRODUCT, obfuscated_external_account_id="nobody-braze-knows")

    await pipeline.notify(unknown, feast=True)
    row = await pipeline.after(step, feast=True)
    linked_at = to_iso(pipeline.clock.now())

    assert (row["status"], row["endTimestamp"], row["autoRenewing"]) == (
        "active",
        pipeline.expires(token),
        True,
    )
    assert (row["platform"], row["productId"], row["billingPeriod"], row["environment"]) == (
        "android-feast",
        FEAST_PRODUCT,
        "P1M",
        "Production",
    )
    assert row["googlePayload"]["obfuscatedExternalAccountId"] == "feast-account-1"
    assert "extra" not in row
    assert await links(pipeline.container) == [
        {"userId": "1000042", "subscriptionId": token, "creationTimestamp": linked_at}
    ]
    other = await subscription(pipeline.container, str(unknown.purchase_token))
    assert other is not None
    assert other["status"] == "active"

    pipeline.clock.advance(3600)
    row = await pipeline.after(state.cancel(token), feast=True)
    assert (row["status"], row["autoRenewing"], row["cancellationTimestamp"]) == (
        "active",
        False,
        iso_ms(state.get(token)["cancelTimeMs"]),
    )

    upgrade = state.upgrade(token, base_plan_id="feast-annual")
    new_token = upgrade.purchase_token
    assert new_token is not None
    new = await pipeline.after(upgrade, feast=True)
    assert (new["status"], new["billingPeriod"], new["linkedPurchaseToken"]) == ("active", "P1Y", token)
    old = await subscription(pipeline.container, token)
    assert old is not None
    assert (old["status"], old["supersededBy"], old["endTimestamp"]) == (
        "expired",
        new_token,
        pipeline.expires(token),
    )
    assert await links(pipeline.container) == sorted(
        [
            {"userId": "1000042", "subscriptionId": token, "creationTimestamp": linked_at},
            {
                "userId": "1000042",
                "subscriptionId": new_token,
                "creationTimestamp": to_iso(pipeline.clock.now()),
            },
        ],
        key=lambda link: link["subscriptionId"],
    )


async def test_a_feast_test_purchase_upgrade_ends_the_old_purchase(pipeline: Pipeline) -> None:
    """A Feast test purchase is stored as ``dev_testing_feast`` (spec §4.4 step 6, §12.15); the
    fetch of the purchase it replaced must still ask Google for the real product."""
    state = pipeline.state
    step = state.purchase(FEAST, FEAST_PRODUCT, "feast-monthly", test_purchase=True)
    token = step.purchase_token
    assert token is not None
    row = await pipeline.after(step, feast=True)
    assert (row["productId"], row["environment"]) == ("dev_testing_feast", "Sandbox")

    upgrade = state.upgrade(token, base_plan_id="feast-annual")
    new = await pipeline.after(upgrade, feast=True)

    assert (new["productId"], new["billingPeriod"], new["linkedPurchaseToken"]) == (
        "dev_testing_feast",
        "P1Y",
        token,
    )
    old = await subscription(pipeline.container, token)
    assert old is not None
    assert (old["status"], old["supersededBy"]) == ("expired", upgrade.purchase_token)
    assert await depth(pipeline, f"{FEAST_QUEUE}-dlq") == 0


# --------------------------------------------------------------------------------------------------
# Google failing: 5xx until it recovers, 429 with Retry-After, timeouts


async def depth(pipeline: Pipeline, queue: str) -> int:
    return (await pipeline.container.queues[queue].depth()).total


async def run_until(
    pipeline: Pipeline, condition: Callable[[], Awaitable[bool]], *, timeout_s: float = 10.0
) -> None:
    """Run the consumers until ``condition``, moving the frozen clock 2 s per check: every
    back-off (at least 1 s of visibility) is over at the next check."""

    async def later() -> None:
        pipeline.clock.advance(2)

    await drive(Runtime(pipeline.container, http=False), condition, between=later, timeout_s=timeout_s)


@pytest.mark.parametrize("pipeline", ["local"], indirect=True)
async def test_a_play_outage_ends_in_the_dlq_and_a_replay_catches_up(pipeline: Pipeline) -> None:
    emulator = pipeline.emulator()
    pipeline.use_google_play(emulator)
    control = pipeline.control(emulator)
    step = pipeline.state.purchase(LIVE, LIVE_SKU)
    token = step.purchase_token
    assert token is not None
    before = await pipeline.after(step)
    assert (before["status"], before["autoRenewing"]) == ("active", True)

    # The customer cancels while the Play Developer API answers 503.
    fault = {"status": 503, "count": -1, "path_prefix": "/androidpublisher/"}
    assert (await control.post("/__emulator/faults", json=fault)).status_code == 201
    cancel = pipeline.state.cancel(token)
    await pipeline.notify(cancel)

    async def dead_lettered() -> bool:
        return await depth(pipeline, f"{LIVE_QUEUE}-dlq") == 1

    await run_until(pipeline, dead_lettered)

    (dead,) = (await pipeline.container.queues[f"{LIVE_QUEUE}-dlq"].list()).messages
    key = f"{iso_ms(cancel.event_time_ms)}|SUBSCRIPTION_CANCELED"
    assert json.loads(dead.body) == {**reference(token), "timestampAndType": key}
    assert (dead.receive_count, dead.source_queue, dead.reason) == (
        8,
        LIVE_QUEUE,
        "Retry: google-play purchases.subscriptions.get: HTTP 503",
    )
    logged = (await control.get("/__emulator/requests")).json()["requests"]
    api_calls = [
        (r["path"].split("/")[6], r["status"]) for r in logged if r["path"].startswith("/androidpublisher/")
    ]
    # Each receive asks v2 (best effort), then v1, whose failure is the message's.
    attempt = [("subscriptionsv2", 503), ("subscriptions", 503)]
    assert api_calls == [("subscriptionsv2", 200), ("subscriptions", 200), *attempt * 8]
    assert await depth(pipeline, LIVE_QUEUE) == 0
    assert await subscription(pipeline.container, token) == before

    # Google recovers and an operator replays the dead letters.
    assert (await control.delete("/__emulator/faults")).json() == {"cleared": 1}
    assert await pipeline.container.queues[f"{LIVE_QUEUE}-dlq"].replay() == 1

    async def caught_up() -> bool:
        return await depth(pipeline, LIVE_QUEUE) == 0 and await depth(pipeline, f"{LIVE_QUEUE}-dlq") == 0

    await run_until(pipeline, caught_up)

    after = await subscription(pipeline.container, token)
    assert after is not None
    assert (after["status"], after["autoRenewing"], after["endTimestamp"]) == (
        "active",
        False,
        pipeline.expires(token),
    )
    assert after["fetchedAt"] > before["fetchedAt"]
    assert [s["payload"]["autoRenewing"] for s in await history(pipeline.container)] == [True, False]


@pytest.mark.parametrize(("retry_after_s", "visible_after_s"), [(45, 45), (3600, 300)])
async def test_a_429_retry_after_sets_when_the_message_comes_back(
    tmp_path: Path, retry_after_s: int, visible_after_s: int
) -> None:
    """With the real back-off (2 s base, 300 s ceiling): Google's Retry-After is honoured, up to
    the ceiling."""
    pipeline, close = await start_pipeline(tmp_path, REAL_BACKOFF)
    try:
        emulator = pipeline.emulator()
        pipeline.use_google_play(emulator)
        v1_path = f"/androidpublisher/v3/applications/{LIVE}/purchases/subscriptions/"
        fault = {"status": 429, "count": 1, "path_prefix": v1_path, "retry_after_s": retry_after_s}
        assert (await pipeline.control(emulator).post("/__emulator/faults", json=fault)).status_code == 201
        step = pipeline.state.purchase(LIVE, LIVE_SKU)
        await pipeline.notify(step)
        received_at = pipeline.clock.now()
        queue = pipeline.container.queues[LIVE_QUEUE]

        async def put_back() -> bool:
            listed = (await queue.list()).messages
            # Received: hidden for the queue's 60 s of visibility; put back: for the back-off's.
            return (
                bool(listed)
                and listed[0].receive_count == 1
                and listed[0].visible_at != received_at + timedelta(seconds=60)
            )

        await drive(Runtime(pipeline.container, http=False), put_back)

        (waiting,) = (await queue.list()).messages
        assert (waiting.receive_count, waiting.visible_at) == (
            1,
            received_at + timedelta(seconds=visible_after_s),
        )
        assert await subscription(pipeline.container, str(step.purchase_token)) is None

        pipeline.clock.advance(visible_after_s)
        await pipeline.drain()
        row = await subscription(pipeline.container, str(step.purchase_token))
        assert row is not None
        assert row["status"] == "active"
    finally:
        await close()


@pytest.mark.parametrize("pipeline", ["local"], indirect=True)
async def test_play_timeouts_are_retried_until_google_answers(pipeline: Pipeline) -> None:
    """Each receive asks v2 then v1; four timeouts fail two receives, the third stores the row
    with its extra."""
    emulator = pipeline.emulator()
    flaky = Flaky(AsgiTransport(emulator, "play"), failures=4)
    pipeline.use_google_play(emulator, flaky)
    step = pipeline.state.purchase(LIVE, LIVE_SKU)
    token = str(step.purchase_token)
    await pipeline.notify(step)

    async def stored() -> bool:
        return await subscription(pipeline.container, token) is not None

    await run_until(pipeline, stored)

    assert flaky.calls == 6
    row = await subscription(pipeline.container, token)
    assert row is not None
    assert (row["status"], json.loads(row["extra"])["purchaseToken"]) == ("active", token)
    assert await depth(pipeline, LIVE_QUEUE) == 0
    assert await depth(pipeline, f"{LIVE_QUEUE}-dlq") == 0


# --------------------------------------------------------------------------------------------------
# GooglePlayApi against the emulator: what each answer means to the live consumer


@pytest.fixture(scope="module")
def play_account() -> ServiceAccount:
    return ServiceAccount.generate()


@pytest.fixture(scope="module")
def play_signer() -> PushSigner:
    return PushSigner.generate()


@dataclass
class PlayApi:
    """The Play Developer API client over an in-memory emulator whose API checks access tokens
    against ``api_clock`` (seconds; real time when None)."""

    client: GooglePlayApi
    state: GooglePlayState
    token_requests: list[str]
    api_clock: list[float | None]
    on_token_request: list[Callable[[], None]]


class Counting:
    """A transport recording the paths it carries, running the ``hooks`` queued (one per request)."""

    def __init__(self, inner: Transport, seen: list[str], hooks: list[Callable[[], None]]) -> None:
        self._inner = inner
        self._seen = seen
        self._hooks = hooks

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        self._seen.append(path)
        if self._hooks:
            self._hooks.pop(0)()
        return await self._inner.request(method, path, json=json, content=content, headers=headers)

    async def aclose(self) -> None:
        await self._inner.aclose()


@pytest.fixture
async def play_api(
    container: Container, tmp_path: Path, play_account: ServiceAccount, play_signer: PushSigner
) -> AsyncIterator[PlayApi]:
    state = GooglePlayState()
    api_clock: list[float | None] = [None]

    def wall_clock() -> float:
        return api_clock[0] if api_clock[0] is not None else time.time()

    tokens_app = create_play_app(
        state, service_account=play_account, push_signer=play_signer, token_uri=EMULATED_TOKEN_URI
    )
    api_app = create_play_app(
        state,
        service_account=play_account,
        push_signer=play_signer,
        token_uri=EMULATED_TOKEN_URI,
        wall_clock=wall_clock,
    )
    account_file = tmp_path / SERVICE_ACCOUNT_FILE
    account_file.write_text(json.dumps(play_account.info(EMULATED_TOKEN_URI)))
    token_requests: list[str] = []
    hooks: list[Callable[[], None]] = []
    token_transport = Counting(AsgiTransport(tokens_app, "play"), token_requests, hooks)
    api_transport = AsgiTransport(api_app, "play")
    container.transports.extend([token_transport, api_transport])
    tokens = GoogleAccessTokens.from_file(str(account_file), token_transport)
    yield PlayApi(GooglePlayApi(api_transport, tokens), state, token_requests, api_clock, hooks)
    state.close()


async def live_update_over(container: Container, play_api: PlayApi, body: bytes) -> None:
    container.collaborators["google_play"] = play_api.client
    await container.inject(google_update, leading=1)(body)


@pytest.mark.parametrize(
    ("case", "outcome", "reason"),
    [
        ("unknown token", Retry, "There was no data in the response from google"),
        ("malformed token", GiveUp, "Invalid token value"),
        ("other product", GiveUp, "Invalid token value"),
        (
            "other package",
            GiveUp,
            r"google-play purchases.subscriptions.get: HTTP 400: "
            r"The purchase token does not match the package name.",
        ),
        ("gone", Ignore, "Purchase expired a very long time ago"),
        ("expired long ago", Ignore, "Purchase expired a very long time ago"),
    ],
)
async def test_what_each_play_api_answer_tells_the_runtime(
    container: Container, play_api: PlayApi, case: str, outcome: type[Exception], reason: str
) -> None:
    step = play_api.state.purchase(LIVE, LIVE_SKU)
    token, sku, package_name = str(step.purchase_token), LIVE_SKU, LIVE
    if case == "unknown token":
        token = "abcdefghijklmnopqrstuvwx.AO-J1Ounknown"
    elif case == "malformed token":
        token = "not a token!"
    elif case == "other product":
        sku = ANNUAL_SKU
    elif case == "other package":
        package_name = "com.guardian.editions"
    elif case == "gone":
        play_api.state.mark_gone(token)
    else:
        play_api.state.expire(token)
        play_api.state.clock = lambda: datetime.now(UTC) + timedelta(days=61)

    with pytest.raises(outcome, match=f"^{reason}$"):
        await live_update_over(container, play_api, message(reference(token, sku, package_name)))

    assert await all_subscriptions(container) == []
    assert await history(container) == []


async def test_a_refused_access_token_is_refreshed_once(container: Container, play_api: PlayApi) -> None:
    """Google answers 401 to a token it no longer accepts: a new token and one more try; a
    second 401 is a Retry (a key or clock problem an operator fixes)."""
    step = play_api.state.purchase(LIVE, LIVE_SKU)
    token = str(step.purchase_token)
    # The API's clock is an hour and a half ahead: every token is expired there...
    play_api.api_clock[0] = time.time() + 5400
    with pytest.raises(
        Retry, match=r"^google-play purchases.subscriptionsv2.get: HTTP 401 with a new token$"
    ):
        await play_api.client.subscription_v2(LIVE, token)
    assert play_api.token_requests == ["/token", "/token"]

    # ... until it is set right while the second token is being fetched.
    play_api.on_token_request.append(lambda: play_api.api_clock.__setitem__(0, None))
    play_api.api_clock[0] = time.time() + 5400
    await live_update_over(container, play_api, message(reference(token)))

    assert play_api.token_requests == ["/token", "/token", "/token"]
    row = await subscription(container, token)
    assert row is not None
    assert (row["status"], json.loads(row["extra"])["purchaseToken"]) == ("active", token)
