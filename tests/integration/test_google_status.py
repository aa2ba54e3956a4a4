"""``GET /google/subscription/{subscriptionId}/status`` through the ASGI app (spec §7.2, §12.16;
docs/compatibility.md, Google Play).

The stored Subscription row answers first, without calling Google (a recording stand-in for the
Play Developer API shows it is not called); without a row, the v1 API of the in-process Play
emulator answers, for purchases made in the emulator's state (beside the database, as
``google send-notification`` makes them). The emulator's purchases are made at a fixed time in
2030, so that none of them is old enough for Google's 410, and the service's clock is frozen a
few days later.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog

from supporterflow.adapters.clock import FrozenClock
from supporterflow.bootstrap import EMULATED_TOKEN_URI, Container, google_emulator_directory
from supporterflow.emulators.google.oauth import ServiceAccount
from supporterflow.emulators.google.push import PushSigner
from supporterflow.emulators.google.store import GooglePlayState
from supporterflow.entrypoints.http import create_app
from supporterflow.logs import configure_logging
from supporterflow.ports import GiveUp, Gone, Retry
from supporterflow.topology import TOPOLOGY
from tests.support import open_container, settings_for

PURCHASED_AT = datetime(2030, 1, 15, 10, 0, tzinfo=UTC)
NOW = "2030-01-20T00:00:00+00:00"
LIVE, LIVE_SKU = "com.guardian", "guardian.subscription.month.meteredoffer"
FEAST, FEAST_SKU = "uk.co.guardian.feast", "uk.co.guardian.feast.access"
A_MONTH_LATER = "2030-02-15T10:00:00.000Z"
TOKEN = "abcdefghijklmnopqrstuvwx.AO-J1Ostored-token"  # the shape of Google's tokens
UNKNOWN_TOKEN = "zyxwvutsrqponmlkjihgfedc.AO-J1Ounknown-token"


@dataclass
class RecordingPlay:
    """The Play Developer API as the status flow sees it: what it was asked, and one answer."""

    answer: dict[str, Any] | None = None
    error: Exception | None = None
    calls: list[tuple[str, str, str]] = field(default_factory=list)

    async def subscription_v1(
        self, package_name: str, subscription_id: str, purchase_token: str
    ) -> dict[str, Any] | None:
        self.calls.append((package_name, subscription_id, purchase_token))
        if self.error is not None:
            raise self.error
        return self.answer

    async def subscription_v2(self, package_name: str, purchase_token: str) -> dict[str, Any] | None:
        raise AssertionError("the status endpoint reads the v1 API")

    async def monetization_subscription(self, package_name: str, product_id: str) -> dict[str, Any] | None:
        raise AssertionError("the status endpoint reads the v1 API")


@dataclass
class Service:
    container: Container
    api: httpx.AsyncClient
    purchases: GooglePlayState

    async def status(self, sku: str, token: str | None, *, package_name: str | None = None) -> httpx.Response:
        headers = {}
        if token is not None:
            headers["Play-Purchase-Token"] = token
        if package_name is not None:
            headers["Package-Name"] = package_name
        return await self.api.get(f"/google/subscription/{sku}/status", headers=headers)

    async def store_row(self, token: str, end: str, **attributes: Any) -> None:
        row = {"subscriptionId": token, "endTimestamp": end, "platform": "android", **attributes}
        await self.container.tables["subscriptions"].put(row)


OpenService = Callable[..., Awaitable[Service]]


@pytest.fixture(scope="module")
def emulator_keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Play emulator's service account and push key, made once: each test's local profile
    starts from a copy instead of generating two RSA keys."""
    directory = tmp_path_factory.mktemp("google-emulator")
    ServiceAccount.load_or_create(directory, EMULATED_TOKEN_URI)
    PushSigner.load_or_create(directory)
    return directory


@pytest.fixture
async def open_service(tmp_path: Path, emulator_keys: Path) -> AsyncIterator[OpenService]:
    """``await open_service(google_play=fake)``: the API stand-in replaces the emulator's client."""
    async with AsyncExitStack() as stack:

        async def build(google_play: RecordingPlay | None = None) -> Service:
            shutil.copytree(
                emulator_keys, google_emulator_directory(settings_for(tmp_path)), dirs_exist_ok=True
            )
            container = open_container(tmp_path, TOPOLOGY, clock=FrozenClock(NOW))
            stack.push_async_callback(container.aclose)
            if google_play is not None:
                container.collaborators["google_play"] = google_play
            purchases = GooglePlayState(
                google_emulator_directory(container.settings) / "purchases.sqlite3",
                clock=lambda: PURCHASED_AT,
            )
            stack.callback(purchases.close)
            api = await stack.enter_async_context(
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=create_app(container)), base_url="http://sf"
                )
            )
            return Service(container, api, purchases)

        yield build


def lapsed(flag: bool, expiry: str) -> dict[str, Any]:
    return {"subscriptionHasLapsed": flag, "subscriptionExpiryDate": expiry}


async def test_the_purchase_token_header_is_required(open_service: OpenService) -> None:
    play = RecordingPlay()
    service = await open_service(play)
    for token in (None, ""):
        response = await service.status(LIVE_SKU, token)
        assert response.status_code == 400
        assert response.json() == {
            "status": 400,
            "message": "INVALID_REQUEST",
            "detail": "the Play-Purchase-Token header and the subscription id are required",
        }
    assert play.calls == []


async def test_a_stored_row_answers_without_calling_google(open_service: OpenService) -> None:
    """Spec §7.2 step 3: the row is trusted as it is (no SKU or package check, §13.3.8)."""
    play = RecordingPlay(error=AssertionError("Google must not be called"))
    service = await open_service(play)
    await service.store_row(TOKEN, A_MONTH_LATER)
    await service.store_row("ended-token", "2030-01-19T23:59:59.999Z")
    for sku in (LIVE_SKU, "another.sku"):
        response = await service.status(sku, TOKEN, package_name="some.other.package")
        assert (response.status_code, response.json()) == (200, lapsed(False, A_MONTH_LATER))
    response = await service.status(LIVE_SKU, "ended-token")
    assert (response.status_code, response.json()) == (200, lapsed(True, "2030-01-19T23:59:59.999Z"))
    assert play.calls == []


async def test_a_row_without_a_readable_end_falls_back_to_google(open_service: OpenService) -> None:
    play = RecordingPlay(answer={"expiryTimeMillis": "1894269600000"})  # 2030-01-10T10:00:00.000Z
    service = await open_service(play)
    await service.store_row(TOKEN, "not a date")
    response = await service.status(LIVE_SKU, TOKEN)
    assert (response.status_code, response.json()) == (200, lapsed(True, "2030-01-10T10:00:00.000Z"))
    assert play.calls == [(LIVE, LIVE_SKU, TOKEN)]


async def test_without_a_row_the_v1_api_answers(open_service: OpenService) -> None:
    service = await open_service()
    token = service.purchases.purchase(LIVE, LIVE_SKU).purchase_token
    assert token is not None
    response = await service.status(LIVE_SKU, token)
    assert (response.status_code, response.json()) == (200, lapsed(False, A_MONTH_LATER))
    assert await service.container.tables["subscriptions"].get({"subscriptionId": token}) is None


async def test_an_expired_purchase_has_lapsed(open_service: OpenService) -> None:
    service = await open_service()
    token = service.purchases.purchase(LIVE, LIVE_SKU).purchase_token
    assert token is not None
    service.purchases.expire(token)  # the period ends "now", PURCHASED_AT
    response = await service.status(LIVE_SKU, token)
    assert (response.status_code, response.json()) == (200, lapsed(True, "2030-01-15T10:00:00.000Z"))


async def test_a_purchase_google_no_longer_knows_is_a_404(open_service: OpenService) -> None:
    """Google's 410 (expired too long ago) -> 404, as upstream; an unknown token too."""
    service = await open_service()
    token = service.purchases.purchase(LIVE, LIVE_SKU).purchase_token
    assert token is not None
    service.purchases.mark_gone(token)
    gone = await service.status(LIVE_SKU, token)
    assert (gone.status_code, gone.json()) == (
        404,
        {
            "status": 404,
            "message": "NOT_FOUND",
            "detail": "Google no longer knows this purchase (expired too long ago)",
        },
    )
    unknown = await service.status(LIVE_SKU, UNKNOWN_TOKEN)
    assert (unknown.status_code, unknown.json()) == (404, {"status": 404, "message": "NOT_FOUND"})


async def test_a_token_google_refuses_is_a_400(open_service: OpenService) -> None:
    """Google's 400 "Invalid Value" (a malformed token, or a SKU not the purchase's): upstream
    answered 500; it is the caller's input, so 400 here."""
    service = await open_service()
    token = service.purchases.purchase(LIVE, LIVE_SKU).purchase_token
    assert token is not None
    for sku, purchase_token in ((LIVE_SKU, "not a token!"), ("guardian.annual.114.99", token)):
        response = await service.status(sku, purchase_token)
        assert (response.status_code, response.json()) == (
            400,
            {"status": 400, "message": "INVALID_REQUEST", "detail": "Invalid token value"},
        ), sku


async def test_the_package_name_header_is_honoured(open_service: OpenService) -> None:
    """``Package-Name`` names the app (default ``com.guardian``): a Feast purchase is found with
    its package, and Google refuses it under the default one."""
    service = await open_service()
    token = service.purchases.purchase(FEAST, FEAST_SKU).purchase_token
    assert token is not None
    found = await service.status(FEAST_SKU, token, package_name=FEAST)
    assert (found.status_code, found.json()) == (200, lapsed(False, A_MONTH_LATER))
    refused = await service.status(FEAST_SKU, token)
    assert refused.status_code == 400
    assert refused.json()["detail"].endswith("HTTP 400: The purchase token does not match the package name.")


async def test_the_api_is_asked_with_the_default_or_given_package(open_service: OpenService) -> None:
    play = RecordingPlay(answer={"expiryTimeMillis": "1897207200000"})  # 2030-02-13T10:00:00.000Z
    service = await open_service(play)
    assert (await service.status(LIVE_SKU, TOKEN)).json() == lapsed(False, "2030-02-13T10:00:00.000Z")
    assert (await service.status(FEAST_SKU, TOKEN, package_name=FEAST)).status_code == 200
    assert play.calls == [(LIVE, LIVE_SKU, TOKEN), (FEAST, FEAST_SKU, TOKEN)]


ANSWERS: dict[str, tuple[dict[str, Any] | None, Exception | None, int, str | None]] = {
    # what the API stand-in answers or raises, the status and the start of the detail
    "unavailable": (
        None,
        Retry("google-play purchases.subscriptions.get: HTTP 503"),
        503,
        "Google did not answer: ",
    ),
    "gone": (None, Gone("410"), 404, "Google no longer knows this purchase"),
    "refused": (
        None,
        GiveUp("google-play purchases.subscriptions.get: HTTP 403: denied"),
        400,
        "google-play",
    ),
    "not-found": (None, None, 404, None),
    "unreadable-expiry": ({"expiryTimeMillis": "soon"}, None, 404, None),
    "numeric-expiry": ({"expiryTimeMillis": 1897207200000}, None, 404, None),  # not Google's string
    "no-expiry": ({}, None, 404, None),
}


async def test_what_google_answers_decides_the_status(open_service: OpenService) -> None:
    """Google unavailable -> 503 (upstream: 500); no usable expiry -> 404 (spec §7.2 step 4)."""
    play = RecordingPlay()
    service = await open_service(play)
    for case, (answer, error, status, detail) in ANSWERS.items():
        play.answer, play.error = answer, error
        response = await service.status(LIVE_SKU, TOKEN)
        assert response.status_code == status, case
        if detail is None:
            assert "detail" not in response.json(), case
        else:
            assert response.json()["detail"].startswith(detail), case
    assert len(play.calls) == len(ANSWERS)


@pytest.fixture
def service_logs(capsys: pytest.CaptureFixture[str]) -> Iterator[Callable[[], str]]:
    """The service's log output as configured in production (JSON, debug level), restored after."""
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure_logging("debug", "json")

    def read() -> str:
        captured = capsys.readouterr()
        return captured.err + captured.out

    yield read
    structlog.configure(**saved)
    root.handlers[:] = handlers
    root.setLevel(level)


async def test_the_purchase_token_is_only_logged_as_its_hash(
    open_service: OpenService, service_logs: Callable[[], str]
) -> None:
    service = await open_service()
    token = service.purchases.purchase(LIVE, LIVE_SKU).purchase_token
    assert token is not None
    service_logs()  # what came before the requests
    assert (await service.status(LIVE_SKU, token)).status_code == 200
    assert (await service.status(LIVE_SKU, UNKNOWN_TOKEN)).status_code == 404
    logged = service_logs()
    lines = [json.loads(line) for line in logged.splitlines() if line.startswith("{")]
    hashes = [line["purchase_token_sha256"] for line in lines if "purchase_token_sha256" in line]
    assert hashes == [hashlib.sha256(t.encode()).hexdigest() for t in (token, UNKNOWN_TOKEN)]
    for secret in (token, UNKNOWN_TOKEN, token[:24]):
        assert secret not in logged
