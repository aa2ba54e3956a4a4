"""Feast acquisition events (spec §10.3, §10.4, §13.1.9, §13.1.10): the router on user-subscription
INSERTs built by hand, the Apple and Google consumers with fakes of the stores, the Acquisition API
adapter against stand-ins and the emulator, and the whole pipeline in process: a store fetch links
a user, the link's INSERT makes one event in the emulated Acquisition API; an outage is retried, a
refusal waits in the DLQ and is replayed, a link before its subscription is not dropped."""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
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

from supporterflow.adapters.acquisition_api import HttpAcquisitionApi, split_endpoint
from supporterflow.adapters.clock import FrozenClock
from supporterflow.adapters.outbound import AsgiTransport
from supporterflow.bootstrap import Container, apple_emulator_directory, google_emulator_directory
from supporterflow.declare import Topology
from supporterflow.domain.subscriptions.apple_v2 import AppStoreSubscription, SignedNotification
from supporterflow.domain.subscriptions.dates import to_iso
from supporterflow.emulators.acquisition_api import AcquisitionApiState, create_acquisition_api_app
from supporterflow.emulators.apple.store import AppleStoreState
from supporterflow.emulators.google.store import GooglePlayState
from supporterflow.functions.apple_update import feast_apple_update
from supporterflow.functions.feast_acquisitions import (
    feast_acquisition_router,
    feast_apple_acquisition,
    feast_google_acquisition,
)
from supporterflow.functions.google_update import feast_google_update
from supporterflow.ports import AcquisitionApi, ChangeEvent, ChangeRecord, GiveUp, Gone, Retry
from supporterflow.runtime.process import Runtime
from supporterflow.topology import TOPOLOGY
from tests.support import Flaky, drive, open_container

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
OTID = "2000000123456789"
TOKEN = "feast-purchase-token"
START = "2026-02-14T09:30:00.000Z"
FEAST_BUNDLE = "uk.co.guardian.Feast"
FEAST_PACKAGE = "uk.co.guardian.feast"
FEAST_PRODUCT = "uk.co.guardian.feast.access"

APPLE_QUEUE = "feast-apple-acquisition-events-queue"
GOOGLE_QUEUE = "feast-google-acquisition-events-queue"

#: Spec §10.4 as the original's ``JSON.stringify`` wrote it, for the Apple fixture below.
SPEC_10_4 = (
    b'{"eventTimeStamp":"2026-02-14T09:30:00.000Z","product":"FEAST_APP","country":"GB",'
    b'"currency":"GBP","abTests":[],"paymentFrequency":"MONTHLY","labels":[],'
    b'"reusedExistingPaymentMethod":false,"readerType":"Direct","acquisitionType":"PURCHASE",'
    b'"paymentId":"2000000123456789","queryParameters":[]}'
)


# --------------------------------------------------------------------------------------------------
# The service's declarations, with only the Feast fetches and the acquisition flow running

ROUTER = next(s for s in TOPOLOGY.streams if s.handler is feast_acquisition_router)
RETRY_QUEUE = ROUTER.retry_queue.name


def acquisitions_topology(base: Topology) -> Topology:
    """``base`` with only the Feast fetches and the acquisition flow running, at test speed:
    other flows' subscribers stay out of these tests."""
    running = {feast_apple_update, feast_google_update, feast_apple_acquisition, feast_google_acquisition}
    consumers = tuple(c for c in base.consumers if c.handler in running)
    streams = tuple(s for s in base.streams if s.handler is feast_acquisition_router)
    return Topology(
        tables=base.tables,
        queues=base.queues,
        consumers=tuple(dataclasses.replace(c, backoff_base_s=0.01, backoff_max_s=0.05) for c in consumers),
        streams=tuple(
            dataclasses.replace(s, max_attempts=2, backoff_base_s=0.01, backoff_max_s=0.02) for s in streams
        ),
    )


ACQUISITIONS = acquisitions_topology(TOPOLOGY)


# --------------------------------------------------------------------------------------------------
# Fakes of the ports

Answer = Any


def _give(answer: Answer) -> Any:
    if isinstance(answer, Exception):
        raise answer
    return copy.deepcopy(answer)


@dataclass
class FakeAppStore:
    """The App Store Server API answering (or raising) ``answer``, recording calls."""

    answer: Answer = None
    bundle_ids: tuple[str, ...] = (FEAST_BUNDLE,)
    calls: list[tuple[str, str]] = field(default_factory=list)

    def verify_notification(self, signed_payload: str) -> SignedNotification:
        raise AssertionError("the acquisition flow verifies no notification")

    async def subscription(self, original_transaction_id: str, bundle_id: str) -> AppStoreSubscription | None:
        self.calls.append((original_transaction_id, bundle_id))
        answer: AppStoreSubscription | None = _give(self.answer)
        return answer


@dataclass
class FakeGooglePlay:
    """The Play Developer API's v2 answering (or raising) ``v2``; the rest is not asked."""

    v2: Answer = None
    calls: list[tuple[str, str]] = field(default_factory=list)

    async def subscription_v1(self, package_name: str, subscription_id: str, purchase_token: str) -> None:
        raise AssertionError("the acquisition flow does not ask v1")

    async def subscription_v2(self, package_name: str, purchase_token: str) -> dict[str, Any] | None:
        self.calls.append((package_name, purchase_token))
        answer: dict[str, Any] | None = _give(self.v2)
        return answer

    async def monetization_subscription(self, package_name: str, product_id: str) -> None:
        raise AssertionError("the acquisition flow does not ask for the product")


@dataclass
class RecordingAcquisitionApi:
    """Keeps every event sent; raises ``failure`` instead when set."""

    sent: list[Mapping[str, Any]] = field(default_factory=list)
    failure: Exception | None = None

    async def send(self, payload: Mapping[str, Any]) -> None:
        if self.failure is not None:
            raise self.failure
        self.sent.append(payload)


class FakeIdentityLookup:
    def __init__(self, identities: Mapping[str, str]) -> None:
        self._identities = identities

    async def identity_id(self, external_id: str) -> str | None:
        return self._identities.get(external_id)


# --------------------------------------------------------------------------------------------------
# Rows, records, answers


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
        "freeTrial": False,
        "billingPeriod": "P1M",
        "googlePayload": None,
        "receipt": "cmVjZWlwdA==",
        "applePayload": {"status": 0},
        "ttl": 1852000000,
    }
    row.update(changes)
    return row


def google_row(**changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "subscriptionId": TOKEN,
        "startTimestamp": START,
        "endTimestamp": "2027-02-14T09:30:00.000Z",
        "autoRenewing": True,
        "productId": FEAST_PRODUCT,
        "platform": "android-feast",
        "googlePayload": {"rawResponse": {"regionCode": "DE"}},
        "applePayload": None,
    }
    row.update(changes)
    return row


def state(**transaction: Any) -> AppStoreSubscription:
    signed = {
        "transactionId": "2000000987654321",
        "originalTransactionId": OTID,
        "bundleId": FEAST_BUNDLE,
        "productId": "uk.co.guardian.Feast.monthly",
        "originalPurchaseDate": 1771061400000,
        "storefront": "GBR",
        "currency": "GBP",
        **transaction,
    }
    return AppStoreSubscription(
        status=1, transaction=signed, renewal=None, environment="Production", bundle_id=FEAST_BUNDLE
    )


def v2_body(base_plan: str = "feast-monthly", **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "regionCode": "DE",
        "startTime": "2026-02-14T09:30:00.000Z",
        "lineItems": [{"productId": FEAST_PRODUCT, "offerDetails": {"basePlanId": base_plan}}],
    }
    body.update(changes)
    return body


def link(subscription_id: str, event: ChangeEvent = "INSERT", *, image: bool = True) -> ChangeRecord:
    """A user-subscriptions change record as the stream delivers it."""
    keys = {"userId": "100001", "subscriptionId": subscription_id}
    new = {**keys, "creationTimestamp": "2026-03-01T11:59:00.000Z"} if image else None
    return ChangeRecord(
        sequence=1,
        table="user-subscriptions",
        event_name=event,
        keys=keys,
        old_image=None,
        new_image=new,
        principal=None,
        committed_at=NOW,
    )


@pytest.fixture
async def container(tmp_path: Path) -> AsyncIterator[Container]:
    """Real tables and queues, a frozen clock, no emulators: each test gives its fakes."""
    opened = open_container(tmp_path, ACQUISITIONS, FrozenClock(NOW), emulators="off")
    yield opened
    await opened.aclose()


async def bodies(container: Container, queue: str) -> list[bytes]:
    return [m.body for m in (await container.queues[queue].list()).messages]


async def route(container: Container, record: ChangeRecord) -> None:
    await container.inject(feast_acquisition_router, leading=1)(record)


async def consume(
    container: Container, handler: Callable[..., Awaitable[None]], body: bytes, **fakes: Any
) -> None:
    container.collaborators.update(fakes)
    await container.inject(handler, leading=1)(body)


# --------------------------------------------------------------------------------------------------
# The router (spec §10.3, §13.1.9)


async def test_an_apple_link_queues_the_whole_row_with_the_table_name(container: Container) -> None:
    await container.tables["subscriptions"].put(apple_row())
    await route(container, link(OTID))
    assert await bodies(container, APPLE_QUEUE) == [
        b'{"subscriptionId":"2000000123456789","startTimestamp":"2026-02-14T09:30:00.000Z",'
        b'"endTimestamp":"2026-03-14T09:30:00.000Z","autoRenewing":true,'
        b'"productId":"uk.co.guardian.Feast.monthly","platform":"ios-feast","freeTrial":false,'
        b'"billingPeriod":"P1M","googlePayload":null,"receipt":"cmVjZWlwdA==",'
        b'"applePayload":{"status":0},"ttl":1852000000,"tableName":"subscriptions"}'
    ]
    assert await bodies(container, GOOGLE_QUEUE) == []


async def test_a_google_link_goes_to_the_google_queue(container: Container) -> None:
    await container.tables["subscriptions"].put(google_row())
    await route(container, link(TOKEN))
    assert await bodies(container, GOOGLE_QUEUE) == [compact({**google_row(), "tableName": "subscriptions"})]
    assert await bodies(container, APPLE_QUEUE) == []


@pytest.mark.parametrize(
    "row",
    [
        apple_row(platform="ios"),
        apple_row(platform="ios-puzzles"),
        google_row(platform="android"),
        {k: v for k, v in apple_row().items() if k != "platform"},
        apple_row(endTimestamp="2026-01-30T11:59:59.999Z"),  # ended more than 30 days before NOW
    ],
    ids=["live", "puzzles", "android", "no-platform", "inactive"],
)
async def test_other_apps_and_inactive_subscriptions_make_no_event(
    container: Container, row: dict[str, Any]
) -> None:
    await container.tables["subscriptions"].put(row)
    await route(container, link(row["subscriptionId"]))
    assert await bodies(container, APPLE_QUEUE) + await bodies(container, GOOGLE_QUEUE) == []


async def test_a_subscription_ended_exactly_30_days_ago_is_still_active(container: Container) -> None:
    await container.tables["subscriptions"].put(apple_row(endTimestamp="2026-01-30T12:00:00.000Z"))
    await route(container, link(OTID))
    assert len(await bodies(container, APPLE_QUEUE)) == 1


async def test_a_link_whose_subscription_is_not_stored_yet_is_retried_not_dropped(
    container: Container,
) -> None:
    with pytest.raises(Retry, match=f"^subscription {OTID} is not stored yet$"):
        await route(container, link(OTID))
    assert await bodies(container, APPLE_QUEUE) == []


@pytest.mark.parametrize("event", ["MODIFY", "REMOVE"])
async def test_only_inserts_make_events(container: Container, event: ChangeEvent) -> None:
    await container.tables["subscriptions"].put(apple_row())
    await route(container, link(OTID, event))
    assert await bodies(container, APPLE_QUEUE) == []


async def test_a_record_naming_no_subscription_is_given_up(container: Container) -> None:
    record = dataclasses.replace(link(""), keys={"userId": "100001"})
    with pytest.raises(GiveUp, match="without a subscriptionId"):
        await route(container, record)


async def test_a_record_without_image_is_routed_by_its_keys(container: Container) -> None:
    await container.tables["subscriptions"].put(apple_row())
    await route(container, link(OTID, image=False))
    assert len(await bodies(container, APPLE_QUEUE)) == 1


# --------------------------------------------------------------------------------------------------
# The consumers, with fakes of the stores


def queued(row: dict[str, Any]) -> bytes:
    return compact({**row, "tableName": "subscriptions"})


async def test_the_apple_event_is_built_from_the_verified_transaction(container: Container) -> None:
    app_store, api = FakeAppStore(state()), RecordingAcquisitionApi()
    await consume(
        container, feast_apple_acquisition, queued(apple_row()), app_store=app_store, acquisition_api=api
    )
    assert app_store.calls == [(OTID, FEAST_BUNDLE)]
    assert [compact(payload) for payload in api.sent] == [SPEC_10_4]


async def test_a_v2_row_without_receipt_makes_an_event_too(container: Container) -> None:
    row = {k: v for k, v in apple_row().items() if k != "receipt"}
    api = RecordingAcquisitionApi()
    await consume(
        container, feast_apple_acquisition, queued(row), app_store=FakeAppStore(state()), acquisition_api=api
    )
    assert len(api.sent) == 1


@pytest.mark.parametrize(
    ("app_store", "outcome", "reason"),
    [
        (None, Retry, "the App Store Server API is not configured"),
        (FakeAppStore(None), GiveUp, f"the App Store does not know subscription {OTID} of {FEAST_BUNDLE}"),
        (FakeAppStore(Retry("Apple is down")), Retry, "Apple is down"),
        (
            FakeAppStore(state(storefront="ZZZ")),
            GiveUp,
            f"subscription {OTID}: storefront 'ZZZ' is no known country",
        ),
        (
            FakeAppStore(state(productId="uk.co.guardian.Feast.weekly")),
            GiveUp,
            "product 'uk.co.guardian.Feast.weekly' has no known payment frequency",
        ),
    ],
)
async def test_what_each_apple_failure_tells_the_runtime(
    container: Container, app_store: FakeAppStore | None, outcome: type[Exception], reason: str
) -> None:
    api = RecordingAcquisitionApi()
    with pytest.raises(outcome, match=reason):
        await consume(
            container, feast_apple_acquisition, queued(apple_row()), app_store=app_store, acquisition_api=api
        )
    assert api.sent == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [(b"{not json", "the message is not JSON"), (b'{"receipt": "x"}', "not a Subscription row")],
)
async def test_a_message_that_is_no_subscription_is_given_up(
    container: Container, body: bytes, reason: str
) -> None:
    with pytest.raises(GiveUp, match=reason):
        await consume(
            container,
            feast_apple_acquisition,
            body,
            app_store=FakeAppStore(state()),
            acquisition_api=RecordingAcquisitionApi(),
        )


async def test_a_failed_post_fails_the_message(container: Container) -> None:
    api = RecordingAcquisitionApi(failure=Retry("acquisition-api acquisition: HTTP 503"))
    with pytest.raises(Retry, match="HTTP 503"):
        await consume(
            container,
            feast_apple_acquisition,
            queued(apple_row()),
            app_store=FakeAppStore(state()),
            acquisition_api=api,
        )


async def test_the_google_event_is_built_from_the_v2_answer(container: Container) -> None:
    google_play, api = FakeGooglePlay(v2_body()), RecordingAcquisitionApi()
    await consume(
        container,
        feast_google_acquisition,
        queued(google_row()),
        google_play=google_play,
        acquisition_api=api,
    )
    assert google_play.calls == [(FEAST_PACKAGE, TOKEN)]
    assert [compact(payload) for payload in api.sent] == [
        b'{"eventTimeStamp":"2026-02-14T09:30:00.000Z","product":"FEAST_APP","country":"DE",'
        b'"currency":"EUR","abTests":[],"paymentFrequency":"MONTHLY","labels":[],'
        b'"reusedExistingPaymentMethod":false,"readerType":"Direct","acquisitionType":"PURCHASE",'
        b'"paymentId":"feast-purchase-token","queryParameters":[]}'
    ]


@pytest.mark.parametrize(
    ("v2", "outcome", "reason"),
    [
        (None, GiveUp, r"Google does not know this purchase \(HTTP 404\)"),
        (Gone(), GiveUp, r"Google no longer answers for this purchase \(HTTP 410\)"),
        (Retry("Google is down"), Retry, "Google is down"),
        (v2_body(regionCode="AQ"), GiveUp, "no currency is known for country 'AQ'"),
        (v2_body("feast-weekly"), GiveUp, "base plan 'feast-weekly' has no known payment frequency"),
    ],
)
async def test_what_each_google_failure_tells_the_runtime(
    container: Container, v2: Answer, outcome: type[Exception], reason: str
) -> None:
    api = RecordingAcquisitionApi()
    with pytest.raises(outcome, match=reason):
        await consume(
            container,
            feast_google_acquisition,
            queued(google_row()),
            google_play=FakeGooglePlay(v2),
            acquisition_api=api,
        )
    assert api.sent == []


# --------------------------------------------------------------------------------------------------
# The Acquisition API adapter (spec §10.4, §13.1.10)


@dataclass
class StandIn:
    """An Acquisition API answering ``status`` with ``body`` (and headers), keeping each request."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    seen: list[tuple[str, str, str | None, bytes]] = field(default_factory=list)

    def app(self) -> Starlette:
        async def answer(request: Request) -> Response:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            self.seen.append(
                (request.method, target, request.headers.get("content-type"), await request.body())
            )
            return Response(self.body, status_code=self.status, headers=self.headers)

        return Starlette(routes=[Route("/{path:path}", answer, methods=["POST"])])


async def send_to(stand_in: StandIn, payload: Mapping[str, Any], path: str = "/") -> None:
    transport = AsgiTransport(stand_in.app(), "acquisition-api")
    try:
        await HttpAcquisitionApi(transport, path).send(payload)
    finally:
        await transport.aclose()


SPEC_PAYLOAD: dict[str, Any] = json.loads(SPEC_10_4)


async def test_the_post_is_the_compact_event_as_json_to_the_url_s_path_and_query() -> None:
    stand_in = StandIn()
    await send_to(stand_in, SPEC_PAYLOAD, "/prod/acquisition?client=feast")
    assert stand_in.seen == [("POST", "/prod/acquisition?client=feast", "application/json", SPEC_10_4)]


@pytest.mark.parametrize("status", [200, 201, 202, 204])
async def test_a_2xx_is_recorded(status: int) -> None:
    await send_to(StandIn(status), SPEC_PAYLOAD)


@pytest.mark.parametrize(("status", "after_s"), [(429, 7.0), (500, None), (502, None), (503, 7.0)])
async def test_a_429_or_5xx_is_retried(status: int, after_s: float | None) -> None:
    headers = {"Retry-After": "7"} if after_s else {}
    with pytest.raises(Retry, match=f"^acquisition-api acquisition: HTTP {status}$") as raised:
        await send_to(StandIn(status, headers=headers), SPEC_PAYLOAD)
    assert raised.value.after_s == after_s


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (
            400,
            b'{"message": "country is required; currency is required",'
            b' "errors": ["country is required", "currency is required"]}',
            "(HTTP 400): country is required; currency is required",
        ),
        (
            400,
            b'{"message": "Bad Request", "errors": ["product must be one of ..."]}',
            "(HTTP 400): Bad Request: product must be one of ...",
        ),
        (
            400,
            b"DecodingFailure at .paymentFrequency:\n  Missing required field",
            "(HTTP 400): DecodingFailure at .paymentFrequency: Missing required field",
        ),
        (403, b'{"message": "Forbidden"}', "(HTTP 403): Forbidden"),
        (404, b"", "(HTTP 404): no message"),
        (301, b"Moved", "(HTTP 301): Moved"),
    ],
)
async def test_any_other_answer_is_given_up_with_the_api_s_message(
    status: int, body: bytes, reason: str
) -> None:
    with pytest.raises(GiveUp) as raised:
        await send_to(StandIn(status, body), SPEC_PAYLOAD)
    assert str(raised.value) == f"the Acquisition API refused the event {reason}"


async def test_a_long_refusal_is_cut_short() -> None:
    with pytest.raises(GiveUp) as raised:
        await send_to(StandIn(400, b"x" * 5000), SPEC_PAYLOAD)
    assert str(raised.value) == "the Acquisition API refused the event (HTTP 400): " + "x" * 500


async def test_no_answer_is_retried() -> None:
    flaky = Flaky(AsgiTransport(StandIn().app(), "acquisition-api"), failures=1)
    api: AcquisitionApi = HttpAcquisitionApi(flaky)
    with pytest.raises(Retry, match=r"^acquisition-api acquisition: timed out$"):
        await api.send(SPEC_PAYLOAD)
    await api.send(SPEC_PAYLOAD)
    await flaky.aclose()


@pytest.mark.parametrize(
    ("url", "split"),
    [
        (
            "https://acquisitions.example/prod/acquisition",
            ("https://acquisitions.example", "/prod/acquisition"),
        ),
        ("https://acquisitions.example", ("https://acquisitions.example", "/")),
        ("http://127.0.0.1:8090/?key=k", ("http://127.0.0.1:8090", "/?key=k")),
    ],
)
def test_the_url_is_an_origin_and_what_is_posted_to(url: str, split: tuple[str, str]) -> None:
    assert split_endpoint(url) == split


def test_a_relative_url_is_refused_without_echoing_it() -> None:
    with pytest.raises(ValueError, match=r"^SF_ACQUISITION_API_URL is not an absolute URL$"):
        split_endpoint("/acquisition?key=secret")


async def test_the_emulator_accepts_the_event_and_refuses_a_broken_one() -> None:
    events = AcquisitionApiState()
    transport = AsgiTransport(create_acquisition_api_app(events), "acquisition-api")
    api = HttpAcquisitionApi(transport)
    try:
        await api.send(SPEC_PAYLOAD)
        broken = {k: v for k, v in SPEC_PAYLOAD.items() if k not in ("country", "paymentFrequency")}
        with pytest.raises(GiveUp) as raised:
            await api.send(broken)
        assert events.acquisitions() == [SPEC_PAYLOAD]
    finally:
        await transport.aclose()
        events.close()
    assert str(raised.value) == (
        "the Acquisition API refused the event (HTTP 400): country is required; paymentFrequency is required"
    )


# --------------------------------------------------------------------------------------------------
# The pipeline in process


@dataclass
class Pipeline:
    container: Container
    clock: FrozenClock
    events: AcquisitionApiState
    control: httpx.AsyncClient

    async def run_until(self, condition: Callable[[], Awaitable[bool]]) -> None:
        """Run the runtime until ``condition``; the frozen clock moves a second per look, so
        messages put back for later become visible."""

        async def later() -> None:
            self.clock.advance(1)

        await drive(Runtime(self.container, http=False), condition, between=later)

    async def delivered(self, count: int = 1) -> bool:
        return len(self.events.acquisitions()) >= count

    async def fault(self, **fault: Any) -> None:
        response = await self.control.post("/__emulator/faults", json=fault)
        assert response.status_code == 201, response.text

    async def posts(self) -> list[int]:
        requests = (await self.control.get("/__emulator/requests")).json()["requests"]
        return [request["status"] for request in requests]


async def start(tmp_path: Path, *, emulators: str) -> tuple[Pipeline, Callable[[], Awaitable[None]]]:
    clock = FrozenClock(datetime.now(UTC).replace(microsecond=0))
    container = open_container(tmp_path, ACQUISITIONS, clock, emulators=emulators)
    events = AcquisitionApiState()
    app = create_acquisition_api_app(events)
    transport = AsgiTransport(app, "acquisition-api")
    container.transports.append(transport)
    container.collaborators["acquisition_api"] = HttpAcquisitionApi(transport, "/")
    container.collaborators["identity_lookup"] = FakeIdentityLookup({"account-1": "100001"})
    control = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://control")
    pipeline = Pipeline(container, clock, events, control)

    async def close() -> None:
        await control.aclose()
        events.close()
        await container.aclose()

    return pipeline, close


@pytest.fixture
async def emulated(tmp_path: Path) -> AsyncIterator[Pipeline]:
    """The local profile's App Store and Play emulators in process, and the Acquisition API's."""
    pipeline, close = await start(tmp_path, emulators="on")
    yield pipeline
    await close()


@pytest.fixture
async def faked(tmp_path: Path) -> AsyncIterator[Pipeline]:
    """The Acquisition API emulator, and a fake App Store answering for the Apple fixture."""
    pipeline, close = await start(tmp_path, emulators="off")
    pipeline.container.collaborators["app_store"] = FakeAppStore(state())
    now = pipeline.clock.now()
    await pipeline.container.tables["subscriptions"].put(
        apple_row(endTimestamp=to_iso(now + timedelta(days=30)))
    )
    yield pipeline
    await close()


def iso_ms(epoch_ms: int) -> str:
    return to_iso(datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=epoch_ms))


async def test_an_app_store_purchase_linked_by_its_fetch_makes_one_event(emulated: Pipeline) -> None:
    container = emulated.container
    store = AppleStoreState(apple_emulator_directory(container.settings) / "subscriptions.sqlite3")
    try:
        step = store.subscribe(
            bundle_id=FEAST_BUNDLE, product_id="uk.co.guardian.Feast.yearly", app_account_token="account-1"
        )
        otid = step.original_transaction_id
        started = iso_ms(store.get(otid)["originalPurchaseDate"])
    finally:
        store.close()
    reference = {"originalTransactionId": otid, "bundleId": FEAST_BUNDLE}
    await container.queues["feast-apple-subscriptions-to-fetch"].send(compact(reference))

    await emulated.run_until(emulated.delivered)

    assert emulated.events.acquisitions() == [
        {
            "eventTimeStamp": started,
            "product": "FEAST_APP",
            "country": "GB",
            "currency": "GBP",
            "abTests": [],
            "paymentFrequency": "ANNUALLY",
            "labels": [],
            "reusedExistingPaymentMethod": False,
            "readerType": "Direct",
            "acquisitionType": "PURCHASE",
            "paymentId": otid,
            "queryParameters": [],
        }
    ]
    links = (await container.tables["user-subscriptions"].scan()).items
    assert [(item["userId"], item["subscriptionId"]) for item in links] == [("100001", otid)]


async def test_a_play_purchase_linked_by_its_fetch_makes_one_event(emulated: Pipeline) -> None:
    container = emulated.container
    play = GooglePlayState(google_emulator_directory(container.settings) / "purchases.sqlite3")
    try:
        step = play.purchase(
            FEAST_PACKAGE, FEAST_PRODUCT, "feast-annual", obfuscated_external_account_id="account-1"
        )
        assert step.purchase_token is not None
        token = step.purchase_token
        started = iso_ms(play.get(token)["startTimeMs"])
    finally:
        play.close()
    reference = {"packageName": FEAST_PACKAGE, "purchaseToken": token, "subscriptionId": FEAST_PRODUCT}
    await container.queues["feast-google-subscriptions-to-fetch"].send(compact(reference))

    await emulated.run_until(emulated.delivered)

    assert emulated.events.acquisitions() == [
        {
            "eventTimeStamp": started,
            "product": "FEAST_APP",
            "country": "GB",
            "currency": "GBP",
            "abTests": [],
            "paymentFrequency": "ANNUALLY",
            "labels": [],
            "reusedExistingPaymentMethod": False,
            "readerType": "Direct",
            "acquisitionType": "PURCHASE",
            "paymentId": token,
            "queryParameters": [],
        }
    ]


async def test_an_acquisition_api_outage_is_retried_until_the_event_is_delivered(faked: Pipeline) -> None:
    await faked.fault(status=503, count=2)
    await faked.container.tables["user-subscriptions"].put({"userId": "100001", "subscriptionId": OTID})

    await faked.run_until(faked.delivered)

    assert [compact(event) for event in faked.events.acquisitions()] == [SPEC_10_4]
    assert await faked.posts() == [503, 503, 200]


async def test_a_refused_event_waits_in_the_dlq_with_the_reason_and_is_replayed(faked: Pipeline) -> None:
    container = faked.container
    await faked.fault(status=400, count=1, message="paymentFrequency is required")
    await container.tables["user-subscriptions"].put({"userId": "100001", "subscriptionId": OTID})
    dlq = container.dead_letter_queue(APPLE_QUEUE)

    async def dead_lettered() -> bool:
        return (await dlq.depth()).total == 1

    await faked.run_until(dead_lettered)
    [dead] = (await dlq.list()).messages
    assert (
        dead.reason
        == "GiveUp: the Acquisition API refused the event (HTTP 400): paymentFrequency is required"
    )
    assert faked.events.acquisitions() == []

    assert await dlq.replay() == 1
    await faked.run_until(faked.delivered)
    assert [compact(event) for event in faked.events.acquisitions()] == [SPEC_10_4]


async def test_a_link_written_before_its_subscription_is_delivered_once_it_is_stored(faked: Pipeline) -> None:
    container = faked.container
    row = await container.tables["subscriptions"].get({"subscriptionId": OTID})
    assert row is not None
    await container.tables["subscriptions"].delete({"subscriptionId": OTID})
    await container.tables["user-subscriptions"].put({"userId": "100001", "subscriptionId": OTID})
    retry = container.queues[RETRY_QUEUE]

    async def waiting_for_it() -> bool:
        return (await retry.depth()).total == 1

    await faked.run_until(waiting_for_it)
    assert faked.events.acquisitions() == []

    await container.tables["subscriptions"].put(row)
    await faked.run_until(faked.delivered)
    assert [compact(event) for event in faked.events.acquisitions()] == [SPEC_10_4]
    assert (await retry.depth()).total == 0
