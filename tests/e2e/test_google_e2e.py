"""The Google Play pipeline end to end: the real server (``supporterflow serve`` with
SF_EMULATORS=off) and the Google Play emulator (``supporterflow emulate google``) as two
processes on loopback ports, the server configured from the ``SF_GOOGLE_*`` settings the emulator
prints, as an operator would configure it against Google.

A live-app subscription (``com.guardian``) goes through its life cycle in the emulator, driven by
its control API: purchase, renewal, cancellation, restart, grace period, recovery, account hold,
recovery, an upgrade to the annual product (a new purchase token linked to the old one), and the
expiry of the new purchase. After each step the push Pub/Sub would deliver is POSTed to
``/google/pubsub`` with Google's OIDC token (one with the legacy ``?secret=`` only), the server's
fetch consumer asks the emulator's Play Developer API (v2, then v1, with a service-account access
token from the emulator's token endpoint), and the test waits until the stored Subscription row
says what the emulator now holds; ``/google/subscription/{sku}/status`` is then asked about it.

The test process opens the emulator's ``--state`` file and ``--cert-dir`` itself, as
``send-notification`` does, to build each push and sign its OIDC token.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest

from supporterflow.emulators.google.oauth import SERVICE_ACCOUNT_FILE
from supporterflow.emulators.google.push import PushSigner
from supporterflow.emulators.google.sender import USER_AGENT, notification_body
from supporterflow.emulators.google.store import GooglePlayState, Step
from tests.e2e.conftest import ROOT, Emulator, Server, ServerFactory, wait_for_row, wait_until

pytestmark = pytest.mark.slow

Auth = Literal["oidc", "secret", "none"]

PACKAGE = "com.guardian"
MONTHLY = "guardian.subscription.month.meteredoffer"  # the emulator's default catalogue: P1M
ANNUAL = "guardian.subscription.annual.meteroffer"  # P1Y
PUSH_AUDIENCE = "supporterflow-e2e-google-push"
PUBSUB_SECRET = "e2e-google-pubsub-secret"
FETCH_QUEUE = "google-subscriptions-to-fetch"
FETCH_TIMEOUT_S = 15.0
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SETTING = re.compile(r"^(SF_GOOGLE_[A-Z_]+)=(.*)$", re.MULTILINE)


def iso(ms: int) -> str:
    """``toISOString()`` of a millisecond timestamp, computed here rather than by the service."""
    moment = EPOCH + timedelta(milliseconds=ms)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def clean_environment() -> dict[str, str]:
    """This process's environment without any SF_ setting, and the repository importable."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith("SF_")}, "PYTHONPATH": str(ROOT)}


@dataclass
class GooglePlay:
    """The emulator process, the settings it printed, and the state file and keys it shares
    with this test."""

    emulator: Emulator
    cert_dir: Path
    state_file: Path
    state: GooglePlayState
    signer: PushSigner
    settings: dict[str, str]

    def purchase(self, product_id: str = MONTHLY) -> Step:
        response = httpx.post(
            f"{self.emulator.url}/__emulator/purchases",
            json={"packageName": PACKAGE, "productId": product_id},
            timeout=10,
        )
        assert response.status_code == 201, response.text
        return Step(**response.json()["step"])

    def act(self, token: str, action: str, options: dict[str, str] | None = None) -> Step:
        response = httpx.post(
            f"{self.emulator.url}/__emulator/purchases/{token}/{action}", json=options, timeout=10
        )
        assert response.status_code == 200, response.text
        return Step(**response.json()["step"])

    def mark_gone(self, token: str) -> None:
        response = httpx.post(f"{self.emulator.url}/__emulator/purchases/{token}/gone", timeout=10)
        assert response.status_code == 200, response.text
        assert response.json()["gone"] is True

    def purchase_record(self, token: str) -> dict[str, Any]:
        return self.state.get(token)

    def answered(self) -> list[dict[str, Any]]:
        """The emulator's request log (method, path, status, ...)."""
        requests: list[dict[str, Any]] = httpx.get(
            self.emulator.url + "/__emulator/requests", timeout=5
        ).json()["requests"]
        return requests


@pytest.fixture
def google_play(tmp_path: Path) -> Iterator[GooglePlay]:
    """The emulator with its state and keys under ``tmp_path``, and the settings it printed."""
    cert_dir, state_file = tmp_path / "google-keys", tmp_path / "play.sqlite3"
    emulator = Emulator("google", ["--state", str(state_file), "--cert-dir", str(cert_dir)], tmp_path)
    emulator.start()
    try:
        log = tmp_path / "google.log"
        wait_until(
            lambda: len(SETTING.findall(log.read_text(errors="replace"))) >= 5,
            10,
            "the SF_GOOGLE_ settings the emulator prints",
        )
        settings = dict(SETTING.findall(log.read_text(errors="replace")))
        assert settings["SF_GOOGLE_PLAY_API_URL"] == emulator.url
        assert settings["SF_GOOGLE_SERVICE_ACCOUNT_FILE"] == str(cert_dir / SERVICE_ACCOUNT_FILE)
        state = GooglePlayState(state_file)
        try:
            signer = PushSigner.load_or_create(cert_dir)
            assert settings["SF_GOOGLE_PUSH_SERVICE_ACCOUNT"] == signer.email
            yield GooglePlay(emulator, cert_dir, state_file, state, signer, settings)
        finally:
            state.close()
    finally:
        emulator.stop()


@dataclass
class Service:
    """The server process, and what this test reads of it."""

    server: Server
    play: GooglePlay

    def body(self, step: Step) -> dict[str, Any]:
        """The push of ``step``, under a new Pub/Sub message id."""
        return notification_body(step, self.play.state)

    def post(self, body: dict[str, Any], auth: Auth = "oidc") -> httpx.Response:
        headers = {"User-Agent": USER_AGENT}
        params = {}
        if auth == "oidc":
            headers["Authorization"] = f"Bearer {self.play.signer.token(PUSH_AUDIENCE)}"
        elif auth == "secret":
            params["secret"] = PUBSUB_SECRET
        return httpx.post(
            f"{self.server.url}/google/pubsub", params=params, json=body, headers=headers, timeout=10
        )

    def notify(self, body: dict[str, Any], auth: Auth = "oidc") -> None:
        response = self.post(body, auth)
        assert response.status_code == 200, response.text
        assert response.json() == {"status": 200, "message": "OK"}

    def _rows(self, sql: str, *args: str) -> list[dict[str, Any]]:
        uri = f"file:{self.server.database}?mode=ro"
        with sqlite3.connect(uri, uri=True, timeout=30) as conn:
            return [json.loads(item) for (item,) in conn.execute(sql, args)]

    def row(self, token: str) -> dict[str, Any] | None:
        rows = self._rows("SELECT item FROM t_subscriptions WHERE pk = ?", token)
        return rows[0] if rows else None

    def events(self, token: str) -> list[dict[str, Any]]:
        return self._rows("SELECT item FROM t_subscription_events WHERE pk = ? ORDER BY sk", token)

    def all_events(self) -> list[dict[str, Any]]:
        return self._rows("SELECT item FROM t_subscription_events")

    def status(self, sku: str, token: str) -> httpx.Response:
        return httpx.get(
            f"{self.server.url}/google/subscription/{sku}/status",
            headers={"Play-Purchase-Token": token},
            timeout=10,
        )

    def messages(self, queue: str) -> int:
        return self.server.count(f"SELECT count(*) FROM queue_messages WHERE queue = '{queue}'")

    def wait_for_row(self, token: str, holds: Callable[[dict[str, Any]], bool], what: str) -> dict[str, Any]:
        """The row once ``holds`` is true of it; on time-out, the last row and the log tail."""
        return wait_for_row(lambda: self.row(token), holds, FETCH_TIMEOUT_S, what, self.server.log)

    def drained(self) -> None:
        """Every fetch has run: a notification's message is committed before its 200, so an
        empty queue means each was handled, and nothing was dead-lettered."""
        wait_until(lambda: self.messages(FETCH_QUEUE) == 0, 10, "the fetch queue to drain")
        assert self.messages(f"{FETCH_QUEUE}-dlq") == 0, self.server.log()[-3000:]


@pytest.fixture
def service(server_factory: ServerFactory, google_play: GooglePlay) -> Service:
    server = server_factory(
        "tests.e2e.google_topology:TOPOLOGY",
        SF_EMULATORS="off",
        **google_play.settings,
        SF_GOOGLE_PUSH_AUDIENCE=PUSH_AUDIENCE,
        SF_GOOGLE_PUBSUB_SECRET=PUBSUB_SECRET,
    )
    server.start()
    return Service(server, google_play)


def says(emulated: dict[str, Any], status: str) -> Callable[[dict[str, Any]], bool]:
    """Whether a row says what the emulator holds: ``status``, the end of the current period
    and the auto-renew setting."""
    end, auto_renewing = iso(emulated["expiryTimeMs"]), emulated["autoRenewing"]

    def holds(row: dict[str, Any]) -> bool:
        return row["status"] == status and row["endTimestamp"] == end and row["autoRenewing"] is auto_renewing

    return holds


LAPSED = {"active": False, "grace_period": False, "billing_retry": True, "expired": True}
"""``subscriptionHasLapsed`` by status in this life cycle: grace keeps access until the
extended expiry; account hold and expiry end the period at the step."""


def check_status_answer(service: Service, token: str, row: dict[str, Any]) -> None:
    """``/google/subscription/{sku}/status`` answers from the stored row and agrees with it."""
    response = service.status(row["productId"], token)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "subscriptionHasLapsed": LAPSED[row["status"]],
        "subscriptionExpiryDate": row["endTimestamp"],
    }


def check_row(service: Service, token: str, sku: str, row: dict[str, Any]) -> None:
    """The columns every step keeps: the live app's row from the v1 body (spec §4.7), the
    normalised columns, and the extra with the v2 body."""
    emulated = service.play.purchase_record(token)
    assert row["subscriptionId"] == token
    assert row["productId"] == sku
    assert row["platform"] == "android"
    assert row["billingPeriod"] == ("P1Y" if sku == ANNUAL else "P1M")
    assert row["startTimestamp"] == iso(emulated["startTimeMs"])
    assert row["freeTrial"] is False
    assert row["environment"] == "Production"
    assert row["googlePayload"]["expiryTimeMillis"] == str(emulated["expiryTimeMs"])
    assert row["applePayload"] is None
    extra = json.loads(row["extra"])
    assert extra["guType"].startswith("google-extra")
    assert (extra["packageName"], extra["purchaseToken"], extra["productId"]) == (PACKAGE, token, sku)
    if emulated["cancelTimeMs"] is not None and emulated["cancelReason"] == 0:  # the user cancelled
        assert row["cancellationTimestamp"] == iso(emulated["cancelTimeMs"])
    else:
        assert "cancellationTimestamp" not in row


def check_replaced(service: Service, old_token: str, new_token: str) -> dict[str, Any]:
    """The purchase an upgrade replaced: marked ``supersededBy`` the new token and, fetched again,
    what Google now says of it (expired, its period ended at the upgrade, auto-renew off), so
    that nobody counts both; the status endpoint says it has lapsed."""
    emulated = service.play.purchase_record(old_token)
    expired = says(emulated, "expired")
    old = service.wait_for_row(
        old_token,
        lambda r: r.get("supersededBy") == new_token and expired(r),
        "the replaced purchase superseded and expired",
    )
    check_row(service, old_token, MONTHLY, old)
    assert "linkedPurchaseToken" not in old
    assert emulated["autoRenewing"] is False
    check_status_answer(service, old_token, old)
    return old


LIFE_CYCLE: tuple[tuple[str, str, Auth], ...] = (
    # (the emulator's action; the row's status after it; how the push is authenticated)
    ("purchase", "active", "oidc"),
    ("renew", "active", "oidc"),
    ("cancel", "active", "oidc"),  # access until the expiry, auto-renew off
    ("restart", "active", "secret"),  # the legacy ?secret= alone is enough
    ("grace", "grace_period", "oidc"),
    ("recover", "active", "oidc"),
    ("hold", "billing_retry", "oidc"),
    ("recover", "active", "oidc"),
    ("upgrade", "active", "oidc"),  # a new purchase token, the old one expired and replaced
    ("expire", "expired", "oidc"),  # the new purchase
)
OLD_EVENTS = [
    "SUBSCRIPTION_PURCHASED",
    "SUBSCRIPTION_RENEWED",
    "SUBSCRIPTION_CANCELED",
    "SUBSCRIPTION_RESTARTED",
    "SUBSCRIPTION_IN_GRACE_PERIOD",
    "SUBSCRIPTION_RECOVERED",
    "SUBSCRIPTION_ON_HOLD",
    "SUBSCRIPTION_RECOVERED",
]
NEW_EVENTS = ["SUBSCRIPTION_PURCHASED", "SUBSCRIPTION_EXPIRED"]


@dataclass
class Run:
    old_token: str
    new_token: str
    bodies: list[dict[str, Any]]


def run_life_cycle(service: Service) -> Run:
    """Every step of :data:`LIFE_CYCLE`, its push POSTed and its row checked."""
    play = service.play
    token, old_token, sku = "", "", MONTHLY
    bodies: list[dict[str, Any]] = []
    previous: dict[str, Any] | None = None
    for action, status, auth in LIFE_CYCLE:
        if action == "purchase":
            step = play.purchase(MONTHLY)
        elif action == "upgrade":
            old_token, sku = token, ANNUAL
            step = play.act(token, "upgrade", {"productId": ANNUAL})
        else:
            step = play.act(token, action)
        assert step.purchase_token is not None
        token = step.purchase_token
        assert step.product_id == sku
        body = service.body(step)
        bodies.append(body)
        service.notify(body, auth)
        emulated = play.purchase_record(token)
        row = service.wait_for_row(token, says(emulated, status), f"{action} -> {status}")
        check_row(service, token, sku, row)

        if action == "renew":
            assert previous is not None
            assert row["endTimestamp"] > previous["endTimestamp"]
        if action == "cancel":
            assert row["autoRenewing"] is False
            assert "cancellationTimestamp" in row
        if action == "restart":
            assert row["autoRenewing"] is True
        if action == "upgrade":
            assert token != old_token
            assert emulated["linkedPurchaseToken"] == old_token
            check_replaced(service, old_token, token)
        if old_token:  # the new purchase, from the upgrade on
            assert row["linkedPurchaseToken"] == old_token
        else:
            assert "linkedPurchaseToken" not in row
        check_status_answer(service, token, row)
        previous = row
    return Run(old_token, token, bodies)


def test_a_life_cycle_with_an_upgrade_is_stored_step_by_step_and_each_notification_once(
    service: Service,
) -> None:
    run = run_life_cycle(service)

    # The replaced purchase is still replaced and expired after the new one's own life cycle.
    old = check_replaced(service, run.old_token, run.new_token)
    new = service.row(run.new_token)
    assert new is not None
    assert "supersededBy" not in new
    assert (new["status"], new["autoRenewing"]) == ("expired", False)

    # Pub/Sub delivering the first push again (it redelivers until it gets a 2xx): answered 200,
    # neither stored nor fetched again.
    service.notify(run.bodies[0])
    service.drained()
    old_events, new_events = service.events(run.old_token), service.events(run.new_token)
    assert [e["eventType"] for e in old_events] == OLD_EVENTS
    assert [e["eventType"] for e in new_events] == NEW_EVENTS
    events = old_events + new_events
    assert sorted(e["messageId"] for e in events) == sorted(b["message"]["messageId"] for b in run.bodies)
    assert len(service.all_events()) == len(run.bodies)
    for event in events:
        assert event["appId"] == PACKAGE
        assert event["platform"] == "android"
        assert event["freeTrial"] is False  # completed by the fetch, from the v1 paymentState
        assert json.loads(event["extra"])["purchaseToken"] == event["subscriptionId"]
    assert {e["product_id"] for e in old_events} == {MONTHLY}
    assert {e["product_id"] for e in new_events} == {ANNUAL}
    # One stored fetch, one historical snapshot, per notification, and one for the fetch of the
    # replaced purchase that the upgrade's fetch queued.
    assert service.messages("google-historical-subscriptions") == len(run.bodies) + 1
    assert old["fetchedAt"] < new["fetchedAt"]


def test_pushes_that_are_not_authentic_are_refused_and_store_nothing(service: Service) -> None:
    step = service.play.purchase()
    token = step.purchase_token
    assert token is not None
    body = service.body(step)
    assert service.post(body, "none").status_code == 401
    forged = httpx.post(
        f"{service.server.url}/google/pubsub",
        params={"secret": "not-the-secret"},
        json=body,
        headers={"Authorization": f"Bearer {service.play.signer.token('another-audience')}"},
        timeout=10,
    )
    assert forged.status_code == 401, forged.text
    assert service.events(token) == []
    assert service.messages(FETCH_QUEUE) == 0

    service.notify(body)  # the same push, authentic
    service.wait_for_row(token, says(service.play.purchase_record(token), "active"), "the authentic push")
    service.drained()
    assert len(service.events(token)) == 1


def test_a_purchase_google_no_longer_knows_is_dropped_and_unknown_to_the_status_endpoint(
    service: Service,
) -> None:
    play = service.play
    step = play.purchase()
    token = step.purchase_token
    assert token is not None
    play.mark_gone(token)

    # The push is stored; its fetch meets 410 and is acknowledged without a row or a DLQ entry.
    service.notify(service.body(step))
    wait_until(
        lambda: any(r["status"] == 410 and token in r["path"] for r in play.answered()),
        FETCH_TIMEOUT_S,
        "the fetch of the gone purchase",
    )
    service.drained()
    assert service.row(token) is None
    assert [e["eventType"] for e in service.events(token)] == ["SUBSCRIPTION_PURCHASED"]
    assert service.messages("google-historical-subscriptions") == 0

    gone = service.status(MONTHLY, token)
    assert gone.status_code == 404, gone.text
    unknown = service.status(MONTHLY, "unknown-purchase-token.AO-J1Oe2e")
    assert unknown.status_code == 404, unknown.text
    assert service.status(MONTHLY, "").status_code == 400


def test_the_emulator_cli_send_notification_reaches_the_running_server(service: Service) -> None:
    play = service.play
    sent = subprocess.run(
        [
            sys.executable,
            "-m",
            "supporterflow.emulators.google.cli",
            "send-notification",
            "--url",
            f"{service.server.url}/google/pubsub",
            "--type",
            "purchase",
            "--cert-dir",
            str(play.cert_dir),
            "--state",
            str(play.state_file),
            "--audience",
            PUSH_AUDIENCE,
        ],
        env=clean_environment(),
        cwd=service.server.tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert sent.returncode == 0, sent.stdout + sent.stderr
    found = re.search(r"SUBSCRIPTION_PURCHASED \(4\) for (\S+): HTTP 200", sent.stdout)
    assert found is not None, sent.stdout
    token = found.group(1)

    emulated = play.purchase_record(token)
    row = service.wait_for_row(token, says(emulated, "active"), "the fetch of the CLI's notification")
    check_row(service, token, MONTHLY, row)
    assert [e["eventType"] for e in service.events(token)] == ["SUBSCRIPTION_PURCHASED"]
    check_status_answer(service, token, row)
