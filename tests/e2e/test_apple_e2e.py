"""The App Store pipeline end to end: the real server (``supporterflow serve`` with
SF_EMULATORS=off) and the App Store emulator (``supporterflow emulate apple``) as two processes
on loopback ports, configured as an operator would configure them against Apple.

A subscription goes through its life cycle in the emulator, driven by its control API:
subscribe, renew, billing failure with a grace period, billing retry (the grace period is over),
recovery (a renewal), auto-renew turned off, the voluntary expiry that follows, and a refund.
After each step the notification Apple would send is POSTed to ``/apple/pubsub`` (V2 signed, or
V1 with ``?secret=`` and the shared secret), the server's fetch consumer asks the emulator for
the subscription (App Store Server API, or ``verifyReceipt``), and the test waits until the
stored Subscription row says what the emulator now holds; ``/apple/subscription/status`` is then
asked about the same subscription.

The test process opens the emulator's ``--state`` file and ``--cert-dir`` itself, as
``apple send-test-notification`` does, to build and sign the notification of each step.
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

from supporterflow.emulators.apple.auth import API_KEY_FILE, DEFAULT_ISSUER_ID, DEFAULT_KEY_ID
from supporterflow.emulators.apple.certificates import ROOT_PEM_FILE, CertificateChain
from supporterflow.emulators.apple.sender import notification_body
from supporterflow.emulators.apple.signing import AppStoreSigner
from supporterflow.emulators.apple.store import SANDBOX, AppleStoreState, Step
from tests.e2e.conftest import ROOT, Emulator, Server, ServerFactory, wait_for_row, wait_until

pytestmark = pytest.mark.slow

Version = Literal["v1", "v2"]

BUNDLE = "uk.co.guardian.iphone2"
PRODUCT = "uk.co.guardian.gla.1month"
SHARED_SECRET = "e2e-apple-shared-secret"
PUBSUB_SECRET = "e2e-apple-pubsub-secret"
FETCH_TIMEOUT_S = 15.0
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def iso(ms: int) -> str:
    """``toISOString()`` of a millisecond timestamp, computed here rather than by the service."""
    moment = EPOCH + timedelta(milliseconds=ms)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def clean_environment() -> dict[str, str]:
    """This process's environment without any SF_ setting, and the repository importable."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith("SF_")}, "PYTHONPATH": str(ROOT)}


@dataclass
class AppStore:
    """The emulator process, and the state file and certificates it shares with this test."""

    emulator: Emulator
    cert_dir: Path
    state_file: Path
    store: AppleStoreState
    signer: AppStoreSigner

    def subscribe(self) -> Step:
        response = httpx.post(
            f"{self.emulator.url}/__emulator/subscriptions",
            json={"bundleId": BUNDLE, "productId": PRODUCT, "environment": SANDBOX},
            timeout=10,
        )
        assert response.status_code == 201, response.text
        step = Step(**response.json()["step"])
        assert response.json()["receipt"] == self.receipt(step.original_transaction_id)
        return step

    def act(self, original_transaction_id: str, action: str) -> Step:
        response = httpx.post(
            f"{self.emulator.url}/__emulator/subscriptions/{original_transaction_id}/{action}", timeout=10
        )
        assert response.status_code == 200, response.text
        return Step(**response.json()["step"])

    def subscription(self, original_transaction_id: str) -> dict[str, Any]:
        return self.store.get(original_transaction_id)

    def receipt(self, original_transaction_id: str) -> str:
        return self.store.receipt(original_transaction_id)


@pytest.fixture
def app_store(tmp_path: Path) -> Iterator[AppStore]:
    cert_dir, state_file = tmp_path / "apple-certs", tmp_path / "apple.sqlite3"
    emulator = Emulator(
        "apple",
        [
            "--state",
            str(state_file),
            "--cert-dir",
            str(cert_dir),
            "--environment",
            SANDBOX,
            "--shared-secret",
            SHARED_SECRET,
        ],
        tmp_path,
    )
    emulator.start()
    try:
        wait_until(
            lambda: (cert_dir / ROOT_PEM_FILE).is_file() and (cert_dir / API_KEY_FILE).is_file(),
            10,
            "the emulator's test CA and API key",
        )
        store = AppleStoreState(state_file)
        try:
            signer = AppStoreSigner(CertificateChain.load(cert_dir))
            yield AppStore(emulator, cert_dir, state_file, store, signer)
        finally:
            store.close()
    finally:
        emulator.stop()


@dataclass
class Service:
    """The server process, and what this test reads of it."""

    server: Server
    app_store: AppStore

    def notify(self, body: dict[str, Any]) -> None:
        response = httpx.post(
            f"{self.server.url}/apple/pubsub", params={"secret": PUBSUB_SECRET}, json=body, timeout=10
        )
        assert response.status_code == 200, response.text
        assert response.json() == {"status": 200, "message": "OK"}

    def body(self, step: Step, version: Version) -> dict[str, Any]:
        return notification_body(
            step, self.app_store.store, self.app_store.signer, version=version, password=SHARED_SECRET
        )

    def _rows(self, sql: str, *args: str) -> list[dict[str, Any]]:
        uri = f"file:{self.server.database}?mode=ro"
        with sqlite3.connect(uri, uri=True, timeout=30) as conn:
            return [json.loads(item) for (item,) in conn.execute(sql, args)]

    def row(self, subscription_id: str) -> dict[str, Any] | None:
        rows = self._rows("SELECT item FROM t_subscriptions WHERE pk = ?", subscription_id)
        return rows[0] if rows else None

    def events(self, subscription_id: str) -> list[dict[str, Any]]:
        return self._rows("SELECT item FROM t_subscription_events WHERE pk = ? ORDER BY sk", subscription_id)

    def status(self, entry: dict[str, str]) -> list[dict[str, Any]]:
        response = httpx.post(
            f"{self.server.url}/apple/subscription/status", json={"subscriptions": [entry]}, timeout=10
        )
        assert response.status_code == 200, response.text
        answer: list[dict[str, Any]] = response.json()
        return answer

    def messages(self, queue: str) -> int:
        return self.server.count(f"SELECT count(*) FROM queue_messages WHERE queue = '{queue}'")

    def wait_for_row(
        self, subscription_id: str, holds: Callable[[dict[str, Any]], bool], what: str
    ) -> dict[str, Any]:
        """The row once ``holds`` is true of it; on time-out, the last row and the log tail."""
        return wait_for_row(lambda: self.row(subscription_id), holds, FETCH_TIMEOUT_S, what, self.server.log)


@pytest.fixture
def service(server_factory: ServerFactory, app_store: AppStore) -> Service:
    url, certs = app_store.emulator.url, app_store.cert_dir
    server = server_factory(
        "tests.e2e.apple_topology:TOPOLOGY",
        SF_EMULATORS="off",
        SF_MAX_BODY_BYTES="1048576",  # signed notifications carry three certificate chains
        SF_APPLE_ROOT_CERTS=str(certs / ROOT_PEM_FILE),
        SF_APPLE_BUNDLE_IDS=BUNDLE,
        SF_APPLE_ENVIRONMENT=SANDBOX,
        SF_APPLE_API_URL=url,
        SF_APPLE_KEY_ID=DEFAULT_KEY_ID,
        SF_APPLE_ISSUER_ID=DEFAULT_ISSUER_ID,
        SF_APPLE_PRIVATE_KEY_FILE=str(certs / API_KEY_FILE),
        SF_APPLE_VERIFY_RECEIPT_URL=f"{url}/verifyReceipt",
        SF_APPLE_SANDBOX_VERIFY_RECEIPT_URL=f"{url}/sandbox/verifyReceipt",
        SF_APPLE_SHARED_SECRET=SHARED_SECRET,
        SF_APPLE_PUBSUB_SECRET=PUBSUB_SECRET,
    )
    server.start()
    return Service(server, app_store)


LIFE_CYCLE: tuple[tuple[str | None, str], ...] = (
    # (the emulator's action, None to subscribe; the row's status after it)
    (None, "active"),
    ("renew", "active"),
    ("fail-to-renew-grace", "grace_period"),  # the emulator ends the period at a failed renewal
    ("fail-to-renew", "billing_retry"),
    ("renew", "active"),  # billing recovery: a new period from now
    ("auto-renew-off", "active"),
    ("expire", "expired"),  # voluntary: auto-renew is off
    ("refund", "refunded"),
)
V2_TYPES = [
    ("SUBSCRIBED", "INITIAL_BUY"),
    ("DID_RENEW", None),
    ("DID_FAIL_TO_RENEW", "GRACE_PERIOD"),
    ("DID_FAIL_TO_RENEW", None),
    ("DID_RENEW", "BILLING_RECOVERY"),
    ("DID_CHANGE_RENEWAL_STATUS", "AUTO_RENEW_DISABLED"),
    ("EXPIRED", "VOLUNTARY"),
    ("REFUND", None),
]
V1_TYPES = [
    "INITIAL_BUY",
    "DID_RENEW",
    "DID_FAIL_TO_RENEW",
    "DID_FAIL_TO_RENEW",
    "DID_RECOVER",
    "DID_CHANGE_RENEWAL_STATUS",
    "DID_CHANGE_RENEWAL_STATUS",  # V1 had no expiry notification
    "REFUND",
]


def says(emulated: dict[str, Any], status: str) -> Callable[[dict[str, Any]], bool]:
    """Whether a row says what the emulator holds: ``status``, the end of the latest period and
    the auto-renew setting."""
    end, auto_renewing = iso(emulated["transactions"][-1]["expiresDate"]), emulated["autoRenewStatus"] == 1

    def holds(row: dict[str, Any]) -> bool:
        return row["status"] == status and row["endTimestamp"] == end and row["autoRenewing"] is auto_renewing

    return holds


def check_status_answer(service: Service, version: Version, otid: str, row: dict[str, Any]) -> None:
    """``/apple/subscription/status`` asks Apple again and agrees with the stored row. Its
    ``valid`` is upstream's (spec §7.1), not more than 30 days past the end, except that a
    refunded purchase is never valid (docs/compatibility.md); ``gracePeriod`` is being in those
    30 days while valid, so here: not active any more."""
    receipt = service.app_store.receipt(otid)
    [answer] = service.status({"receipt": receipt} if version == "v1" else {"originalTransactionId": otid})
    assert answer["originalTransactionId"] == otid
    assert answer["end"] == row["endTimestamp"]
    assert answer["start"] == row["startTimestamp"]
    assert answer["autoRenewStatus"] is row["autoRenewing"]
    assert answer["product"] == row["productId"] == PRODUCT
    refunded = row["status"] == "refunded"
    assert answer["valid"] is not refunded
    assert answer["gracePeriod"] is (row["status"] not in ("active", "refunded")), (row["status"], answer)
    if version == "v1":
        assert answer["latestReceipt"] == receipt


def run_life_cycle(service: Service, version: Version) -> tuple[str, list[dict[str, Any]]]:
    """Every step of :data:`LIFE_CYCLE`, its notification POSTed and its row checked; the
    original transaction id and the V2 bodies sent."""
    app_store = service.app_store
    otid = ""
    bodies: list[dict[str, Any]] = []
    previous: dict[str, Any] | None = None
    for action, status in LIFE_CYCLE:
        step = app_store.subscribe() if action is None else app_store.act(otid, action)
        otid = step.original_transaction_id
        body = service.body(step, version)
        bodies.append(body)
        service.notify(body)
        emulated = app_store.subscription(otid)
        row = service.wait_for_row(
            otid,
            says(emulated, status),
            f"{action or 'subscribe'} -> {status} ({version})",
        )

        assert row["subscriptionId"] == otid
        assert row["productId"] == PRODUCT
        assert row["platform"] == "ios"
        assert row["billingPeriod"] == "P1M"
        assert row["environment"] == SANDBOX
        assert row["bundleId"] == BUNDLE
        assert row["startTimestamp"] == iso(emulated["originalPurchaseDate"])
        if action == "refund":
            assert row["cancellationTimestamp"] == iso(emulated["transactions"][-1]["revocationDate"])
        else:
            assert "cancellationTimestamp" not in row
        if action == "renew":
            assert previous is not None
            assert row["endTimestamp"] > previous["endTimestamp"]
        if action == "auto-renew-off":
            assert row["autoRenewing"] is False
        if version == "v1":
            assert row["receipt"] == app_store.receipt(otid)
        assert json.loads(row["extra"])["originalTransactionId"] == otid
        check_status_answer(service, version, otid, row)
        previous = row
    return otid, bodies


def assert_fetched_once_each(service: Service, notifications: int) -> None:
    """Every fetch message is handled (a notification's message is committed before its 200, so
    an empty queue means every fetch has run) and none was dead-lettered; each stored fetch sent
    one historical snapshot, so there was one fetch per notification."""
    wait_until(lambda: service.messages("apple-subscriptions-to-fetch") == 0, 10, "the fetch queue to drain")
    assert service.messages("apple-subscriptions-to-fetch-dlq") == 0
    assert service.messages("apple-historical-subscriptions") == notifications


def test_a_v2_life_cycle_is_stored_step_by_step_and_each_notification_once(service: Service) -> None:
    otid, bodies = run_life_cycle(service, "v2")

    # Apple delivering the first notification again (it retries until it gets a 200): answered
    # 200, neither stored nor fetched again, and the row keeps the latest state.
    service.notify(bodies[0])
    events = service.events(otid)
    assert [(e["eventType"], e.get("subtype")) for e in events] == V2_TYPES
    assert len({e["notificationUUID"] for e in events}) == len(bodies)
    assert {e["appId"] for e in events} == {BUNDLE}
    assert_fetched_once_each(service, len(bodies))
    row = service.row(otid)
    assert row is not None
    assert row["status"] == "refunded"


def test_the_same_life_cycle_through_v1_notifications_and_verify_receipt(service: Service) -> None:
    otid, bodies = run_life_cycle(service, "v1")

    events = service.events(otid)
    assert [e["eventType"] for e in events] == V1_TYPES
    assert len(events) == len(bodies)
    assert {e["appId"] for e in events} == {BUNDLE}
    assert_fetched_once_each(service, len(bodies))
    # Stage CODE: the fetches and the status requests ask the sandbox verifyReceipt only.
    requests = httpx.get(service.app_store.emulator.url + "/__emulator/requests", timeout=5).json()
    paths = [r["path"] for r in requests["requests"] if r["path"].endswith("/verifyReceipt")]
    assert set(paths) == {"/sandbox/verifyReceipt"}
    assert len(paths) >= 2 * len(bodies)


def test_apple_send_test_notification_reaches_the_running_server(service: Service) -> None:
    app_store = service.app_store
    sent = subprocess.run(
        [
            sys.executable,
            "-m",
            "supporterflow.entrypoints.cli",
            "apple",
            "send-test-notification",
            "--url",
            f"{service.server.url}/apple/pubsub",
            "--cert-dir",
            str(app_store.cert_dir),
            "--state",
            str(app_store.state_file),
            "--bundle-id",
            BUNDLE,
            "--product-id",
            PRODUCT,
        ],
        env=clean_environment(),
        cwd=service.server.tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert sent.returncode == 0, sent.stdout + sent.stderr
    found = re.search(r"SUBSCRIBED INITIAL_BUY for (\d+): HTTP 200", sent.stdout)
    assert found is not None, sent.stdout
    otid = found.group(1)

    row = service.wait_for_row(otid, lambda r: r["status"] == "active", "the fetch of the test notification")
    assert row["endTimestamp"] == iso(app_store.subscription(otid)["transactions"][-1]["expiresDate"])
    assert row["autoRenewing"] is True
    assert [e["eventType"] for e in service.events(otid)] == ["SUBSCRIBED"]
