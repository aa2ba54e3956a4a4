"""The Apple pipeline in process: notifications over the ASGI app, the update consumers, and the
in-process App Store emulator the service mounts (its CA, API key and subscriptions live beside
the database, where this test reaches them as ``apple send-test-notification`` would).

The pipeline runs on both profiles (``[local]``, ``[aws]``): the local one on SQLite with the local
runtime; the aws one on a moto server provisioned from the CloudFormation template, through the
Lambda handlers only (the API behind Mangum, the outbox relay, the consumers), where a
notification's fetch message goes through the transactional outbox. Both mount the same App Store
emulator (on aws beside the unused database path of ``aws_settings``)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from supporterflow.bootstrap import Container, apple_emulator_directory, bootstrap
from supporterflow.declare import Every
from supporterflow.emulators.apple.certificates import CertificateChain
from supporterflow.emulators.apple.sender import notification_body
from supporterflow.emulators.apple.signing import AppStoreSigner
from supporterflow.emulators.apple.store import AppleStoreState, Step
from supporterflow.functions.apple_revalidate import apple_revalidate
from supporterflow.functions.apple_update import apple_update, feast_apple_update
from supporterflow.ports import Retry
from supporterflow.topology import TOPOLOGY
from tests.aws.test_aws_runtime import (  # noqa: F401 (endpoint, moto_endpoint: fixtures of the aws profile)
    aws_settings,
    endpoint,
    moto_endpoint,
    provisioned,
)
from tests.support import ProfileRuntime, fast_retries, open_container, outbox_rows, runtime_for

BUNDLE = "uk.co.guardian.iphone2"
FEAST_BUNDLE = "uk.co.guardian.Feast"
PRODUCT = "uk.co.guardian.gla.1month"
TO_FETCH = ("apple-subscriptions-to-fetch", "feast-apple-subscriptions-to-fetch")
HISTORY = "apple-historical-subscriptions"

FAST = fast_retries(TOPOLOGY)

OutboxRows = Callable[[str], list[dict[str, Any]]]


def profile_container(
    profile: str, tmp_path: Path, request: pytest.FixtureRequest, **overrides: Any
) -> tuple[Container, OutboxRows | None]:
    """The profile's container with fast retries and no schedules (``FAST``) and ``overrides`` of
    its settings; on aws, on the template's resources (stage CODE) in moto, with a reader of its
    outbox table (the rows of the messages sent to a queue)."""
    if profile == "local":
        return open_container(tmp_path, FAST, **overrides), None
    # The moto server starts with the module's first aws test; ``endpoint`` resets it after each.
    moto_url: str = request.getfixturevalue("endpoint")
    urls = provisioned(moto_url, "CODE")
    settings = aws_settings(tmp_path, moto_url, "CODE", urls).model_copy(update=overrides)
    container = bootstrap(settings, topology=FAST).open()
    return container, partial(outbox_rows, container)


@dataclass
class Apple:
    profile: str  # "local" or "aws"
    container: Container
    runtime: ProfileRuntime
    api: httpx.AsyncClient
    store: AppleStoreState
    signer: AppStoreSigner
    outbox_rows: OutboxRows | None = None  # aws

    @property
    def timeout_s(self) -> float:
        # On AWS the relay polls the outbox stream and the consumers long-poll SQS (seconds).
        return 10.0 if self.profile == "local" else 60.0

    async def notify(self, step: Step, *, version: str = "v2", path: str = "/apple/pubsub") -> httpx.Response:
        body = notification_body(step, self.store, self.signer, version="v1" if version == "v1" else "v2")
        return await self.api.post(path, json=body)

    async def events(self, subscription_id: str) -> list[dict[str, Any]]:
        return (await self.container.tables["subscription-events"].query(subscription_id)).items

    async def subscription(self, subscription_id: str) -> dict[str, Any] | None:
        return await self.container.tables["subscriptions"].get({"subscriptionId": subscription_id})

    async def enqueued(self, queue: str) -> list[Any]:
        """The bodies of the messages the requests so far sent towards ``queue``, before any runtime
        ran: in the queue (local), or in the transactional outbox, which the runtime's relay moves
        to SQS (aws; SQS cannot list messages without receiving them)."""
        if self.outbox_rows is None:
            return [json.loads(m.body) for m in (await self.container.queues[queue].list()).messages]
        assert (await self.container.queues[queue].depth()).total == 0  # nothing relayed yet
        return [json.loads(row["body"]["S"]) for row in self.outbox_rows(queue)]

    async def run_until(self, condition: Callable[[], Awaitable[bool]]) -> None:
        await self.runtime.run_until(condition, timeout_s=self.timeout_s)

    async def fetch(self, *subscription_ids: str) -> None:
        """Run the runtime until the subscriptions are stored and nothing waits to be fetched (on
        AWS the fetch queues are empty until the relay sends the outbox's messages to them)."""
        queues = [self.container.queues[n] for n in TO_FETCH]

        async def fetched() -> bool:
            if not all([await self.subscription(s) is not None for s in subscription_ids]):
                return False
            return all([(await q.depth()).total == 0 for q in queues])

        await self.run_until(fetched)

    async def received(self, queue: str, count: int) -> list[Any]:
        """The bodies of the ``count`` messages on ``queue`` (received, so hidden afterwards), once
        the runtime has put them there (on AWS the relay sends them from the outbox)."""
        q = self.container.queues[queue]

        async def there() -> bool:
            return (await q.depth()).visible >= count

        await self.run_until(there)
        messages = await q.receive(10, 60)  # SQS's most: any message beyond ``count`` shows
        return [json.loads(m.body) for m in messages]


@pytest.fixture(params=["local", "aws"])
def profile(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
async def apple(profile: str, request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Apple]:
    container, outbox_rows = profile_container(profile, tmp_path, request)
    directory = apple_emulator_directory(container.settings)
    store = AppleStoreState(directory / "subscriptions.sqlite3")
    runtime = runtime_for(container)
    async with httpx.AsyncClient(transport=runtime.transport(), base_url="http://sf") as api:
        signer = AppStoreSigner(CertificateChain.load(directory))
        yield Apple(profile, container, runtime, api, store, signer, outbox_rows)
    await runtime.aclose()
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
    assert await apple.enqueued("apple-subscriptions-to-fetch") == [
        {"originalTransactionId": otid, "bundleId": BUNDLE}
    ]

    await apple.fetch(otid)
    row = await apple.subscription(otid)
    assert row is not None
    assert row["status"] == "active"
    assert row["environment"] == "Sandbox"
    assert row["platform"] == "ios"
    assert row["autoRenewing"] is True
    assert row["billingPeriod"] == "P1M"
    assert [m["subscriptionId"] for m in await apple.received(HISTORY, 1)] == [otid]


async def test_a_v1_notification_is_fetched_through_verify_receipt(apple: Apple) -> None:
    step = apple.store.subscribe(bundle_id=BUNDLE, product_id=PRODUCT, environment="Sandbox")
    response = await apple.notify(step, version="v1")
    assert response.status_code == 200, response.text
    await apple.fetch(step.original_transaction_id)
    row = await apple.subscription(step.original_transaction_id)
    assert row is not None
    assert row["status"] == "active"
    assert row["receipt"] == apple.store.receipt(step.original_transaction_id)
    assert json.loads(row["extra"])["originalTransactionId"] == step.original_transaction_id


async def test_without_braze_a_feast_fetch_waits_in_the_dlq_saying_what_to_set(
    profile: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """With the emulators off and no Braze settings the service still starts (the other flows
    need no Braze); a Feast fetch then fails with the settings to set, and is replayable."""
    container, _ = profile_container(profile, tmp_path, request, emulators="off")
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
