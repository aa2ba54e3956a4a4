"""The App Store update consumers (spec §5.5, §5.7, §12.12): the original's Feast tests reproduced
with fakes over the real SQLite tables and queues, what each verifyReceipt status means (§3.4,
§2.7), the verifyReceipt adapter, the "never backwards" rule, and the whole pipeline in process
against the App Store and Braze emulators: the life cycle of a subscription through V2 and V1,
an App Store Server API outage ending in the DLQ and replayed, and Feast user links.

The pipeline's life cycles and Feast links run on both profiles (``[local]``, ``[aws]``): on aws
through the Lambda handlers only, on a moto server provisioned from the CloudFormation template
(``pipeline``); the rest uses the SQLite tables and queues."""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from supporterflow.adapters.apple import (
    ApiKey,
    AppleSignedData,
    AppStoreServerApi,
    ReceiptEndpoint,
    VerifyReceipt,
)
from supporterflow.adapters.braze import BrazeIdentityLookup
from supporterflow.adapters.clock import FrozenClock
from supporterflow.adapters.outbound import AsgiTransport, Reply, Transport, Unreachable
from supporterflow.bootstrap import Container, apple_emulator_directory, bootstrap
from supporterflow.domain.subscriptions.apple_v2 import AppStoreSubscription, SignedNotification
from supporterflow.domain.subscriptions.dates import to_iso
from supporterflow.emulators.apple.app import create_app_store_app
from supporterflow.emulators.apple.auth import ApiKey as EmulatedApiKey
from supporterflow.emulators.apple.certificates import CertificateChain
from supporterflow.emulators.apple.sender import NotificationVersion, notification_body
from supporterflow.emulators.apple.signing import AppStoreSigner
from supporterflow.emulators.apple.store import AppleStoreState, Step
from supporterflow.emulators.braze import create_braze_app
from supporterflow.functions.apple_update import apple_update, feast_apple_update
from supporterflow.ports import AppStore, GiveUp, Ignore, Retry, StoredMessage
from supporterflow.runtime.process import Runtime
from supporterflow.topology import TOPOLOGY
from tests.aws.test_aws_runtime import (  # noqa: F401 (endpoint, moto_endpoint: fixtures of the aws profile)
    aws_settings,
    endpoint,
    moto_endpoint,
    provisioned,
)
from tests.support import Flaky, ProfileRuntime, drive, fast_retries, open_container, outbox_rows, runtime_for

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
NOW_ISO = "2026-03-01T12:00:00.000Z"
NOW_MS = 1772366400000

BUNDLE = "uk.co.guardian.iphone2"
PRODUCT = "uk.co.guardian.gla.1month"
FEAST_BUNDLE = "uk.co.guardian.Feast"
FEAST_YEARLY = "uk.co.guardian.Feast.yearly"
FEAST_MONTHLY = "uk.co.guardian.Feast.monthly"

LIVE_QUEUE = "apple-subscriptions-to-fetch"
FEAST_QUEUE = "feast-apple-subscriptions-to-fetch"
HISTORICAL = "apple-historical-subscriptions"

FAST = fast_retries(TOPOLOGY)


# --------------------------------------------------------------------------------------------------
# Fakes of the ports


class FakeReceipts:
    """verifyReceipt answering a fixed response per receipt, recording every call."""

    def __init__(self, responses: Mapping[str, dict[str, Any]]) -> None:
        self._responses = responses
        self.calls: list[tuple[str, bool, bool]] = []

    async def verify(self, receipt: str, *, feast: bool, sandbox_retry: bool) -> dict[str, Any]:
        self.calls.append((receipt, feast, sandbox_retry))
        return copy.deepcopy(self._responses[receipt])


class FakeIdentityLookup:
    """Braze as the original's stub: a token it knows -> identity, anything else rejected."""

    def __init__(self, identities: Mapping[str, str | None]) -> None:
        self._identities = identities
        self.asked: list[str] = []

    async def identity_id(self, external_id: str) -> str | None:
        self.asked.append(external_id)
        if external_id not in self._identities:
            raise LookupError(f"unknown external id {external_id}")
        return self._identities[external_id]


class FakeAppStore:
    """The App Store Server API answering whatever ``answer`` is set to."""

    def __init__(self) -> None:
        self.bundle_ids: Sequence[str] = [BUNDLE, FEAST_BUNDLE]
        self.answer: AppStoreSubscription | None = None
        self.calls: list[tuple[str, str]] = []

    def verify_notification(self, signed_payload: str) -> SignedNotification:
        raise AssertionError("the update consumers verify no notification")

    async def subscription(self, original_transaction_id: str, bundle_id: str) -> AppStoreSubscription | None:
        self.calls.append((original_transaction_id, bundle_id))
        return self.answer


# --------------------------------------------------------------------------------------------------
# verifyReceipt-shaped responses


def ms(at: str) -> int:
    return int(datetime.fromisoformat(at).timestamp() * 1000)


def iso_ms(epoch_ms: int) -> str:
    return to_iso(datetime.fromtimestamp(epoch_ms / 1000, UTC))


def receipt_info(
    original_transaction_id: str,
    *,
    transaction_id: str,
    product_id: str,
    purchased: str,
    originally_purchased: str,
    expires: str,
    bundle_id: str = FEAST_BUNDLE,
    app_account_token: str | None = None,
    trial: bool = False,
) -> dict[str, str]:
    """One ``latest_receipt_info`` element as Apple sends it: strings only, dates in ms."""
    info = {
        "quantity": "1",
        "product_id": product_id,
        "transaction_id": transaction_id,
        "original_transaction_id": original_transaction_id,
        "purchase_date_ms": str(ms(purchased)),
        "original_purchase_date_ms": str(ms(originally_purchased)),
        "expires_date_ms": str(ms(expires)),
        "is_trial_period": "true" if trial else "false",
        "is_in_intro_offer_period": "false",
        "in_app_ownership_type": "PURCHASED",
        "bundle_id": bundle_id,
    }
    if app_account_token is not None:
        info["app_account_token"] = app_account_token
    return info


def renewal_info(original_transaction_id: str, product_id: str, **fields: str) -> dict[str, str]:
    return {
        "auto_renew_product_id": product_id,
        "product_id": product_id,
        "original_transaction_id": original_transaction_id,
        "auto_renew_status": "1",
        "is_in_billing_retry_period": "0",
        **fields,
    }


def verify_receipt_response(
    receipt: str,
    infos: list[dict[str, str]],
    renewals: list[dict[str, str]],
    *,
    bundle_id: str = FEAST_BUNDLE,
    status: int = 0,
    request_ms: int = NOW_MS,
) -> dict[str, Any]:
    """A verifyReceipt body: ``latest_receipt_info`` newest first, as Apple orders it."""
    return {
        "status": status,
        "environment": "Production",
        "receipt": {
            "receipt_type": "Production",
            "bundle_id": bundle_id,
            "request_date_ms": str(request_ms),
            "in_app": [],
        },
        "latest_receipt": receipt,
        "latest_receipt_info": infos,
        "pending_renewal_info": renewals,
    }


# The catalogue of spec §12.12.
SUB_1 = receipt_info(
    "sub-1",
    transaction_id="sub-1",
    product_id=FEAST_YEARLY,
    purchased="2026-01-15T10:00:00+00:00",
    originally_purchased="2026-01-15T10:00:00+00:00",
    expires="2027-01-15T10:00:00+00:00",
    app_account_token="app-account-token-1",
    trial=True,
)
SUB_2_RENEWED = receipt_info(
    "sub-2",
    transaction_id="sub-2-b",
    product_id=FEAST_MONTHLY,
    purchased="2026-02-10T08:00:00+00:00",
    originally_purchased="2026-01-10T08:00:00+00:00",
    expires="2026-03-10T08:00:00+00:00",
    app_account_token="app-account-token-2",
)
SUB_2_FIRST = receipt_info(
    "sub-2",
    transaction_id="sub-2",
    product_id=FEAST_MONTHLY,
    purchased="2026-01-10T08:00:00+00:00",
    originally_purchased="2026-01-10T08:00:00+00:00",
    expires="2026-02-10T08:00:00+00:00",
    app_account_token="app-account-token-2",
)
SUB_3 = receipt_info(
    "sub-3",
    transaction_id="sub-3",
    product_id=FEAST_MONTHLY,
    purchased="2026-02-20T08:00:00+00:00",
    originally_purchased="2026-02-20T08:00:00+00:00",
    expires="2026-03-20T08:00:00+00:00",
    app_account_token="app-account-token-2",
)
SUB_5 = receipt_info(
    "sub-5",
    transaction_id="sub-5",
    product_id=FEAST_MONTHLY,
    purchased="2026-02-25T09:30:00+00:00",
    originally_purchased="2026-02-25T09:30:00+00:00",
    expires="2026-03-25T09:30:00+00:00",
)
RESPONSES = {
    "TEST_RECEIPT_1": verify_receipt_response(
        "TEST_RECEIPT_1", [SUB_1], [renewal_info("sub-1", FEAST_YEARLY)]
    ),
    "TEST_RECEIPT_2": verify_receipt_response(
        "TEST_RECEIPT_2",
        [SUB_3, SUB_2_RENEWED, SUB_2_FIRST],
        [renewal_info("sub-2", FEAST_MONTHLY, auto_renew_status="0"), renewal_info("sub-3", FEAST_MONTHLY)],
    ),
    "TEST_RECEIPT_MISSING_AAT": verify_receipt_response(
        "TEST_RECEIPT_MISSING_AAT", [SUB_5], [renewal_info("sub-5", FEAST_MONTHLY)]
    ),
    "TEST_RECEIPT_SANDBOX": {"status": 21007},
}
IDENTITIES: dict[str, str | None] = {
    "app-account-token-1": "identity-id-1",
    "app-account-token-2": "identity-id-2",
}


def message(reference: Mapping[str, str]) -> bytes:
    return json.dumps(reference, separators=(",", ":")).encode()


async def messages(container: Container, queue: str) -> list[StoredMessage]:
    return (await container.queues[queue].list(limit=1000)).messages


async def history(container: Container) -> list[dict[str, Any]]:
    """The snapshots sent to the historical queue (which nothing consumes), by ``snapshotDate``:
    listed (local), or read from the transactional outbox, which keeps what the relay sent until
    the rows' TTL, in no order (aws)."""
    if container.settings.profile == "local":
        snapshots = [json.loads(m.body) for m in await messages(container, HISTORICAL)]
    else:
        snapshots = [json.loads(row["body"]["S"]) for row in outbox_rows(container, HISTORICAL)]
    return sorted(snapshots, key=lambda snapshot: str(snapshot["snapshotDate"]))


async def links(container: Container) -> list[dict[str, Any]]:
    items = (await container.tables["user-subscriptions"].scan()).items
    return sorted(items, key=lambda item: (item["subscriptionId"], item["userId"]))


async def subscription(container: Container, subscription_id: str) -> dict[str, Any] | None:
    return await container.tables["subscriptions"].get({"subscriptionId": subscription_id})


# --------------------------------------------------------------------------------------------------
# Spec §12.12: feast_apple_update with every collaborator but the tables and queues injected


@dataclass
class Feast:
    container: Container
    clock: FrozenClock
    receipts: FakeReceipts
    identities: FakeIdentityLookup

    async def update(self, receipt: str) -> None:
        await feast_apple_update(
            message({"receipt": receipt}),
            subscriptions=self.container.tables["subscriptions"],
            user_subscriptions=self.container.tables["user-subscriptions"],
            apple_historical_subscriptions=self.container.queues[HISTORICAL],
            app_store=None,
            receipts=self.receipts,
            identity_lookup=self.identities,
            clock=self.clock,
        )


@pytest.fixture
async def feast(tmp_path: Path) -> AsyncIterator[Feast]:
    clock = FrozenClock(NOW)
    container = open_container(tmp_path, TOPOLOGY, clock)
    yield Feast(container, clock, FakeReceipts(RESPONSES), FakeIdentityLookup(IDENTITIES))
    await container.aclose()


async def test_spec_12_12_each_subscription_is_stored_and_sent_to_the_historical_queue(feast: Feast) -> None:
    await feast.update("TEST_RECEIPT_1")
    await feast.update("TEST_RECEIPT_2")

    assert feast.receipts.calls == [("TEST_RECEIPT_1", True, False), ("TEST_RECEIPT_2", True, False)]
    snapshots = await history(feast.container)
    assert [s["subscriptionId"] for s in snapshots] == ["sub-1", "sub-2", "sub-3"]
    assert [s["snapshotDate"] for s in snapshots] == [NOW_ISO] * 3
    assert [s["payload"] for s in snapshots] == [
        RESPONSES["TEST_RECEIPT_1"],
        RESPONSES["TEST_RECEIPT_2"],
        RESPONSES["TEST_RECEIPT_2"],
    ]
    assert await subscription(feast.container, "sub-1") == {
        "subscriptionId": "sub-1",
        "startTimestamp": "2026-01-15T10:00:00.000Z",
        "endTimestamp": "2027-01-15T10:00:00.000Z",
        "autoRenewing": True,
        "productId": FEAST_YEARLY,
        "platform": "ios-feast",
        "freeTrial": True,
        "billingPeriod": "P1Y",
        "googlePayload": None,
        "receipt": "TEST_RECEIPT_1",
        "applePayload": RESPONSES["TEST_RECEIPT_1"],
        "ttl": 1878804000,
        "extra": "",
        "status": "active",
        "environment": "Production",
        "bundleId": FEAST_BUNDLE,
        "fetchedAt": NOW_ISO,
    }
    sub_2 = await subscription(feast.container, "sub-2")
    assert sub_2 is not None
    # The latest transaction of sub-2 and its own pending renewal info.
    assert (sub_2["startTimestamp"], sub_2["endTimestamp"], sub_2["autoRenewing"], sub_2["status"]) == (
        "2026-01-10T08:00:00.000Z",
        "2026-03-10T08:00:00.000Z",
        False,
        "active",
    )
    assert (sub_2["ttl"], sub_2["billingPeriod"], sub_2["freeTrial"]) == (1852185600, "P1M", False)
    sub_3 = await subscription(feast.container, "sub-3")
    assert sub_3 is not None
    assert (sub_3["endTimestamp"], sub_3["autoRenewing"], sub_3["receipt"]) == (
        "2026-03-20T08:00:00.000Z",
        True,
        "TEST_RECEIPT_2",
    )


async def test_spec_12_12_each_subscription_is_linked_to_the_identity_braze_holds(feast: Feast) -> None:
    await feast.update("TEST_RECEIPT_1")
    await feast.update("TEST_RECEIPT_2")

    assert feast.identities.asked == ["app-account-token-1", "app-account-token-2", "app-account-token-2"]
    assert await links(feast.container) == [
        {"userId": "identity-id-1", "subscriptionId": "sub-1", "creationTimestamp": NOW_ISO},
        {"userId": "identity-id-2", "subscriptionId": "sub-2", "creationTimestamp": NOW_ISO},
        {"userId": "identity-id-2", "subscriptionId": "sub-3", "creationTimestamp": NOW_ISO},
    ]


async def test_spec_12_12_a_sandbox_receipt_21007_is_acknowledged(feast: Feast) -> None:
    with pytest.raises(Ignore, match=r"^Sandbox receipt sent to production \(21007\)$"):
        await feast.update("TEST_RECEIPT_SANDBOX")

    assert (await feast.container.tables["subscriptions"].scan()).items == []
    assert await history(feast.container) == []
    assert await links(feast.container) == []
    assert feast.identities.asked == []


async def test_spec_12_12_a_subscription_without_app_account_token_is_stored_not_linked(feast: Feast) -> None:
    await feast.update("TEST_RECEIPT_MISSING_AAT")

    row = await subscription(feast.container, "sub-5")
    assert row is not None
    assert (row["endTimestamp"], row["platform"], row["status"]) == (
        "2026-03-25T09:30:00.000Z",
        "ios-feast",
        "active",
    )
    assert [s["subscriptionId"] for s in await history(feast.container)] == ["sub-5"]
    assert await links(feast.container) == []
    assert feast.identities.asked == []


async def test_a_token_braze_holds_no_identity_for_is_stored_not_linked(tmp_path: Path) -> None:
    clock = FrozenClock(NOW)
    container = open_container(tmp_path, TOPOLOGY, clock)
    feast = Feast(
        container, clock, FakeReceipts(RESPONSES), FakeIdentityLookup({"app-account-token-1": None})
    )
    await feast.update("TEST_RECEIPT_1")

    assert feast.identities.asked == ["app-account-token-1"]
    assert await subscription(container, "sub-1") is not None
    assert await links(container) == []
    await container.aclose()


async def test_a_failing_identity_lookup_is_retried_and_the_redelivery_links(feast: Feast) -> None:
    """The rows are stored before Braze is asked; the redelivery rewrites the same state (equal
    ``fetchedAt``) and links once Braze answers."""
    broken = Feast(feast.container, feast.clock, feast.receipts, FakeIdentityLookup({}))
    with pytest.raises(LookupError):
        await broken.update("TEST_RECEIPT_1")
    assert await subscription(feast.container, "sub-1") is not None
    assert await links(feast.container) == []

    feast.clock.advance(60)
    await feast.update("TEST_RECEIPT_1")

    assert await links(feast.container) == [
        {
            "userId": "identity-id-1",
            "subscriptionId": "sub-1",
            "creationTimestamp": "2026-03-01T12:01:00.000Z",
        }
    ]
    assert [s["snapshotDate"] for s in await history(feast.container)] == [
        NOW_ISO,
        "2026-03-01T12:01:00.000Z",
    ]


# --------------------------------------------------------------------------------------------------
# Spec §3.4 / §2.7: what each verifyReceipt answer tells the runtime (live consumer)

LIVE_INFO = receipt_info(
    "100000111",
    transaction_id="100000112",
    product_id=PRODUCT,
    purchased="2026-02-01T00:00:00+00:00",
    originally_purchased="2026-01-01T00:00:00+00:00",
    expires="2026-03-01T00:00:00+00:00",
    bundle_id=BUNDLE,
)


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[Container]:
    container = open_container(tmp_path, TOPOLOGY, FrozenClock(NOW))
    yield container
    await container.aclose()


async def run_live(
    container: Container,
    body: bytes,
    *,
    app_store: AppStore | None = None,
    receipts: FakeReceipts | None = None,
) -> None:
    """The live consumer on one message, with this container's tables, queue and clock."""
    await apple_update(
        body,
        subscriptions=container.tables["subscriptions"],
        apple_historical_subscriptions=container.queues[HISTORICAL],
        app_store=app_store,
        receipts=receipts or FakeReceipts({}),
        clock=container.clock,
    )


async def live_update(
    container: Container, response: dict[str, Any], *, app_store: FakeAppStore | None = None
) -> None:
    await run_live(
        container,
        message({"receipt": "RECEIPT"}),
        app_store=app_store,
        receipts=FakeReceipts({"RECEIPT": response}),
    )


@pytest.mark.parametrize(
    ("response", "outcome", "reason"),
    [
        ({"status": 21100}, Retry, "Apple internal error, status 21100"),
        ({"status": 21150}, Retry, "Apple internal error, status 21150"),
        ({"status": 21199}, Retry, "Apple internal error, status 21199"),
        ({"status": 21005, "is-retryable": True}, Retry, "Apple internal error, status 21005"),
        (
            {"status": 0, "is-retryable": True, "latest_receipt_info": [LIVE_INFO]},
            Retry,
            "Apple internal error, status 0",
        ),
        ({"status": 21007}, Ignore, r"Sandbox receipt sent to production \(21007\)"),
        ({"status": 21008}, GiveUp, r"Production receipt sent to sandbox \(21008\)"),
        ({"status": 21002}, GiveUp, "Invalid receipt, status 21002"),
        ({"status": 21003}, GiveUp, "Invalid receipt, status 21003"),
        ({"status": 21004}, GiveUp, "Invalid receipt, status 21004"),
        ({"status": 21010}, GiveUp, "Invalid receipt, status 21010"),
        ({"status": 21200}, GiveUp, "Invalid receipt, status 21200"),
        ({"status": 0}, GiveUp, "No receipt info in the response"),
        ({"status": 0, "latest_receipt_info": []}, GiveUp, "No receipt info in the response"),
        ({"status": 21006}, GiveUp, "No receipt info in the response"),
        (
            {"status": 0, "latest_receipt_info": [{**LIVE_INFO, "original_purchase_date_ms": None}]},
            GiveUp,
            "Receipt has no original purchase date",
        ),
    ],
)
async def test_each_verify_receipt_status_tells_the_runtime_what_to_do(
    live: Container, response: dict[str, Any], outcome: type[Exception], reason: str
) -> None:
    with pytest.raises(outcome, match=f"^{reason}$"):
        await live_update(live, response)

    assert (await live.tables["subscriptions"].scan()).items == []
    assert await history(live) == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "the message is not JSON"),
        (b'{"receipt": 12}', "not a subscription reference"),
        (b'{"originalTransactionId": "1"}', "not a subscription reference"),
        (b"[]", "not a subscription reference"),
    ],
)
async def test_a_message_that_is_no_subscription_reference_is_given_up(
    live: Container, body: bytes, reason: str
) -> None:
    with pytest.raises(GiveUp, match=f"^{reason}"):
        await run_live(live, body)


async def test_status_21006_with_receipt_info_is_stored(live: Container) -> None:
    """Status 21006 ("valid receipt, subscription expired") is a usable answer, here with only
    ``latest_expired_receipt_info`` (an object, as Apple sent it for expired subscriptions)."""
    response = {
        "status": 21006,
        "auto_renew_status": 0,
        "latest_expired_receipt_info": LIVE_INFO,
        "receipt": {"bundle_id": BUNDLE},
    }
    await live_update(live, response)

    row = await subscription(live, "100000111")
    assert row == {
        "subscriptionId": "100000111",
        "startTimestamp": "2026-01-01T00:00:00.000Z",
        "endTimestamp": "2026-03-01T00:00:00.000Z",
        "autoRenewing": False,
        "productId": PRODUCT,
        "platform": "ios",
        "freeTrial": False,
        "billingPeriod": "P1M",
        "googlePayload": None,
        "receipt": "RECEIPT",
        "applePayload": response,
        "ttl": 1851379200,
        "extra": "",
        "status": "expired",
        "bundleId": BUNDLE,
        "fetchedAt": NOW_ISO,
    }
    assert [s["subscriptionId"] for s in await history(live)] == ["100000111"]


# --------------------------------------------------------------------------------------------------
# The verifyReceipt adapter (spec §3.4 steps 1-3) against a stand-in Apple


@dataclass
class StandInApple:
    """verifyReceipt on ``/verifyReceipt`` and ``/sandbox/verifyReceipt``, answering scripted
    ``(status, body)`` pairs per path and recording every request."""

    answers: dict[str, list[tuple[int, bytes]]]
    seen: list[tuple[str, Any]] = field(default_factory=list)

    def app(self) -> Starlette:
        async def answer(request: Request) -> Response:
            self.seen.append((request.url.path, json.loads(await request.body())))
            status, body = self.answers[request.url.path].pop(0)
            return Response(body, status_code=status, media_type="application/json")

        return Starlette(
            routes=[
                Route("/verifyReceipt", answer, methods=["POST"]),
                Route("/sandbox/verifyReceipt", answer, methods=["POST"]),
            ]
        )


class Unanswering:
    """A transport whose calls time out."""

    def __init__(self) -> None:
        self.calls = 0

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        self.calls += 1
        raise Unreachable("timed out")

    async def aclose(self) -> None:
        return None


def verify_receipt_over(transport: Transport) -> VerifyReceipt:
    return VerifyReceipt(
        ReceiptEndpoint(transport, "/verifyReceipt"),
        ReceiptEndpoint(transport, "/sandbox/verifyReceipt"),
        live_password="live-secret",
        feast_password="feast-secret",
    )


async def verify_against(
    apple: StandInApple, *, feast: bool = False, sandbox_retry: bool = False
) -> dict[str, Any]:
    transport = AsgiTransport(apple.app(), "apple")
    try:
        return await verify_receipt_over(transport).verify(
            "RECEIPT", feast=feast, sandbox_retry=sandbox_retry
        )
    finally:
        await transport.aclose()


def body(receipt: str, password: str) -> dict[str, Any]:
    return {"receipt-data": receipt, "password": password, "exclude-old-transactions": True}


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (500, "apple-verify-receipt verifyReceipt: HTTP 500"),
        (503, "apple-verify-receipt verifyReceipt: HTTP 503"),
        (429, "apple-verify-receipt verifyReceipt: HTTP 429"),
        (400, r"verifyReceipt: Impossible to validate receipt \(HTTP 400\)"),
        (404, r"verifyReceipt: Impossible to validate receipt \(HTTP 404\)"),
        (302, r"verifyReceipt: Impossible to validate receipt \(HTTP 302\)"),
    ],
)
async def test_a_non_2xx_answer_from_verify_receipt_is_retried(status: int, reason: str) -> None:
    apple = StandInApple({"/verifyReceipt": [(status, b'{"status": 0}')]})
    with pytest.raises(Retry, match=f"^{reason}$"):
        await verify_against(apple)
    assert apple.seen == [("/verifyReceipt", body("RECEIPT", "live-secret"))]


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (b"<html>busy</html>", "verifyReceipt answered something that is not JSON"),
        (b"[0]", "verifyReceipt answered JSON that is not an object"),
    ],
)
async def test_an_answer_that_is_no_json_object_is_retried(answer: bytes, reason: str) -> None:
    with pytest.raises(Retry, match=f"^{reason}$"):
        await verify_against(StandInApple({"/verifyReceipt": [(200, answer)]}))


async def test_verify_receipt_not_answering_is_retried() -> None:
    transport = Unanswering()
    with pytest.raises(Retry, match=r"^apple-verify-receipt verifyReceipt: timed out$"):
        await verify_receipt_over(transport).verify("RECEIPT", feast=False, sandbox_retry=True)
    assert transport.calls == 1


@pytest.mark.parametrize(("feast", "password"), [(False, "live-secret"), (True, "feast-secret")])
async def test_each_app_posts_its_own_shared_secret(feast: bool, password: str) -> None:
    apple = StandInApple({"/verifyReceipt": [(200, b'{"status": 21002}')]})
    assert await verify_against(apple, feast=feast) == {"status": 21002}
    assert apple.seen == [("/verifyReceipt", body("RECEIPT", password))]


async def test_21007_is_returned_as_is_without_sandbox_retry() -> None:
    apple = StandInApple({"/verifyReceipt": [(200, b'{"status": 21007}')]})
    assert await verify_against(apple, sandbox_retry=False) == {"status": 21007}
    assert [path for path, _ in apple.seen] == ["/verifyReceipt"]


@pytest.mark.parametrize(("feast", "password"), [(False, "live-secret"), (True, "feast-secret")])
async def test_21007_with_sandbox_retry_asks_the_sandbox_with_the_apps_own_secret(
    feast: bool, password: str
) -> None:
    """Upstream sent the Live secret to the sandbox whatever the app (§13.2.1); the app's own
    secret is the one that works (docs/compatibility.md)."""
    apple = StandInApple(
        {
            "/verifyReceipt": [(200, b'{"status": 21007}')],
            "/sandbox/verifyReceipt": [(200, b'{"status": 0, "environment": "Sandbox"}')],
        }
    )
    assert await verify_against(apple, feast=feast, sandbox_retry=True) == {
        "status": 0,
        "environment": "Sandbox",
    }
    assert apple.seen == [
        ("/verifyReceipt", body("RECEIPT", password)),
        ("/sandbox/verifyReceipt", body("RECEIPT", password)),
    ]


async def test_a_sandbox_retry_failing_is_retried() -> None:
    apple = StandInApple(
        {"/verifyReceipt": [(200, b'{"status": 21007}')], "/sandbox/verifyReceipt": [(503, b"")]}
    )
    with pytest.raises(Retry, match=r"^apple-verify-receipt verifyReceipt: HTTP 503$"):
        await verify_against(apple, sandbox_retry=True)


async def test_other_statuses_are_not_retried_in_the_sandbox() -> None:
    apple = StandInApple({"/verifyReceipt": [(200, b'{"status": 21008}')]})
    assert await verify_against(apple, sandbox_retry=True) == {"status": 21008}
    assert [path for path, _ in apple.seen] == ["/verifyReceipt"]


# --------------------------------------------------------------------------------------------------
# The App Store Server API adapter: what each answer means to the consumers


def server_api(directory: Path, transport: Transport) -> AppStoreServerApi:
    """The App Store Server API client as the local profile builds it (the emulator's CA and API
    key in ``directory``, made there if missing), over ``transport``."""
    chain = CertificateChain.load_or_create(directory)
    key = EmulatedApiKey.load_or_create(directory)
    signed_data = AppleSignedData([chain.root_der], [BUNDLE, FEAST_BUNDLE], "Sandbox")
    return AppStoreServerApi(signed_data, transport, ApiKey(key.private_key_pem, key.key_id, key.issuer_id))


def answering(status: int, body: bytes, media_type: str = "application/json") -> Starlette:
    """A stand-in App Store Server API answering every Get All Subscription Statuses alike."""

    async def answer(request: Request) -> Response:
        return Response(body, status_code=status, media_type=media_type)

    return Starlette(routes=[Route("/inApps/v1/subscriptions/{transaction_id}", answer, methods=["GET"])])


@pytest.mark.parametrize(
    ("status", "answer", "outcome", "reason"),
    [
        (500, b"", Retry, "app-store GET /inApps/v1/subscriptions/{transactionId}: HTTP 500"),
        (429, b"", Retry, "app-store GET /inApps/v1/subscriptions/{transactionId}: HTTP 429"),
        (401, b"Unauthenticated", Retry, r"the App Store Server API refused the key \(HTTP 401\)"),
        (
            400,
            b'{"errorCode": 4000006, "errorMessage": "Invalid transaction id."}',
            GiveUp,
            r"the App Store Server API refused the request \(HTTP 400, 4000006: Invalid transaction id.\)",
        ),
        (
            200,
            b"<html>maintenance</html>",
            Retry,
            r"the App Store Server API answered something unreadable \(JSONDecodeError\)",
        ),
        (
            200,
            b'{"data": 5}',
            Retry,
            r"the App Store Server API answered something unreadable \(ClassValidationError\)",
        ),
    ],
)
async def test_each_app_store_server_api_failure_tells_the_runtime_what_to_do(
    tmp_path: Path, status: int, answer: bytes, outcome: type[Exception], reason: str
) -> None:
    transport = AsgiTransport(answering(status, answer), "app-store")
    with pytest.raises(outcome, match=f"^{reason}$"):
        await server_api(tmp_path, transport).subscription("2000000000000001", BUNDLE)
    await transport.aclose()


async def test_a_subscription_the_app_store_does_not_know_is_given_up(
    live: Container, tmp_path: Path
) -> None:
    unknown = b'{"errorCode": 4040010, "errorMessage": "Transaction id not found."}'
    transport = AsgiTransport(answering(404, unknown), "app-store")
    app_store = server_api(tmp_path / "apple", transport)
    assert await app_store.subscription("2000000000000001", BUNDLE) is None
    with pytest.raises(
        GiveUp, match=f"^the App Store does not know subscription 2000000000000001 of {BUNDLE}$"
    ):
        await run_live(
            live,
            message({"originalTransactionId": "2000000000000001", "bundleId": BUNDLE}),
            app_store=app_store,
        )
    with pytest.raises(GiveUp, match=r"^bundle id 'com.example.other' is not accepted"):
        await app_store.subscription("2000000000000001", "com.example.other")
    await transport.aclose()


async def test_a_receipt_row_is_stored_without_extra_when_the_server_api_fails(
    live: Container, tmp_path: Path
) -> None:
    """The StoreKit ``extra`` is best effort (spec §3.8): ``''`` when the API fails."""
    transport = AsgiTransport(answering(200, b"<html>maintenance</html>"), "app-store")
    response = verify_receipt_response(
        "RECEIPT", [LIVE_INFO], [renewal_info("100000111", PRODUCT)], bundle_id=BUNDLE
    )
    await run_live(
        live,
        message({"receipt": "RECEIPT"}),
        app_store=server_api(tmp_path / "apple", transport),
        receipts=FakeReceipts({"RECEIPT": response}),
    )

    row = await subscription(live, "100000111")
    assert row is not None
    assert (row["extra"], row["receipt"], row["autoRenewing"]) == ("", "RECEIPT", True)
    await transport.aclose()


# --------------------------------------------------------------------------------------------------
# Never backwards: out-of-order and duplicate fetches


def app_store_state(
    *, signed: datetime, auto_renew: bool, expires: str = "2026-04-01T00:00:00+00:00"
) -> AppStoreSubscription:
    """A verified "Get All Subscription Statuses" item as the adapter returns it."""
    transaction = {
        "transactionId": "2000000000000002",
        "originalTransactionId": "2000000000000001",
        "webOrderLineItemId": "2000000000000003",
        "bundleId": BUNDLE,
        "productId": PRODUCT,
        "subscriptionGroupIdentifier": "20000001",
        "purchaseDate": ms("2026-03-01T00:00:00+00:00"),
        "originalPurchaseDate": ms("2026-01-01T00:00:00+00:00"),
        "expiresDate": ms(expires),
        "quantity": 1,
        "type": "Auto-Renewable Subscription",
        "inAppOwnershipType": "PURCHASED",
        "signedDate": int(signed.timestamp() * 1000),
        "environment": "Sandbox",
        "transactionReason": "RENEWAL",
        "storefront": "GBR",
        "storefrontId": "143444",
        "price": 4990,
        "currency": "GBP",
    }
    renewal = {
        "originalTransactionId": "2000000000000001",
        "autoRenewProductId": PRODUCT,
        "productId": PRODUCT,
        "autoRenewStatus": 1 if auto_renew else 0,
        "signedDate": int(signed.timestamp() * 1000),
        "environment": "Sandbox",
    }
    return AppStoreSubscription(
        status=1, transaction=transaction, renewal=renewal, environment="Sandbox", bundle_id=BUNDLE
    )


async def fetch_v2(container: Container, app_store: FakeAppStore) -> None:
    await run_live(
        container,
        message({"originalTransactionId": "2000000000000001", "bundleId": BUNDLE}),
        app_store=app_store,
    )


async def test_an_older_answer_never_moves_a_subscription_back(live: Container) -> None:
    app_store = FakeAppStore()
    app_store.answer = app_store_state(signed=NOW, auto_renew=False)
    await fetch_v2(live, app_store)
    newer = await subscription(live, "2000000000000001")
    assert newer is not None
    assert (newer["autoRenewing"], newer["fetchedAt"]) == (False, NOW_ISO)

    # A fetch that Apple answered a minute earlier (auto-renew still on) finishes last.
    app_store.answer = app_store_state(signed=NOW - timedelta(minutes=1), auto_renew=True)
    await fetch_v2(live, app_store)

    assert await subscription(live, "2000000000000001") == newer
    assert len(await history(live)) == 1
    assert app_store.calls == [("2000000000000001", BUNDLE)] * 2


async def test_a_duplicate_answer_is_accepted_and_a_newer_one_replaces(live: Container) -> None:
    app_store = FakeAppStore()
    app_store.answer = app_store_state(signed=NOW, auto_renew=True)
    await fetch_v2(live, app_store)
    first = await subscription(live, "2000000000000001")

    await fetch_v2(live, app_store)  # the same answer again: equal fetchedAt
    assert await subscription(live, "2000000000000001") == first
    assert len(await history(live)) == 2

    app_store.answer = app_store_state(
        signed=NOW + timedelta(days=30), auto_renew=False, expires="2026-05-01T00:00:00+00:00"
    )
    await fetch_v2(live, app_store)
    newest = await subscription(live, "2000000000000001")
    assert newest is not None
    assert (newest["autoRenewing"], newest["endTimestamp"], newest["fetchedAt"]) == (
        False,
        "2026-05-01T00:00:00.000Z",
        "2026-03-31T12:00:00.000Z",
    )
    assert len(await history(live)) == 3


async def test_an_older_verify_receipt_answer_never_moves_a_subscription_back(live: Container) -> None:
    newer = verify_receipt_response(
        "RECEIPT", [LIVE_INFO], [renewal_info("100000111", PRODUCT, auto_renew_status="0")], bundle_id=BUNDLE
    )
    await live_update(live, newer)
    stored = await subscription(live, "100000111")
    assert stored is not None
    assert (stored["autoRenewing"], stored["fetchedAt"]) == (False, NOW_ISO)

    older = verify_receipt_response(
        "RECEIPT",
        [LIVE_INFO],
        [renewal_info("100000111", PRODUCT)],
        bundle_id=BUNDLE,
        request_ms=NOW_MS - 1,
    )
    await live_update(live, older)

    assert await subscription(live, "100000111") == stored
    assert len(await history(live)) == 1


async def test_a_row_written_by_the_original_is_replaced_by_the_first_fetch(live: Container) -> None:
    legacy = {"subscriptionId": "2000000000000001", "endTimestamp": "2026-02-01T00:00:00.000Z"}
    await live.tables["subscriptions"].put(legacy)
    app_store = FakeAppStore()
    app_store.answer = app_store_state(signed=NOW - timedelta(days=365), auto_renew=True)

    await fetch_v2(live, app_store)

    row = await subscription(live, "2000000000000001")
    assert row is not None
    assert (row["endTimestamp"], row["fetchedAt"]) == ("2026-04-01T00:00:00.000Z", "2025-03-01T12:00:00.000Z")


# --------------------------------------------------------------------------------------------------
# The pipeline in process, against the App Store (and Braze) emulators


class StoreClock:
    """The emulated App Store's clock: real time, moved back while a test buys a subscription
    in the past."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


@dataclass
class Pipeline:
    container: Container
    runtime: ProfileRuntime
    clock: FrozenClock
    api: httpx.AsyncClient
    store: AppleStoreState
    store_clock: StoreClock
    signer: AppStoreSigner
    directory: Path

    async def notify(
        self, step: Step, *, version: NotificationVersion = "v2", path: str = "/apple/pubsub"
    ) -> None:
        body = notification_body(step, self.store, self.signer, version=version)
        response = await self.api.post(path, json=body)
        assert response.status_code == 200, response.text

    async def drain(self, *, timeout_s: float = 10.0) -> None:
        """Run the consumers until both fetch queues are empty. The service's clock is frozen
        and moved to real time first (never backwards), so V1 states are judged at the time the
        emulated App Store is at."""
        self.clock.set(max(self.clock.now(), datetime.now(UTC)))
        queues = [self.container.queues[name] for name in (LIVE_QUEUE, FEAST_QUEUE)]

        async def drained() -> bool:
            # ``quiet``: on aws, the outbox relay has nothing left to send to them either.
            return all([(await q.depth()).total == 0 for q in queues]) and self.runtime.quiet

        await self.runtime.run_until(drained, timeout_s=timeout_s)

    async def after(
        self, step: Step, *, version: NotificationVersion = "v2", path: str = "/apple/pubsub"
    ) -> dict[str, Any]:
        """Notify ``step``, fetch, and return the subscription's row."""
        await self.notify(step, version=version, path=path)
        await self.drain()
        row = await subscription(self.container, step.original_transaction_id)
        assert row is not None
        return row

    def expires(self, original_transaction_id: str) -> str:
        last = self.store.get(original_transaction_id)["transactions"][-1]
        return iso_ms(last["expiresDate"])

    def emulator(self) -> Starlette:
        """Another App Store emulator over the same subscriptions, trusted by the service (its
        CA and API key), for a test to control."""
        chain = CertificateChain.load(self.directory)
        return create_app_store_app(
            self.store,
            signer=AppStoreSigner(chain),
            api_key=EmulatedApiKey.load_or_create(self.directory),
            environment="Sandbox",
        )

    closers: list[httpx.AsyncClient] = field(default_factory=list)

    def keep(self, transport: Transport) -> Transport:
        self.container.transports.append(transport)
        return transport


@pytest.fixture(params=["local", "aws"])
async def pipeline(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Pipeline]:
    """The service with the App Store emulator it mounts: locally the local runtime; on aws (the
    template's resources, stage CODE, in moto) the Lambda handlers only. The tests of failures
    and back-off take only ``local`` (``indirect``): they move the frozen clock past SQLite's
    visibility deadlines and read the queues with ``list()``; on SQS back-off is visibility in
    real time and a queue cannot be listed."""
    clock = FrozenClock(datetime.now(UTC))
    if request.param == "local":
        container = open_container(tmp_path, FAST, clock)
    else:
        # The moto server starts with the module's first aws test; ``endpoint`` resets it after each.
        moto_url: str = request.getfixturevalue("endpoint")
        settings = aws_settings(tmp_path, moto_url, "CODE", provisioned(moto_url, "CODE"))
        container = bootstrap(settings, clock=clock, topology=FAST).open()
    directory = apple_emulator_directory(container.settings)
    store_clock = StoreClock()
    store = AppleStoreState(directory / "subscriptions.sqlite3", clock=store_clock)
    runtime = runtime_for(container)
    async with httpx.AsyncClient(transport=runtime.transport(), base_url="http://sf") as api:
        pipeline = Pipeline(
            container,
            runtime,
            clock,
            api,
            store,
            store_clock,
            AppStoreSigner(CertificateChain.load(directory)),
            directory,
        )
        yield pipeline
        for client in pipeline.closers:
            await client.aclose()
    await runtime.aclose()
    store.close()
    await container.aclose()


async def test_the_v2_life_cycle_of_a_subscription(pipeline: Pipeline) -> None:
    store = pipeline.store
    step = store.subscribe(bundle_id=BUNDLE, product_id=PRODUCT)
    otid = step.original_transaction_id

    row = await pipeline.after(step)
    assert (row["status"], row["autoRenewing"], row["endTimestamp"]) == (
        "active",
        True,
        pipeline.expires(otid),
    )
    assert (row["environment"], row["bundleId"], row["platform"]) == ("Sandbox", BUNDLE, "ios")
    assert "cancellationTimestamp" not in row

    row = await pipeline.after(store.set_auto_renew(otid, False))
    assert (row["status"], row["autoRenewing"]) == ("active", False)

    row = await pipeline.after(store.set_auto_renew(otid, True))
    assert (row["status"], row["autoRenewing"]) == ("active", True)

    row = await pipeline.after(store.fail_to_renew(otid, grace=True))
    assert (row["status"], row["autoRenewing"]) == ("grace_period", True)
    assert row["applePayload"]["renewalInfo"]["isInBillingRetryPeriod"] is True

    row = await pipeline.after(store.fail_to_renew(otid, grace=False))
    assert (row["status"], row["endTimestamp"]) == ("billing_retry", pipeline.expires(otid))

    row = await pipeline.after(store.renew(otid))
    assert (row["status"], row["endTimestamp"]) == ("active", pipeline.expires(otid))

    row = await pipeline.after(store.expire(otid))
    assert (row["status"], row["endTimestamp"]) == ("expired", pipeline.expires(otid))
    assert "cancellationTimestamp" not in row

    fetched = [s["payload"]["status"] for s in await history(pipeline.container)]
    assert fetched == [1, 1, 1, 4, 3, 1, 2]


async def test_a_v2_refund(pipeline: Pipeline) -> None:
    step = pipeline.store.subscribe(bundle_id=BUNDLE, product_id=PRODUCT)
    otid = step.original_transaction_id
    await pipeline.after(step)

    row = await pipeline.after(pipeline.store.refund(otid))

    revoked_at = pipeline.store.get(otid)["transactions"][-1]["revocationDate"]
    assert (row["status"], row["autoRenewing"], row["cancellationTimestamp"]) == (
        "refunded",
        False,
        iso_ms(revoked_at),
    )


async def test_a_v2_family_sharing_revocation(pipeline: Pipeline) -> None:
    step = pipeline.store.subscribe(bundle_id=BUNDLE, product_id=PRODUCT)
    otid = step.original_transaction_id
    await pipeline.after(step)

    row = await pipeline.after(pipeline.store.revoke(otid))

    revoked_at = pipeline.store.get(otid)["transactions"][-1]["revocationDate"]
    assert (row["status"], row["cancellationTimestamp"]) == ("revoked", iso_ms(revoked_at))


async def test_the_v1_life_cycle_through_verify_receipt(pipeline: Pipeline) -> None:
    store = pipeline.store
    step = store.subscribe(bundle_id=BUNDLE, product_id=PRODUCT)
    otid = step.original_transaction_id

    row = await pipeline.after(step, version="v1")
    assert (row["status"], row["autoRenewing"], row["endTimestamp"]) == (
        "active",
        True,
        pipeline.expires(otid),
    )
    assert (row["receipt"], row["environment"], row["bundleId"]) == (store.receipt(otid), "Sandbox", BUNDLE)
    assert json.loads(row["extra"])["originalTransactionId"] == otid

    row = await pipeline.after(store.set_auto_renew(otid, False), version="v1")
    assert (row["status"], row["autoRenewing"]) == ("active", False)

    row = await pipeline.after(store.refund(otid), version="v1")
    revoked_at = store.get(otid)["transactions"][-1]["revocationDate"]
    assert (row["status"], row["cancellationTimestamp"]) == ("refunded", iso_ms(revoked_at))

    # A subscription bought 40 days ago: its month is over, so V1 tells billing retry, grace
    # period and expiry apart by its pending renewal info.
    pipeline.store_clock.offset = -timedelta(days=40)
    lapsed = store.subscribe(bundle_id=BUNDLE, product_id=PRODUCT).original_transaction_id
    pipeline.store_clock.offset = timedelta(0)

    row = await pipeline.after(store.fail_to_renew(lapsed, grace=True), version="v1")
    assert (row["status"], row["endTimestamp"]) == ("grace_period", pipeline.expires(lapsed))

    row = await pipeline.after(store.fail_to_renew(lapsed, grace=False), version="v1")
    assert row["status"] == "billing_retry"

    row = await pipeline.after(store.expire(lapsed), version="v1")
    assert (row["status"], row["autoRenewing"]) == ("expired", True)
    assert "cancellationTimestamp" not in row


async def run_until(
    pipeline: Pipeline, condition: Callable[[], Awaitable[bool]], *, timeout_s: float = 10.0
) -> None:
    """Run the consumers until ``condition``, moving the frozen clock 2 s per check: every
    back-off (at least 1 s of visibility) is over at the next check."""

    async def later() -> None:
        pipeline.clock.advance(2)

    await drive(Runtime(pipeline.container, http=False), condition, between=later, timeout_s=timeout_s)


async def depth(pipeline: Pipeline, queue: str) -> int:
    return (await pipeline.container.queues[queue].depth()).total


@pytest.mark.parametrize("pipeline", ["local"], indirect=True)
async def test_an_app_store_outage_ends_in_the_dlq_and_a_replay_catches_up(pipeline: Pipeline) -> None:
    emulator = pipeline.emulator()
    pipeline.container.collaborators["app_store"] = server_api(
        pipeline.directory, pipeline.keep(AsgiTransport(emulator, "app-store"))
    )
    control = httpx.AsyncClient(transport=httpx.ASGITransport(app=emulator), base_url="http://control")
    pipeline.closers.append(control)
    otid = pipeline.store.subscribe(bundle_id=BUNDLE, product_id=PRODUCT).original_transaction_id
    reference = message({"originalTransactionId": otid, "bundleId": BUNDLE})
    fetch = pipeline.container.queues[LIVE_QUEUE]
    dlq = pipeline.container.queues[f"{LIVE_QUEUE}-dlq"]

    await fetch.send(reference)
    await pipeline.drain()
    before = await subscription(pipeline.container, otid)
    assert before is not None
    assert (before["status"], before["autoRenewing"]) == ("active", True)

    # The customer turns auto-renew off while the App Store Server API answers 503.
    pipeline.store.set_auto_renew(otid, False)
    fault = {"status": 503, "count": -1, "path_prefix": "/inApps/"}
    assert (await control.post("/__emulator/faults", json=fault)).status_code == 201
    await fetch.send(reference)

    async def dead_lettered() -> bool:
        return await depth(pipeline, f"{LIVE_QUEUE}-dlq") == 1

    await run_until(pipeline, dead_lettered)

    (dead,) = (await dlq.list()).messages
    assert (dead.body, dead.receive_count, dead.source_queue, dead.reason) == (
        reference,
        8,
        LIVE_QUEUE,
        "Retry: app-store GET /inApps/v1/subscriptions/{transactionId}: HTTP 503",
    )
    logged = (await control.get("/__emulator/requests")).json()["requests"]
    assert [(r["status"], r["fault"]) for r in logged] == [(200, False)] + [(503, True)] * 8
    assert await depth(pipeline, LIVE_QUEUE) == 0
    assert await subscription(pipeline.container, otid) == before

    # Recovery: the API answers again and an operator replays the dead letters.
    assert (await control.delete("/__emulator/faults")).json() == {"cleared": 1}
    assert await dlq.replay() == 1

    async def caught_up() -> bool:
        return await depth(pipeline, LIVE_QUEUE) == 0 and await depth(pipeline, f"{LIVE_QUEUE}-dlq") == 0

    await run_until(pipeline, caught_up)

    after = await subscription(pipeline.container, otid)
    assert after is not None
    assert (after["status"], after["autoRenewing"]) == ("active", False)
    assert after["fetchedAt"] > before["fetchedAt"]
    assert [s["payload"]["renewalInfo"]["autoRenewStatus"] for s in await history(pipeline.container)] == [
        1,
        0,
    ]


@pytest.mark.parametrize("pipeline", ["local"], indirect=True)
async def test_app_store_timeouts_are_retried_with_back_off_until_it_answers(pipeline: Pipeline) -> None:
    flaky = Flaky(AsgiTransport(pipeline.emulator(), "app-store"), failures=3)
    pipeline.container.collaborators["app_store"] = server_api(pipeline.directory, pipeline.keep(flaky))
    otid = pipeline.store.subscribe(bundle_id=BUNDLE, product_id=PRODUCT).original_transaction_id
    await pipeline.container.queues[LIVE_QUEUE].send(
        message({"originalTransactionId": otid, "bundleId": BUNDLE})
    )

    async def stored() -> bool:
        return await subscription(pipeline.container, otid) is not None

    await run_until(pipeline, stored)

    assert flaky.calls == 4
    row = await subscription(pipeline.container, otid)
    assert row is not None
    assert row["status"] == "active"
    assert await depth(pipeline, f"{LIVE_QUEUE}-dlq") == 0


async def test_a_feast_v2_subscription_is_linked_to_its_braze_identity_once(pipeline: Pipeline) -> None:
    braze_app = create_braze_app("braze-test-key")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=braze_app), base_url="http://braze-control"
    ) as braze:
        registered = await braze.post(
            "/__emulator/users", json={"external_id": "7c9d4c2e-feast-token", "identity_id": "1000042"}
        )
        assert registered.status_code == 201, registered.text
    pipeline.container.collaborators["identity_lookup"] = BrazeIdentityLookup(
        pipeline.keep(AsgiTransport(braze_app, "braze")), "braze-test-key"
    )
    store = pipeline.store
    step = store.subscribe(
        bundle_id=FEAST_BUNDLE, product_id=FEAST_YEARLY, app_account_token="7c9d4c2e-feast-token"
    )
    otid = step.original_transaction_id
    unknown = store.subscribe(
        bundle_id=FEAST_BUNDLE, product_id=FEAST_YEARLY, app_account_token="token-braze-does-not-know"
    )

    await pipeline.notify(step, path="/feast/apple/pubsub")
    row = await pipeline.after(unknown, path="/feast/apple/pubsub")
    linked_at = to_iso(pipeline.clock.now())

    assert (row["platform"], row["billingPeriod"], row["status"]) == ("ios-feast", "P1Y", "active")
    first = await subscription(pipeline.container, otid)
    assert first is not None
    assert (first["platform"], first["status"], first["autoRenewing"]) == ("ios-feast", "active", True)
    assert await links(pipeline.container) == [
        {"userId": "1000042", "subscriptionId": otid, "creationTimestamp": linked_at}
    ]

    pipeline.clock.advance(3600)
    updated = await pipeline.after(store.set_auto_renew(otid, False), path="/feast/apple/pubsub")

    assert updated["autoRenewing"] is False
    assert await links(pipeline.container) == [
        {"userId": "1000042", "subscriptionId": otid, "creationTimestamp": linked_at}
    ]
