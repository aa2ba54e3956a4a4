"""The Apple pipeline in process: notifications over the ASGI app, the update consumers, and the
in-process App Store emulator the local profile mounts (its CA, API key and subscriptions live
beside the database, where this test reaches them as ``apple send-test-notification`` would)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from supporterflow.bootstrap import Container, apple_emulator_directory
from supporterflow.declare import Every
from supporterflow.emulators.apple.certificates import CertificateChain
from supporterflow.emulators.apple.sender import notification_body
from supporterflow.emulators.apple.signing import AppStoreSigner
from supporterflow.emulators.apple.store import AppleStoreState, Step
from supporterflow.entrypoints.http import create_app
from supporterflow.functions.apple_revalidate import apple_revalidate
from supporterflow.functions.apple_update import apple_update, feast_apple_update
from supporterflow.ports import Retry
from supporterflow.runtime.process import Runtime
from supporterflow.topology import TOPOLOGY
from tests.support import drive, fast_retries, open_container

BUNDLE = "uk.co.guardian.iphone2"
FEAST_BUNDLE = "uk.co.guardian.Feast"
PRODUCT = "uk.co.guardian.gla.1month"

FAST = fast_retries(TOPOLOGY)


@dataclass
class Apple:
    container: Container
    api: httpx.AsyncClient
    store: AppleStoreState
    signer: AppStoreSigner

    async def notify(self, step: Step, *, version: str = "v2", path: str = "/apple/pubsub") -> httpx.Response:
        body = notification_body(step, self.store, self.signer, version="v1" if version == "v1" else "v2")
        return await self.api.post(path, json=body)

    async def events(self, subscription_id: str) -> list[dict[str, Any]]:
        return (await self.container.tables["subscription-events"].query(subscription_id)).items

    async def subscription(self, subscription_id: str) -> dict[str, Any] | None:
        return await self.container.tables["subscriptions"].get({"subscriptionId": subscription_id})

    async def fetch_all(self) -> None:
        queues = [
            self.container.queues[n]
            for n in ("apple-subscriptions-to-fetch", "feast-apple-subscriptions-to-fetch")
        ]

        async def drained() -> bool:
            return all([(await q.depth()).total == 0 for q in queues])

        await drive(Runtime(self.container, http=False), drained)


@pytest.fixture
async def apple(tmp_path: Path) -> AsyncIterator[Apple]:
    container = open_container(tmp_path, FAST)
    directory = apple_emulator_directory(container.settings)
    store = AppleStoreState(directory / "subscriptions.sqlite3")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(container)), base_url="http://sf"
    ) as api:
        yield Apple(container, api, store, AppStoreSigner(CertificateChain.load(directory)))
    store.close()
    await container.aclose()


async def test_a_v2_subscription_is_stored_fetched_and_active(apple: Apple) -> None:
    step = apple.store.subscribe(bundle_id=BUNDLE, product_id=PRODUCT, environment="Sandbox")
    response = await apple.notify(step)
    assert response.status_code == 200, response.text
    assert response.json() == {"status": 200, "message": "OK"}
    otid = step.original_transaction_id
    [event] = await apple.events(otid)
    assert event["eventType"] == "SUBSCRIBED"
    assert event["subtype"] == "INITIAL_BUY"
    queued = (await apple.container.queues["apple-subscriptions-to-fetch"].list()).messages
    assert [json.loads(m.body) for m in queued] == [{"originalTransactionId": otid, "bundleId": BUNDLE}]

    await apple.fetch_all()
    row = await apple.subscription(otid)
    assert row is not None
    assert row["status"] == "active"
    assert row["environment"] == "Sandbox"
    assert row["platform"] == "ios"
    assert row["autoRenewing"] is True
    assert row["billingPeriod"] == "P1M"
    history = (await apple.container.queues["apple-historical-subscriptions"].list()).messages
    assert [json.loads(m.body)["subscriptionId"] for m in history] == [otid]


async def test_a_v1_notification_is_fetched_through_verify_receipt(apple: Apple) -> None:
    step = apple.store.subscribe(bundle_id=BUNDLE, product_id=PRODUCT, environment="Sandbox")
    response = await apple.notify(step, version="v1")
    assert response.status_code == 200, response.text
    await apple.fetch_all()
    row = await apple.subscription(step.original_transaction_id)
    assert row is not None
    assert row["status"] == "active"
    assert row["receipt"] == apple.store.receipt(step.original_transaction_id)
    assert json.loads(row["extra"])["originalTransactionId"] == step.original_transaction_id


async def test_without_braze_a_feast_fetch_waits_in_the_dlq_saying_what_to_set(tmp_path: Path) -> None:
    """With the emulators off and no Braze settings the service still starts (the other flows
    need no Braze); a Feast fetch then fails with the settings to set, and is replayable."""
    container = open_container(tmp_path, FAST, emulators="off")
    try:
        lookup = container.collaborators["identity_lookup"]
        with pytest.raises(Retry, match="SF_BRAZE_URL"):
            await lookup.identity_id("7fcdd33b-d111-4de3-8631-d792d213e5da")
        assert container.collaborators["app_store"] is None
    finally:
        await container.aclose()


def test_the_service_revalidates_every_six_hours_and_consumes_both_fetch_queues() -> None:
    assert Every(6 * 3600, apple_revalidate) in TOPOLOGY.schedules
    handlers = {c.queue: c.handler for c in TOPOLOGY.consumers}
    assert handlers["apple-subscriptions-to-fetch"] is apple_update
    assert handlers["feast-apple-subscriptions-to-fetch"] is feast_apple_update
    assert TOPOLOGY.queue("apple-subscriptions-to-fetch").max_receives == 8  # spec §5.5
