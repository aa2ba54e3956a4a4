"""Soft opt-ins (spec §8.1-§8.3, §12.4, §12.5): a new user link becomes an Acquisition event and
maybe an email; a link that comes before its subscription waits in the soft opt-in DLQ for the
30-minute drain. With the identity API emulator; the queue URLs of the original's tests are our
queue names.

The handler, drain and runtime tests run on both profiles (``[local]``, ``[aws]``): the local one
on the real SQLite tables and queues, the aws one on a moto server provisioned from the
CloudFormation template (the runtime tests through the Lambda handlers only, fed as the event
source mappings and EventBridge would feed them, and again as ``[aws-serve]`` through the process
runtime of ``serve --profile aws``), where the soft opt-in and Braze queues are the other accounts' queues
``provisioned`` makes up (``external_queue_urls``), read here with a boto3 SQS client. The sends
are SQS sends at once (no outbox). SQS cannot list a queue: there the test looks at a queue by
receiving its messages with a visibility timeout of 0 (they stay visible). On aws back-off is SQS
visibility in moto's real time, and a message's send time is SQS's ``SentTimestamp``."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest
from starlette.applications import Starlette

from supporterflow.adapters.aws.sqs import SqsQueue
from supporterflow.adapters.clock import FrozenClock
from supporterflow.adapters.identity_api import HttpIdentityApi
from supporterflow.adapters.outbound import AsgiTransport
from supporterflow.adapters.sqlite.queues import SqliteQueue
from supporterflow.bootstrap import Container, bootstrap
from supporterflow.declare import Every, OnChange, Topology
from supporterflow.domain.subscriptions.dates import date_to_ms, to_iso
from supporterflow.emulators.control import Fault
from supporterflow.emulators.identity_api import IdentityApiState, create_identity_api_app
from supporterflow.functions.soft_opt_in import (
    AcquisitionOutcome,
    is_active,
    is_post_acquisition,
    soft_opt_in,
)
from supporterflow.functions.soi_dlq import DrainSummary, message_is_one_day_old, soi_dlq
from supporterflow.ports import ChangeEvent, ChangeRecord, Queue, Retry
from supporterflow.topology import TOPOLOGY
from tests.aws.conftest import REGION
from tests.aws.test_aws_runtime import (  # noqa: F401 (endpoint, moto_endpoint: fixtures of the aws profile)
    aws_settings,
    endpoint,
    moto_endpoint,
    provisioned,
)
from tests.support import ProfileRuntime, open_container, runtime_for

NOW = datetime(2023, 3, 14, tzinfo=UTC)  # the original tests' frozen clock
KEY = "identity-key"
EMAIL = "97823f89@gmail.com"

SOI = "soft-opt-in-consent-setter-queue"
BRAZE = "braze-emails"
DLQ = "soft-opt-in-acquisitions-dlq"
STREAM_RETRY_DLQ = "user-subscriptions-soft-opt-in-retry-dlq"


def acquisition(identity_id: str, subscription_id: str, product: str = "InAppPurchase") -> str:
    return (
        f'{{"identityId":"{identity_id}","eventType":"Acquisition","productName":"{product}",'
        f'"subscriptionId":"{subscription_id}"}}'
    )


def email(identity_id: str, template: str, address: str = EMAIL) -> str:
    return (
        f'{{"To":{{"Address":"{address}","ContactAttributes":{{"SubscriberAttributes":{{}}}}}},'
        f'"DataExtensionName":"{template}","IdentityUserId":"{identity_id}"}}'
    )


@dataclass
class World:
    profile: str  # "local", "aws" (Lambda handlers) or "aws-serve" (serve --profile aws)
    container: Container
    clock: FrozenClock
    users: IdentityApiState
    identity: Starlette
    sqs: Any = None  # aws: a boto3 SQS client on the moto server
    _runtime: ProfileRuntime | None = None

    @property
    def runtime(self) -> ProfileRuntime:
        """The profile's runtime, made at first use: on aws, one ``LambdaRuntime`` for the test
        (it keeps the stream positions and the schedules' due times)."""
        if self._runtime is None:
            self._runtime = runtime_for(self.container, serve=self.profile == "aws-serve")
        return self._runtime

    async def aclose(self) -> None:
        if self._runtime is not None:
            await self._runtime.aclose()
        await self.container.aclose()

    @property
    def timeout_s(self) -> float:
        # On AWS the stream is DynamoDB Streams, and SQS back-off is real time (seconds).
        return 10.0 if self.profile == "local" else 60.0

    def queue(self, name: str) -> Queue:
        return self.container.queues[name]

    def peek(self, name: str) -> list[dict[str, Any]]:
        """aws: the SQS messages on queue ``name`` (its URL, for the other accounts' queues, is the
        one ``provisioned`` made up), received with a visibility timeout of 0: they stay visible."""
        queue = self.queue(name)
        assert isinstance(queue, SqsQueue)
        answer = self.sqs.receive_message(
            QueueUrl=queue.queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=0,
            VisibilityTimeout=0,
            MessageAttributeNames=["All"],
        )
        messages: list[dict[str, Any]] = answer.get("Messages", [])
        assert len(messages) < 10, "more messages than one look shows"
        return messages

    async def sent(self, name: str) -> list[str]:
        """The bodies waiting on queue ``name``, in the order sent (nothing consumes the soft opt-in
        and Braze queues here)."""
        if self.profile == "local":
            return [m.body.decode() for m in (await self.queue(name).list()).messages]
        return [m["Body"] for m in self.peek(name)]

    async def run_until(self, condition: Callable[[], Awaitable[bool]]) -> None:
        """Run the profile's runtime until ``condition`` holds, moving the frozen clock past any
        back-off the clock decides on each check."""

        async def later() -> None:
            self.clock.advance(120)

        await self.runtime.run_until(condition, timeout_s=self.timeout_s, between=later)

    async def subscription(self, subscription_id: str, **fields: Any) -> None:
        await self.container.tables["subscriptions"].put({"subscriptionId": subscription_id, **fields})

    async def handle(self, record: ChangeRecord) -> AcquisitionOutcome | None:
        outcome: AcquisitionOutcome | None = await self.container.inject(soft_opt_in, leading=1)(record)
        return outcome

    async def drain(self) -> DrainSummary:
        summary: DrainSummary = await self.container.inject(soi_dlq)()
        return summary

    def lookups(self) -> int:
        return sum(1 for r in self.identity.state.control.requests if r["path"].startswith("/user/"))

    def identity_down(self) -> None:
        self.identity.state.control.faults.append(Fault(503, count=-1, path_prefix="/user/"))

    def identity_back(self) -> None:
        self.identity.state.control.faults.clear()


def open_world(profile: str, request: pytest.FixtureRequest, tmp_path: Path, topology: Topology) -> World:
    """A container of ``profile`` on ``topology`` whose identity API is an emulator this test
    controls; on aws, on the template's resources (stage CODE) in moto."""
    clock = FrozenClock(NOW)
    sqs = None
    if profile == "local":
        container = open_container(tmp_path, topology, clock)
    else:
        # The moto server starts with the module's first aws test; ``endpoint`` resets it after each.
        moto_url: str = request.getfixturevalue("endpoint")
        settings = aws_settings(tmp_path, moto_url, "CODE", provisioned(moto_url, "CODE"))
        container = bootstrap(settings, clock=clock, topology=topology).open()
        sqs = boto3.client("sqs", region_name=REGION, endpoint_url=moto_url)
    users = IdentityApiState()
    app = create_identity_api_app(KEY, users)
    transport = AsgiTransport(app, "identity-api")
    container.transports.append(transport)
    container.closers.append(users.close)
    container.collaborators["identity_api"] = HttpIdentityApi(transport, KEY)
    return World(profile, container, clock, users, app, sqs)


@pytest.fixture(params=["local", "aws"])
def profile(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
async def world(profile: str, request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[World]:
    opened = open_world(profile, request, tmp_path, TOPOLOGY)
    yield opened
    await opened.aclose()


def record(
    user_id: str, subscription_id: str, event: ChangeEvent = "INSERT", sequence: int = 1
) -> ChangeRecord:
    link = {"userId": user_id, "subscriptionId": subscription_id, "creationTimestamp": to_iso(NOW)}
    return ChangeRecord(
        sequence=sequence,
        table="user-subscriptions",
        event_name=event,
        keys={"userId": user_id, "subscriptionId": subscription_id},
        old_image=None if event == "INSERT" else link,
        new_image=None if event == "REMOVE" else link,
        principal=None,
        committed_at=NOW,
    )


SAME_DAY = "2023-03-14 07:24:38 UTC"


# --------------------------------------------------------------------------------------------------
# spec §12.4: the rules


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        ("2023-03-01 07:24:38 UTC", True),  # spec §12.4
        ("2023-03-13 07:24:38 UTC", False),  # spec §12.4
        ("2023-03-12T00:00:00.000Z", True),  # exactly 48 h
        ("2023-03-12T00:00:00.001Z", False),
        ("not a date", False),  # NaN compares false
        (None, False),
    ],
)
def test_is_post_acquisition(start: str | None, expected: bool) -> None:
    assert is_post_acquisition(start, NOW) is expected


@pytest.mark.parametrize(
    ("end", "expected"),
    [
        (SAME_DAY, True),
        ("2023-02-12T00:00:00.000Z", True),  # exactly 30 days ago
        ("2023-02-11T23:59:59.999Z", False),
        ("", False),
        (None, False),
    ],
)
def test_a_subscription_is_active_until_30_days_after_its_end(end: str | None, expected: bool) -> None:
    assert is_active(end, NOW) is expected


# --------------------------------------------------------------------------------------------------
# spec §12.4: the handler


async def test_spec_12_4_an_acquisition_sends_the_soft_opt_in_and_no_email(world: World) -> None:
    await world.subscription("12345", startTimestamp=SAME_DAY, endTimestamp=SAME_DAY)

    assert await world.handle(record("67890", "12345")) is AcquisitionOutcome.SOFT_OPT_IN

    assert await world.sent(SOI) == [
        '{"identityId":"67890","eventType":"Acquisition","productName":"InAppPurchase","subscriptionId":"12345"}'
    ]
    assert await world.sent(BRAZE) == []
    assert world.lookups() == 0


@pytest.mark.parametrize("platform", ["ios-feast", "android-feast"])
async def test_spec_12_4_a_feast_acquisition_sends_feast_soft_opt_ins_and_the_feast_email(
    world: World, platform: str
) -> None:
    world.users.register({"id": "22222", "primaryEmailAddress": EMAIL})
    await world.subscription("11111", startTimestamp=SAME_DAY, endTimestamp=SAME_DAY, platform=platform)

    assert await world.handle(record("22222", "11111")) is AcquisitionOutcome.SOFT_OPT_IN_AND_EMAIL

    assert await world.sent(SOI) == [
        '{"identityId":"22222","eventType":"Acquisition","productName":"FeastInAppPurchase","subscriptionId":"11111"}'
    ]
    assert await world.sent(BRAZE) == [
        '{"To":{"Address":"97823f89@gmail.com","ContactAttributes":{"SubscriberAttributes":{}}},'
        '"DataExtensionName":"SV_FA_SOINotification","IdentityUserId":"22222"}'
    ]
    assert world.lookups() == 1


async def test_spec_12_4_a_sign_in_long_after_the_purchase_gets_the_email(world: World) -> None:
    world.users.register({"id": "67890", "primaryEmailAddress": EMAIL})
    await world.subscription(
        "12345", startTimestamp="2023-03-01 07:24:38 UTC", endTimestamp="2025-03-01 07:24:38 UTC"
    )

    await world.handle(record("67890", "12345"))

    assert await world.sent(SOI) == [acquisition("67890", "12345")]
    assert await world.sent(BRAZE) == [email("67890", "SV_PA_SOINotification")]
    assert world.lookups() == 1


async def test_a_link_before_its_subscription_goes_to_the_soft_opt_in_dlq(world: World) -> None:
    assert await world.handle(record("67890", "12345")) is None

    assert await world.sent(DLQ) == [
        '{"subscriptionId":"12345","identityId":"67890","timestamp":1678752000000}'
    ]
    assert await world.sent(SOI) == []
    assert await world.sent(BRAZE) == []


async def test_a_subscription_over_30_days_past_its_end_gets_nothing(world: World) -> None:
    world.users.register({"id": "22222", "primaryEmailAddress": EMAIL})
    await world.subscription(
        "11111",
        startTimestamp="2022-01-01T00:00:00.000Z",
        endTimestamp="2023-02-01T00:00:00.000Z",
        platform="ios-feast",
    )

    assert await world.handle(record("22222", "11111")) is AcquisitionOutcome.INACTIVE

    assert (await world.sent(SOI), await world.sent(BRAZE), await world.sent(DLQ)) == ([], [], [])
    assert world.lookups() == 0


@pytest.mark.parametrize("event", ["MODIFY", "REMOVE"])
async def test_only_inserts_are_acquisitions(world: World, event: ChangeEvent) -> None:
    await world.subscription("12345", startTimestamp=SAME_DAY, endTimestamp=SAME_DAY)
    assert await world.handle(record("67890", "12345", event)) is None
    assert (await world.sent(SOI), await world.sent(DLQ)) == ([], [])


async def test_identity_api_down_fails_the_record_with_nothing_sent_and_its_retry_sends_each_once(
    world: World,
) -> None:
    world.users.register({"id": "22222", "primaryEmailAddress": EMAIL})
    await world.subscription("11111", startTimestamp=SAME_DAY, endTimestamp=SAME_DAY, platform="ios-feast")
    world.identity_down()

    with pytest.raises(Retry, match="HTTP 503"):
        await world.handle(record("22222", "11111"))
    assert (await world.sent(SOI), await world.sent(BRAZE)) == ([], [])

    world.identity_back()
    await world.handle(record("22222", "11111"))
    assert await world.sent(SOI) == [acquisition("22222", "11111", "FeastInAppPurchase")]
    assert await world.sent(BRAZE) == [email("22222", "SV_FA_SOINotification")]


async def test_a_user_without_an_address_fails_the_record_with_nothing_sent(world: World) -> None:
    world.users.register({"id": "22222"})
    await world.subscription(
        "11111", startTimestamp=SAME_DAY, endTimestamp=SAME_DAY, platform="android-feast"
    )

    with pytest.raises(Retry, match="primaryEmailAddress is undefined"):
        await world.handle(record("22222", "11111"))
    assert (await world.sent(SOI), await world.sent(BRAZE)) == ([], [])


class BrokenQueue(SqliteQueue):
    async def send(self, body: bytes, *, delay_s: int = 0) -> str:
        raise RuntimeError(f"{self.name} is unreachable")


@pytest.mark.parametrize("broken", [SOI, DLQ])
async def test_a_send_that_fails_fails_the_record(world: World, broken: str) -> None:
    """Locally the queue's sends raise; on aws the queue is gone (SQS answers the send with
    ``AWS.SimpleQueueService.NonExistentQueue``, which the adapter raises as ``Retry``)."""
    failure: tuple[type[Exception], str]
    if world.profile == "local":
        assert world.container.database is not None
        world.container.queues[broken] = BrokenQueue(
            world.container.database, TOPOLOGY.queue(broken), world.clock
        )
        failure = (RuntimeError, f"{broken} is unreachable")
    else:
        queue = world.queue(broken)
        assert isinstance(queue, SqsQueue)
        world.sqs.delete_queue(QueueUrl=queue.queue_url)
        failure = (Retry, broken)
    if broken == SOI:
        await world.subscription("12345", startTimestamp=SAME_DAY, endTimestamp=SAME_DAY)

    with pytest.raises(failure[0], match=failure[1]):
        await world.handle(record("67890", "12345"))
    assert await world.sent(BRAZE) == []


# --------------------------------------------------------------------------------------------------
# spec §12.5: the DLQ drain


@pytest.mark.parametrize(
    ("timestamp", "expected"),
    [
        (1676194220000, True),  # spec §12.5
        (1686648235000, False),  # spec §12.5: in the future
        (1678752000000 - 86_400_000, True),  # exactly a day
        (1678752000000 - 86_400_000 + 1, False),
    ],
)
def test_message_is_one_day_old(timestamp: int, expected: bool) -> None:
    assert message_is_one_day_old(timestamp, NOW) is expected


def dlq_message(
    subscription_id: str = "12345", identity_id: str = "67890", timestamp: int | None = None
) -> bytes:
    stamp = date_to_ms(NOW - timedelta(hours=1)) if timestamp is None else timestamp
    body = {"subscriptionId": subscription_id, "identityId": identity_id, "timestamp": stamp}
    return json.dumps(body).encode()


async def test_spec_12_5_a_message_whose_subscription_is_still_missing_is_left(world: World) -> None:
    await world.queue(DLQ).send(dlq_message(timestamp=1976194220000))

    assert await world.drain() == DrainSummary(received=1, waiting=1)

    depth = await world.queue(DLQ).depth()
    assert (depth.visible, depth.in_flight) == (1, 0)  # visible again for the next run
    assert await world.sent(SOI) == []


async def test_spec_12_5_a_day_old_message_is_deleted_unprocessed(world: World) -> None:
    await world.subscription("12345", startTimestamp=SAME_DAY, endTimestamp=SAME_DAY)
    await world.queue(DLQ).send(dlq_message(timestamp=1676194220000))

    assert await world.drain() == DrainSummary(received=1, discarded=1)

    assert (await world.queue(DLQ).depth()).total == 0
    assert await world.sent(SOI) == []


async def test_spec_12_5_a_processed_message_is_deleted(world: World) -> None:
    await world.subscription("12345", startTimestamp=SAME_DAY, endTimestamp=SAME_DAY)
    await world.queue(DLQ).send(dlq_message())

    assert await world.drain() == DrainSummary(received=1, processed=1)

    assert (await world.queue(DLQ).depth()).total == 0
    assert await world.sent(SOI) == [acquisition("67890", "12345")]


async def test_a_run_looks_at_each_message_once_and_the_next_run_again(world: World) -> None:
    """Fixes spec §13.1.8: a left message is not received again in the same run."""
    for subscription_id in ("a", "b", "c"):
        await world.queue(DLQ).send(dlq_message(subscription_id))

    assert await world.drain() == DrainSummary(received=3, waiting=3)
    world.clock.advance(30 * 60)
    await world.subscription("b", startTimestamp=SAME_DAY, endTimestamp=SAME_DAY)
    assert await world.drain() == DrainSummary(received=3, processed=1, waiting=2)

    assert await world.sent(SOI) == [acquisition("67890", "b")]
    assert [json.loads(body)["subscriptionId"] for body in await world.sent(DLQ)] == ["a", "c"]


async def test_two_messages_for_one_link_make_one_acquisition(world: World) -> None:
    await world.subscription("12345", startTimestamp=SAME_DAY, endTimestamp=SAME_DAY)
    await world.queue(DLQ).send_batch([dlq_message(), dlq_message()])

    assert await world.drain() == DrainSummary(received=2, processed=1, duplicates=1)

    assert await world.sent(SOI) == [acquisition("67890", "12345")]
    assert (await world.queue(DLQ).depth()).total == 0


async def test_a_failure_leaves_its_message_processes_the_others_and_fails_the_run(world: World) -> None:
    world.users.register({"id": "22222", "primaryEmailAddress": EMAIL})
    await world.subscription("feast", startTimestamp=SAME_DAY, endTimestamp=SAME_DAY, platform="ios-feast")
    await world.subscription("live", startTimestamp=SAME_DAY, endTimestamp=SAME_DAY, platform="ios")
    await world.queue(DLQ).send_batch([dlq_message("feast", "22222"), dlq_message("live", "33333")])
    world.identity_down()

    with pytest.raises(RuntimeError, match="1 of 2 soft opt-in DLQ messages failed"):
        await world.drain()
    assert await world.sent(SOI) == [acquisition("33333", "live")]
    assert [json.loads(body)["subscriptionId"] for body in await world.sent(DLQ)] == ["feast"]

    world.identity_back()
    assert await world.drain() == DrainSummary(received=1, processed=1)
    assert await world.sent(SOI) == [
        acquisition("33333", "live"),
        acquisition("22222", "feast", "FeastInAppPurchase"),
    ]
    assert await world.sent(BRAZE) == [email("22222", "SV_FA_SOINotification")]


async def test_an_unreadable_message_is_left_for_a_day_then_discarded(world: World) -> None:
    await world.queue(DLQ).send(b"not json")

    with pytest.raises(RuntimeError, match="1 of 1"):
        await world.drain()
    assert await world.sent(DLQ) == ["not json"]

    if world.profile != "local":  # the send time is SQS's SentTimestamp (now), not the frozen clock's
        world.clock.set(datetime.now(UTC))
    world.clock.advance(days=1)
    assert await world.drain() == DrainSummary(received=1, discarded=1)
    assert await world.sent(DLQ) == []


# --------------------------------------------------------------------------------------------------
# Through the runtime


def subscriptions_only(*, streams: tuple[OnChange, ...], schedules: tuple[Every, ...] = ()) -> Topology:
    return Topology(tables=TOPOLOGY.tables, queues=TOPOLOGY.queues, streams=streams, schedules=schedules)


SOFT_OPT_IN = next(s for s in TOPOLOGY.streams if s.handler is soft_opt_in)


@pytest.mark.parametrize("profile", ["local", "aws", "aws-serve"])
async def test_a_link_before_its_subscription_is_sent_by_the_next_drain(
    profile: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    drain = Every(30 * 60, soi_dlq)
    assert drain in TOPOLOGY.schedules
    world = open_world(
        profile, request, tmp_path, subscriptions_only(streams=(SOFT_OPT_IN,), schedules=(drain,))
    )
    try:
        links = world.container.tables["user-subscriptions"]
        await links.put({"userId": "67890", "subscriptionId": "12345", "creationTimestamp": to_iso(NOW)})

        async def waiting() -> bool:
            # ... and, with the process runtime, the drain's first run planned (at NOW + 30 min)
            # before it stops (on Lambda, EventBridge's due times are the LambdaRuntime's).
            process = world.profile != "aws"
            if process and await world.container.coordination.next_due(drain.name) is None:
                return False
            return (await world.queue(DLQ).depth()).total == 1

        await world.runtime.run_until(waiting, timeout_s=world.timeout_s)
        await world.subscription("12345", startTimestamp=SAME_DAY, endTimestamp=SAME_DAY, platform="ios")
        world.clock.advance(31 * 60)

        async def sent() -> bool:
            return (await world.queue(DLQ).depth()).total == 0 and len(await world.sent(SOI)) == 1

        await world.runtime.run_until(sent, timeout_s=world.timeout_s)
        assert await world.sent(SOI) == [acquisition("67890", "12345")]
        if profile == "aws":
            assert ("schedule", drain.name) in world.runtime.poller.invocations  # type: ignore[attr-defined]
    finally:
        await world.aclose()


@pytest.mark.parametrize("profile", ["local", "aws", "aws-serve"])
async def test_identity_api_down_the_record_reaches_the_streams_dlq_and_its_replay_emails_once(
    profile: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    fast = dataclasses.replace(SOFT_OPT_IN, max_attempts=2, backoff_base_s=0.001, backoff_max_s=0.01)
    world = open_world(profile, request, tmp_path, subscriptions_only(streams=(fast,)))
    try:
        world.users.register({"id": "22222", "primaryEmailAddress": EMAIL})
        await world.subscription(
            "11111", startTimestamp=SAME_DAY, endTimestamp=SAME_DAY, platform="ios-feast"
        )
        world.identity_down()
        await world.container.tables["user-subscriptions"].put({"userId": "22222", "subscriptionId": "11111"})

        async def dead_lettered() -> bool:
            return (await world.queue(STREAM_RETRY_DLQ).depth()).total == 1

        await world.run_until(dead_lettered)
        assert (await world.sent(SOI), await world.sent(BRAZE)) == ([], [])
        # Two attempts from the stream, five from the retry queue; never one past the lookup.
        assert world.lookups() == 7
        if profile == "local":
            (dead,) = (await world.queue(STREAM_RETRY_DLQ).list()).messages
            reason = dead.reason
        else:  # the adapter's dead_letter puts the reason in a message attribute
            (message,) = world.peek(STREAM_RETRY_DLQ)
            reason = message["MessageAttributes"]["reason"]["StringValue"]
        assert reason == "Retry: [8892291c] identity-api user: HTTP 503"

        world.identity_back()
        assert await world.queue(STREAM_RETRY_DLQ).replay() == 1

        async def emailed() -> bool:
            return len(await world.sent(BRAZE)) == 1

        await world.run_until(emailed)
        assert await world.sent(BRAZE) == [email("22222", "SV_FA_SOINotification")]
        assert await world.sent(SOI) == [acquisition("22222", "11111", "FeastInAppPurchase")]
        assert (await world.queue("user-subscriptions-soft-opt-in-retry").depth()).total == 0
        assert (await world.queue(STREAM_RETRY_DLQ).depth()).total == 0
    finally:
        await world.aclose()
