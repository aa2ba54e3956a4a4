"""``POST /apple/pubsub`` and ``POST /feast/apple/pubsub`` through the ASGI app, V2 and V1
(spec §3.1-§3.3, §5.1, §5.3, §12.1 case 4, §12.2, §12.10; issue 5).

Why: Apple retries a notification until it gets a 200, so a 200 must mean "the event row and its
fetch reference are committed", a retry must not store or queue twice, and any other answer must
leave nothing behind. Each test therefore looks at the table and the queues themselves, not only
at the status code. V2 bodies are signed by the in-process App Store emulator's chain, the root
the local profile trusts (as in ``test_apple_pipeline.py``).
"""

from __future__ import annotations

import asyncio
import base64
import copy
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from supporterflow.bootstrap import Container, apple_emulator_directory
from supporterflow.domain.subscriptions.apple_v1 import parse_notification
from supporterflow.emulators.apple.certificates import CertificateChain
from supporterflow.emulators.apple.sender import notification_body
from supporterflow.emulators.apple.signing import AppStoreSigner, notification_payload
from supporterflow.emulators.apple.store import AppleStoreState, Step
from supporterflow.entrypoints.http import create_app
from supporterflow.topology import TOPOLOGY
from tests.support import open_container
from tests.unit.subscriptions.fixtures import apple_notification

BUNDLE = "uk.co.guardian.iphone2"
PRODUCT = "uk.co.guardian.gla.1month"
FEAST_BUNDLE = "uk.co.guardian.Feast"
FEAST_PRODUCT = "uk.co.guardian.Feast.yearly"
LIVE_QUEUE = "apple-subscriptions-to-fetch"
FEAST_QUEUE = "feast-apple-subscriptions-to-fetch"
OK = {"status": 200, "message": "OK"}
SPEC_SECRET = "MYSECRET"  # §12.1: env Secret=MYSECRET
FEAST_SECRET = "test_secret"  # §12.10: env Secret=test_secret


@dataclass
class Service:
    """The app on a fresh database, and the emulator's store and signer for V2 bodies."""

    container: Container
    api: httpx.AsyncClient
    store: AppleStoreState
    signer: AppStoreSigner

    async def post(
        self, body: object, path: str = "/apple/pubsub", *, secret: str | None = None
    ) -> httpx.Response:
        return await self.api.post(path, json=body, params={"secret": secret} if secret is not None else None)

    async def post_bytes(
        self, content: bytes, path: str = "/apple/pubsub", *, secret: str | None = None
    ) -> httpx.Response:
        return await self.api.post(
            path,
            content=content,
            headers={"content-type": "application/json"},
            params={"secret": secret} if secret is not None else None,
        )

    def v2(self, step: Step) -> dict[str, Any]:
        return notification_body(step, self.store, self.signer)

    async def events(self) -> list[dict[str, Any]]:
        return (await self.container.tables["subscription-events"].scan()).items

    async def bodies(self, queue: str) -> list[bytes]:
        return [message.body for message in (await self.container.queues[queue].list()).messages]

    async def assert_nothing_stored(self) -> None:
        """The answer was not 200: no event row, no fetch reference on either queue."""
        assert await self.events() == []
        for queue in (LIVE_QUEUE, FEAST_QUEUE):
            assert (await self.container.queues[queue].depth()).total == 0, queue


OpenService = Callable[..., Awaitable[Service]]


@pytest.fixture
async def open_service(tmp_path: Path) -> AsyncIterator[OpenService]:
    """``await open_service(apple_pubsub_secret=..., ...)``: settings overrides as
    ``open_container`` takes them; one service per test (the database is ``tmp_path``'s)."""
    async with AsyncExitStack() as stack:

        async def build(**settings: Any) -> Service:
            container = open_container(tmp_path, TOPOLOGY, **settings)
            stack.push_async_callback(container.aclose)
            directory = apple_emulator_directory(container.settings)
            store = AppleStoreState(directory / "subscriptions.sqlite3")
            stack.callback(store.close)
            api = await stack.enter_async_context(
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=create_app(container)), base_url="http://sf"
                )
            )
            return Service(container, api, store, AppStoreSigner(CertificateChain.load(directory)))

        yield build


def _reference(original_transaction_id: str, bundle_id: str) -> bytes:
    return json.dumps(
        {"originalTransactionId": original_transaction_id, "bundleId": bundle_id}, separators=(",", ":")
    ).encode()


# --- V2 ------------------------------------------------------------------------------------------


async def test_a_repeated_v2_notification_is_stored_and_queued_once(open_service: OpenService) -> None:
    """Apple redelivers until it sees a 200: the retry is answered 200 and changes nothing."""
    service = await open_service()
    step = service.store.subscribe(bundle_id=BUNDLE, product_id=PRODUCT)
    body = service.v2(step)
    for _ in range(2):
        response = await service.post(body)
        assert (response.status_code, response.json()) == (200, OK)
    [event] = await service.events()
    assert event["subscriptionId"] == step.original_transaction_id
    assert event["eventType"] == "SUBSCRIBED"
    assert event["timestampAndType"].endswith("|SUBSCRIBED")
    assert await service.bodies(LIVE_QUEUE) == [_reference(step.original_transaction_id, BUNDLE)]
    assert await service.bodies(FEAST_QUEUE) == []


async def test_concurrent_deliveries_of_one_notification_store_it_once(open_service: OpenService) -> None:
    """Deliveries racing each other: one write wins, the others find it and answer 200 too."""
    service = await open_service()
    step = service.store.subscribe(bundle_id=BUNDLE, product_id=PRODUCT)
    body = service.v2(step)
    responses = await asyncio.gather(*(service.post(body) for _ in range(6)))
    assert [(r.status_code, r.json()) for r in responses] == [(200, OK)] * 6
    [event] = await service.events()
    assert event["subscriptionId"] == step.original_transaction_id
    assert await service.bodies(LIVE_QUEUE) == [_reference(step.original_transaction_id, BUNDLE)]


async def test_two_notifications_sharing_a_key_are_both_kept(open_service: OpenService) -> None:
    """Two different notifications (two UUIDs) of one subscription, type and millisecond: the
    second is kept under a key suffixed with its UUID, and its retry is still recognised."""
    service = await open_service()
    step = service.store.subscribe(bundle_id=BUNDLE, product_id=PRODUCT)
    signed_date = service.store.now_ms()
    emulated = service.v2(step)  # only for its nested signed items
    first, second = (
        {
            "signedPayload": service.signer.sign(
                notification_payload(
                    notification_type="SUBSCRIBED",
                    subtype="INITIAL_BUY",
                    bundle_id=BUNDLE,
                    environment="Sandbox",
                    signed_date=signed_date,
                    signed_transaction_info=_nested(emulated, "signedTransactionInfo"),
                    signed_renewal_info=_nested(emulated, "signedRenewalInfo"),
                    notification_uuid=uuid,
                )
            )
        }
        for uuid in ("11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222")
    )
    for body in (first, second, second, first):
        response = await service.post(body)
        assert (response.status_code, response.json()) == (200, OK)
    events = sorted(await service.events(), key=lambda e: e["timestampAndType"])
    assert [e["notificationUUID"] for e in events] == [
        "11111111-1111-4111-8111-111111111111",
        "22222222-2222-4222-8222-222222222222",
    ]
    assert (
        events[1]["timestampAndType"]
        == f"{events[0]['timestampAndType']}|22222222-2222-4222-8222-222222222222"
    )
    assert await service.bodies(LIVE_QUEUE) == [_reference(step.original_transaction_id, BUNDLE)] * 2


def _nested(body: dict[str, Any], name: str) -> str:
    """A nested signed item of a V2 body (decoded without verification: it is our own)."""
    segment = body["signedPayload"].split(".")[1]
    payload = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    value: str = payload["data"][name]
    return value


async def test_a_test_notification_is_recorded_under_its_uuid_and_nothing_is_queued(
    open_service: OpenService,
) -> None:
    """``TEST`` (App Store Connect's "Request a Test Notification") has no transaction: it is
    recorded, so that an operator can see it arrived, and there is nothing to fetch."""
    service = await open_service()
    uuid = "5d1e0a7c-3b2f-4e6d-9c8b-7a6f5e4d3c2b"
    signed_date = 1767225600123  # 2026-01-01T00:00:00.123Z
    sent = notification_payload(
        notification_type="TEST",
        subtype=None,
        bundle_id=BUNDLE,
        environment="Sandbox",
        signed_date=signed_date,
        notification_uuid=uuid,
    )
    body = {"signedPayload": service.signer.sign(sent)}
    for _ in range(2):
        response = await service.post(body)
        assert (response.status_code, response.json()) == (200, OK)
    [event] = await service.events()
    assert event == {
        **event,
        "subscriptionId": uuid,
        "timestampAndType": "2026-01-01T00:00:00.123Z|TEST",
        "date": "2026-01-01",
        "timestamp": "2026-01-01T00:00:00.123Z",
        "eventType": "TEST",
        "platform": "ios",
        "appId": BUNDLE,
        "freeTrial": False,
        "googlePayload": None,
        "applePayload": sent,
        "product_id": "",
        "extra": "",
        "notificationUUID": uuid,
    }
    assert "subtype" not in event
    assert await service.bodies(LIVE_QUEUE) == []
    assert await service.bodies(FEAST_QUEUE) == []


async def test_a_v2_feast_notification_is_queued_for_the_feast_consumer(open_service: OpenService) -> None:
    service = await open_service()
    step = service.store.subscribe(bundle_id=FEAST_BUNDLE, product_id=FEAST_PRODUCT)
    response = await service.post(service.v2(step), "/feast/apple/pubsub")
    assert (response.status_code, response.json()) == (200, OK)
    [event] = await service.events()
    assert (event["platform"], event["appId"], event["product_id"]) == (
        "ios-feast",
        FEAST_BUNDLE,
        FEAST_PRODUCT,
    )
    assert await service.bodies(FEAST_QUEUE) == [_reference(step.original_transaction_id, FEAST_BUNDLE)]
    assert await service.bodies(LIVE_QUEUE) == []


@pytest.mark.parametrize("secret", [None, "wrong"], ids=["no-secret", "wrong-secret"])
async def test_v2_is_authenticated_by_its_signature_not_by_the_v1_secrets(
    open_service: OpenService, secret: str | None
) -> None:
    """The ``?secret=`` and the body ``password`` are V1's credentials (§3.1). Apple's V2
    notification URL carries no query secret, and the signature to Apple's root says more than a
    shared string could: with every V1 secret configured, a V2 notification is still accepted
    without them (test_apple_signed_data.py shows what an unsigned or mis-signed one gets)."""
    service = await open_service(
        apple_pubsub_secret=SPEC_SECRET,
        apple_shared_secret="live-shared",
        feast_apple_pubsub_secret=FEAST_SECRET,
        feast_apple_shared_secret="feast-shared",
    )
    live = service.store.subscribe(bundle_id=BUNDLE, product_id=PRODUCT)
    feast = service.store.subscribe(bundle_id=FEAST_BUNDLE, product_id=FEAST_PRODUCT)
    assert (await service.post(service.v2(live), secret=secret)).status_code == 200
    assert (await service.post(service.v2(feast), "/feast/apple/pubsub", secret=secret)).status_code == 200
    assert len(await service.events()) == 2
    assert await service.bodies(LIVE_QUEUE) == [_reference(live.original_transaction_id, BUNDLE)]
    assert await service.bodies(FEAST_QUEUE) == [_reference(feast.original_transaction_id, FEAST_BUNDLE)]


# --- V1 ------------------------------------------------------------------------------------------


def _stored_payload(body: dict[str, Any]) -> dict[str, Any]:
    """What ``applePayload`` holds for a V1 body: the parser's whitelisted copy (§3.2), with the
    ``Number("TEST")`` NaNs of the spec's fixture written as null, as ``JSON.stringify`` does."""
    parsed = parse_notification(copy.deepcopy(body))
    return {key: None if isinstance(v, float) and v != v else v for key, v in parsed.items()}


async def test_the_spec_v1_notification_is_stored_and_its_receipt_queued(open_service: OpenService) -> None:
    """§12.1 case 4: the all-``TEST`` notification, 200, the event matching the spec's subset and
    exactly ``{"receipt":"TEST"}`` on the queue, both there once the 200 is out."""
    service = await open_service(apple_pubsub_secret=SPEC_SECRET)
    body = apple_notification()
    response = await service.post(body, secret=SPEC_SECRET)
    assert (response.status_code, response.json()) == (200, OK)
    [event] = await service.events()
    assert {key: event[key] for key in ("subscriptionId", "eventType", "platform", "appId")} == {
        "subscriptionId": "TEST",
        "eventType": "INITIAL_BUY",
        "platform": "ios",
        "appId": "uk.co.guardian.iphone2",
    }
    assert event["freeTrial"] is True
    assert event["googlePayload"] is None
    assert event["timestampAndType"] == f"{event['timestamp']}|INITIAL_BUY"
    assert event["applePayload"] == _stored_payload(body)
    for field in ("bid", "environment", "notification_type", "auto_renew_status", "auto_renew_product_id"):
        assert event["applePayload"][field] == body[field]
    assert event["applePayload"]["unified_receipt"]["latest_receipt"] == "TEST"
    assert "password" not in event["applePayload"]  # not whitelisted: the shared secret is never stored
    assert (event["product_id"], event["purchase_date_ms"], event["expires_date_ms"]) == (
        "uk.co.guardian.gla.12months.2018Dec.withFreeTrial",
        None,
        None,
    )
    assert (event["promotional_offer_id"], event["promotional_offer_name"], event["extra"]) == (
        None,
        None,
        "",
    )
    assert await service.bodies(LIVE_QUEUE) == [b'{"receipt":"TEST"}']
    assert await service.bodies(FEAST_QUEUE) == []


async def test_the_feast_v1_notification_is_stored_and_queued_for_feast(open_service: OpenService) -> None:
    """§12.10 cases 1 and 3: 200, ``{"receipt":"TEST"}`` on the Feast queue, the parsed
    notification stored."""
    service = await open_service(feast_apple_pubsub_secret=FEAST_SECRET)
    body = apple_notification(bid=FEAST_BUNDLE, product_id=FEAST_PRODUCT)
    response = await service.post(body, "/feast/apple/pubsub", secret=FEAST_SECRET)
    assert (response.status_code, response.json()) == (200, OK)
    [event] = await service.events()
    assert (event["platform"], event["appId"], event["product_id"]) == (
        "ios-feast",
        FEAST_BUNDLE,
        FEAST_PRODUCT,
    )
    assert event["applePayload"] == _stored_payload(body)
    assert await service.bodies(FEAST_QUEUE) == [b'{"receipt":"TEST"}']
    assert await service.bodies(LIVE_QUEUE) == []


@pytest.mark.parametrize(
    "secret", [None, "", "wrong", SPEC_SECRET], ids=["none", "empty", "wrong", "live-secret"]
)
async def test_the_feast_route_refuses_a_v1_notification_without_its_secret(
    open_service: OpenService, secret: str | None
) -> None:
    """§12.10 case 2 (no query parameters -> 401), and the live secret does not open the Feast route."""
    service = await open_service(apple_pubsub_secret=SPEC_SECRET, feast_apple_pubsub_secret=FEAST_SECRET)
    body = apple_notification(bid=FEAST_BUNDLE, product_id=FEAST_PRODUCT)
    response = await service.post(body, "/feast/apple/pubsub", secret=secret)
    assert (response.status_code, response.json()["message"]) == (401, "UNAUTHORISED")
    await service.assert_nothing_stored()


@pytest.mark.parametrize("secret", [None, "wrong", "mysecret", FEAST_SECRET])
async def test_the_live_route_refuses_a_v1_notification_without_its_secret(
    open_service: OpenService, secret: str | None
) -> None:
    service = await open_service(apple_pubsub_secret=SPEC_SECRET, feast_apple_pubsub_secret=FEAST_SECRET)
    response = await service.post(apple_notification(), secret=secret)
    assert response.status_code == 401
    await service.assert_nothing_stored()


@pytest.mark.parametrize("path", ["/apple/pubsub", "/feast/apple/pubsub"])
async def test_a_json_string_is_not_a_notification(open_service: OpenService, path: str) -> None:
    """§12.2 case 2: the body ``"NOT_A_VALID_PAYLOAD"`` fails the parser -> 400."""
    service = await open_service(apple_pubsub_secret=SPEC_SECRET, feast_apple_pubsub_secret=FEAST_SECRET)
    secret = SPEC_SECRET if path == "/apple/pubsub" else FEAST_SECRET
    response = await service.post("NOT_A_VALID_PAYLOAD", path, secret=secret)
    assert response.status_code == 400
    assert response.json() == {
        "status": 400,
        "message": "INVALID_REQUEST",
        "detail": "invalid field: payload",
    }
    await service.assert_nothing_stored()


@pytest.mark.parametrize(
    "password",
    [None, "wrong", "", 12345, ["live-shared"], "LIVE-SHARED", "live-shared "],
    ids=["missing", "wrong", "empty", "number", "list", "case", "trailing-space"],
)
async def test_a_wrong_shared_secret_is_a_401(open_service: OpenService, password: object) -> None:
    """With ``SF_APPLE_SHARED_SECRET`` set, the body's ``password`` (Apple puts the app's shared
    secret there) must be exactly it, even when the query secret is right."""
    service = await open_service(apple_pubsub_secret=SPEC_SECRET, apple_shared_secret="live-shared")
    body = apple_notification()
    if password is None:
        del body["password"]
    else:
        body["password"] = password
    response = await service.post(body, secret=SPEC_SECRET)
    assert response.status_code == 401
    assert response.json()["detail"] == "the notification's password is not the App Store shared secret"
    await service.assert_nothing_stored()


async def test_the_right_shared_secret_is_accepted_and_not_stored(open_service: OpenService) -> None:
    service = await open_service(apple_pubsub_secret=SPEC_SECRET, apple_shared_secret="live-shared")
    body = {**apple_notification(), "password": "live-shared"}
    response = await service.post(body, secret=SPEC_SECRET)
    assert (response.status_code, response.json()) == (200, OK)
    [event] = await service.events()
    assert "password" not in event["applePayload"]
    assert "live-shared" not in json.dumps(event)
    assert await service.bodies(LIVE_QUEUE) == [b'{"receipt":"TEST"}']


async def test_each_route_checks_its_own_shared_secret(open_service: OpenService) -> None:
    """The Feast app has its own shared secret: the live one is refused on the Feast route."""
    service = await open_service(
        feast_apple_pubsub_secret=FEAST_SECRET,
        apple_shared_secret="live-shared",
        feast_apple_shared_secret="feast-shared",
    )
    body = apple_notification(bid=FEAST_BUNDLE, product_id=FEAST_PRODUCT)
    refused = await service.post(
        {**body, "password": "live-shared"}, "/feast/apple/pubsub", secret=FEAST_SECRET
    )
    assert refused.status_code == 401
    await service.assert_nothing_stored()
    accepted = await service.post(
        {**body, "password": "feast-shared"}, "/feast/apple/pubsub", secret=FEAST_SECRET
    )
    assert accepted.status_code == 200
    assert await service.bodies(FEAST_QUEUE) == [b'{"receipt":"TEST"}']


async def test_an_empty_latest_receipt_info_is_a_400(open_service: OpenService) -> None:
    """The parser allows an empty array, but there is then no most recent receipt to key the
    event by: upstream crashed with a 502 (§5.1, §13.1.2); here it is a 400 and nothing is kept."""
    service = await open_service(apple_pubsub_secret=SPEC_SECRET)
    body = apple_notification()
    body["unified_receipt"]["latest_receipt_info"] = []
    response = await service.post(body, secret=SPEC_SECRET)
    assert response.status_code == 400
    assert response.json()["detail"] == "latest_receipt_info is empty: no most recent receipt"
    await service.assert_nothing_stored()


@pytest.mark.parametrize(
    ("content", "detail"),
    [
        (b'{"environment": "Sandbox",', "the request body is not valid JSON"),
        (b"NOT_A_VALID_PAYLOAD", "the request body is not valid JSON"),
        (b"\xff\xfe", "the request body is not valid JSON"),
        (b"", "the request body is empty; a JSON document is expected"),
    ],
    ids=["truncated", "bare-word", "not-utf8", "empty"],
)
async def test_a_body_that_is_not_json_is_a_400(
    open_service: OpenService, content: bytes, detail: str
) -> None:
    service = await open_service(apple_pubsub_secret=SPEC_SECRET)
    response = await service.post_bytes(content, secret=SPEC_SECRET)
    assert response.status_code == 400
    assert response.json()["detail"].startswith(detail)
    await service.assert_nothing_stored()


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        (lambda body: body.pop("bid"), "missing field: bid"),
        (lambda body: body.update(notification_type=1), "invalid field: notification_type"),
        (lambda body: body["unified_receipt"].update(status="0"), "invalid field: status"),
        (
            lambda body: body["unified_receipt"]["latest_receipt_info"][0].pop("product_id"),
            "missing field: product_id",
        ),
        (
            lambda body: body["unified_receipt"]["pending_renewal_info"][0].update(auto_renew_status="true"),
            "invalid field: auto_renew_status",
        ),
    ],
    ids=["no-bid", "numeric-type", "string-status", "no-product", "bad-renew-status"],
)
async def test_the_strict_v1_parser_refuses_with_a_400(
    open_service: OpenService, change: Callable[[dict[str, Any]], object], detail: str
) -> None:
    service = await open_service(apple_pubsub_secret=SPEC_SECRET)
    body = apple_notification()
    change(body)
    response = await service.post(body, secret=SPEC_SECRET)
    assert (response.status_code, response.json()["detail"]) == (400, detail)
    await service.assert_nothing_stored()


async def test_a_v1_notification_from_the_emulator_keeps_its_numeric_dates(open_service: OpenService) -> None:
    """Only NaN becomes null: the millisecond dates of a real-looking notification stay numbers,
    and the queued receipt is the notification's ``latest_receipt``."""
    service = await open_service(apple_pubsub_secret=SPEC_SECRET)
    step = service.store.subscribe(bundle_id=BUNDLE, product_id=PRODUCT)
    body = notification_body(step, service.store, service.signer, version="v1")
    response = await service.post(body, secret=SPEC_SECRET)
    assert (response.status_code, response.json()) == (200, OK)
    [event] = await service.events()
    latest = service.store.get(step.original_transaction_id)["transactions"][-1]
    assert (event["subscriptionId"], event["eventType"]) == (step.original_transaction_id, "INITIAL_BUY")
    assert (event["purchase_date_ms"], event["expires_date_ms"]) == (
        latest["purchaseDate"],
        latest["expiresDate"],
    )
    assert event["applePayload"]["purchase_date_ms"] == latest["purchaseDate"]
    receipt = body["unified_receipt"]["latest_receipt"]
    assert await service.bodies(LIVE_QUEUE) == [
        json.dumps({"receipt": receipt}, separators=(",", ":")).encode()
    ]
