"""``POST /apple/linkToSubscriptions`` and ``POST /google/linkToSubscriptions`` through the ASGI
app (spec §6, §12.6, §13.1.6; docs/compatibility.md, Links and user subscriptions).

The user token checker is a stand-in that knows a few ``Authorization`` headers; the clock is
frozen at the spec's 2023-03-14. "Nothing written" is checked everywhere it matters: no link
row, no change record, no message on any queue.

Every test runs on both profiles (``[local]``, ``[aws]``): the local one on SQLite with the app in
process, the aws one on a moto server provisioned from the CloudFormation template through the
Lambda ``http`` handler (Mangum), where the links are DynamoDB rows,
their changes come from the table's DynamoDB stream, and the fetch messages are sent to SQS at
once (no outbox: the link rows and the messages are not written together). SQS cannot list a
queue, so there the test receives (and deletes) what was sent, keeping what it saw.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]
import httpx
import pytest

from supporterflow.adapters.aws.sqs import SqsQueue
from supporterflow.adapters.clock import FrozenClock
from supporterflow.bootstrap import Container, bootstrap
from supporterflow.ports import Retry, TokenRejected
from supporterflow.topology import TOPOLOGY
from tests.aws.conftest import REGION
from tests.aws.test_aws_runtime import (  # noqa: F401 (endpoint, moto_endpoint: fixtures of the aws profile)
    aws_settings,
    endpoint,
    moto_endpoint,
    provisioned,
)
from tests.support import open_container, runtime_for

NOW = "2023-03-14T00:00:00+00:00"
NOW_ISO = "2023-03-14T00:00:00.000Z"
USER = "100000001"
TOKEN = "Bearer user-token"
QUEUES = (
    "apple-subscriptions-to-fetch",
    "feast-apple-subscriptions-to-fetch",
    "google-subscriptions-to-fetch",
    "feast-google-subscriptions-to-fetch",
)


@dataclass
class FakeTokens:
    """User access tokens by ``Authorization`` header: the user id, or what checking it raises.
    Any other header is an ``incorrect-token``."""

    answers: dict[str, str | Exception] = field(default_factory=lambda: {TOKEN: USER})
    calls: list[str | None] = field(default_factory=list)

    async def user_id(self, authorization: str | None) -> str:
        self.calls.append(authorization)
        answer = self.answers.get(authorization or "")
        if answer is None:
            raise TokenRejected("incorrect-token", "the signature does not verify")
        if isinstance(answer, Exception):
            raise answer
        return answer


@dataclass
class Service:
    container: Container
    api: httpx.AsyncClient
    tokens: FakeTokens
    clock: FrozenClock
    sqs: Any = None  # aws: a boto3 SQS client on the moto server
    # aws: the bodies received from each queue so far (receiving hides a message, so it is deleted)
    seen: dict[str, list[bytes]] = field(default_factory=dict)

    async def link(
        self, store: str, body: Any, *, authorization: str | None = TOKEN, raw: bytes | None = None
    ) -> httpx.Response:
        headers = {} if authorization is None else {"Authorization": authorization}
        content = raw if raw is not None else json.dumps(body).encode()
        return await self.api.post(f"/{store}/linkToSubscriptions", content=content, headers=headers)

    async def links(self) -> list[dict[str, Any]]:
        return (await self.container.tables["user-subscriptions"].scan()).items

    async def link_changes(self) -> list[tuple[str, dict[str, Any]]]:
        """The link table's change records, by key: a request writes its links concurrently, so
        their records come in no set order (on DynamoDB Streams, the order the puts landed)."""
        records = await self.container.stream.read("test", tables=["user-subscriptions"], limit=1000)
        changes = [(record.event_name, record.keys) for record in records]
        return sorted(changes, key=lambda change: (change[1]["userId"], change[1]["subscriptionId"]))

    async def queued(self, queue: str) -> list[dict[str, Any]]:
        return [json.loads(body) for body in await self.queued_bodies(queue)]

    async def queued_bodies(self, queue: str) -> list[bytes]:
        """Every body sent to ``queue`` so far, in the order sent (no consumer runs here): listed
        (local), or received and deleted from SQS, and kept with those received before (aws)."""
        q = self.container.queues[queue]
        if self.sqs is None:
            return [message.body for message in (await q.list(limit=1000)).messages]
        assert isinstance(q, SqsQueue)
        seen = self.seen.setdefault(queue, [])
        while True:
            answer = self.sqs.receive_message(
                QueueUrl=q.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0, VisibilityTimeout=60
            )
            messages = answer.get("Messages", [])
            if not messages:
                return list(seen)
            seen.extend(m["Body"].encode() for m in messages)
            self.sqs.delete_message_batch(
                QueueUrl=q.queue_url,
                Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)],
            )

    async def store_subscription(self, subscription_id: str) -> None:
        await self.container.tables["subscriptions"].put(
            {"subscriptionId": subscription_id, "endTimestamp": "2023-04-14T00:00:00.000Z"}
        )

    async def assert_nothing_written(self) -> None:
        assert await self.links() == []
        assert await self.link_changes() == []
        for queue in QUEUES:
            assert await self.queued(queue) == [], queue


OpenService = Callable[..., Awaitable[Service]]


@pytest.fixture(params=["local", "aws"])
def profile(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
async def open_service(
    profile: str, request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[OpenService]:
    """``await open_service(tokens)``: ``tokens=None`` is a service without an OIDC issuer. On aws,
    on the template's resources (stage CODE) in moto."""
    sqs = None
    if profile == "aws":
        # The moto server starts with the module's first aws test; ``endpoint`` resets it after each.
        moto_url: str = request.getfixturevalue("endpoint")
        settings = aws_settings(tmp_path, moto_url, "CODE", provisioned(moto_url, "CODE"))
        sqs = boto3.client("sqs", region_name=REGION, endpoint_url=moto_url)
    async with AsyncExitStack() as stack:

        async def build(tokens: FakeTokens | None = None) -> Service:
            clock = FrozenClock(NOW)
            if profile == "local":
                container = open_container(tmp_path, TOPOLOGY, clock=clock)
            else:
                container = bootstrap(settings, clock=clock, topology=TOPOLOGY).open()
            stack.push_async_callback(container.aclose)
            container.collaborators["user_tokens"] = tokens
            runtime = runtime_for(container)
            stack.push_async_callback(runtime.aclose)
            api = await stack.enter_async_context(
                httpx.AsyncClient(transport=runtime.transport(), base_url="http://sf")
            )
            return Service(container, api, tokens or FakeTokens(), clock, sqs)

        yield build


@pytest.fixture
async def service(open_service: OpenService) -> Service:
    return await open_service(FakeTokens())


OK = {"status": 200, "message": "OK"}


def apple(platform: str, *ids: str) -> dict[str, Any]:
    return {
        "platform": platform,
        "subscriptions": [{"receipt": f"receipt-{i}", "originalTransactionId": i} for i in ids],
    }


def google(platform: str, *tokens: str) -> dict[str, Any]:
    return {
        "platform": platform,
        "subscriptions": [{"purchaseToken": t, "subscriptionId": f"sku-{t}"} for t in tokens],
    }


def link(subscription_id: str, user: str = USER) -> dict[str, Any]:
    return {"userId": user, "subscriptionId": subscription_id, "creationTimestamp": NOW_ISO}


# --------------------------------------------------------------------------------------------------
# Apple


async def test_apple_links_the_tokens_user_and_fetches_only_unknown_subscriptions(service: Service) -> None:
    await service.store_subscription("1000000002")
    response = await service.link("apple", apple("ios", "1000000001", "1000000002", "1000000003"))
    assert response.status_code == 200, response.text
    assert response.json() == OK
    assert service.tokens.calls == [TOKEN]
    assert await service.links() == [link("1000000001"), link("1000000002"), link("1000000003")]
    # Compact JSON, as the original's queue bodies (spec §1.6, §14); in the request's order.
    assert await service.queued_bodies("apple-subscriptions-to-fetch") == [
        b'{"receipt":"receipt-1000000001"}',
        b'{"receipt":"receipt-1000000003"}',
    ]
    assert await service.queued("feast-apple-subscriptions-to-fetch") == []


async def test_apple_deduplicates_original_transaction_ids(service: Service) -> None:
    """Spec §12.6: the same entry twice is linked and fetched once."""
    body = {
        "platform": "ios-puzzles",
        "subscriptions": [
            {"originalTransactionId": "12345", "receipt": "duplicate-receipt"},
            {"originalTransactionId": "12345", "receipt": "duplicate-receipt"},
        ],
    }
    response = await service.link("apple", body)
    assert response.status_code == 200, response.text
    assert await service.links() == [link("12345")]
    assert await service.queued("apple-subscriptions-to-fetch") == [{"receipt": "duplicate-receipt"}]
    assert await service.link_changes() == [("INSERT", {"userId": USER, "subscriptionId": "12345"})]


async def test_apple_duplicates_keep_the_first_receipt(service: Service) -> None:
    body = {
        "platform": "ios",
        "subscriptions": [
            {"originalTransactionId": "12345", "receipt": "first"},
            {"originalTransactionId": "67890", "receipt": "other"},
            {"originalTransactionId": "12345", "receipt": "second"},
        ],
    }
    assert (await service.link("apple", body)).status_code == 200
    assert await service.queued("apple-subscriptions-to-fetch") == [
        {"receipt": "first"},
        {"receipt": "other"},
    ]


async def test_every_apple_platform_but_feast_is_fetched_on_the_live_queue(service: Service) -> None:
    platforms = ["ios", "ios-puzzles", "ios-edition", "newsstand"]
    for n, platform in enumerate(platforms):
        assert (await service.link("apple", apple(platform, str(n)))).status_code == 200
    assert await service.queued("apple-subscriptions-to-fetch") == [
        {"receipt": f"receipt-{n}"} for n in range(len(platforms))
    ]
    assert await service.queued("feast-apple-subscriptions-to-fetch") == []


async def test_ios_feast_links_without_a_fetch(service: Service) -> None:
    body = apple("ios-feast", "2000000001", "2000000002")
    # A Feast promo-code link needs no receipt: nothing is fetched with it.
    del body["subscriptions"][1]["receipt"]
    response = await service.link("apple", body)
    assert response.status_code == 200, response.text
    assert await service.links() == [link("2000000001"), link("2000000002")]
    for queue in QUEUES:
        assert await service.queued(queue) == [], queue


async def test_25_unknown_apple_subscriptions_are_all_queued_and_known_ones_are_not(
    service: Service,
) -> None:
    """The original's single SQS batch failed above 10 unknown subscriptions (spec §13.1.6)."""
    ids = [f"10000000{n:02d}" for n in range(30)]
    known = ids[::6]  # 5 of the 30
    for subscription_id in known:
        await service.store_subscription(subscription_id)
    response = await service.link("apple", apple("ios", *ids))
    assert response.status_code == 200, response.text
    unknown = [i for i in ids if i not in known]
    assert len(unknown) == 25
    assert await service.queued("apple-subscriptions-to-fetch") == [
        {"receipt": f"receipt-{i}"} for i in unknown
    ]
    assert len(await service.links()) == 30


# --------------------------------------------------------------------------------------------------
# Google


@pytest.mark.parametrize(
    ("platform", "package"),
    [
        ("android", "com.guardian"),
        ("android-puzzles", "uk.co.guardian.puzzles"),
        ("android-edition", "com.guardian.editions"),
    ],
)
async def test_google_links_and_fetches_with_the_platforms_package(
    service: Service, platform: str, package: str
) -> None:
    await service.store_subscription("token-known")
    response = await service.link("google", google(platform, "token-a", "token-known"))
    assert response.status_code == 200, response.text
    assert response.json() == OK
    assert await service.links() == [link("token-a"), link("token-known")]
    assert await service.queued_bodies("google-subscriptions-to-fetch") == [
        f'{{"packageName":"{package}","purchaseToken":"token-a","subscriptionId":"sku-token-a"}}'.encode()
    ]
    assert await service.queued("feast-google-subscriptions-to-fetch") == []
    assert await service.queued("apple-subscriptions-to-fetch") == []


async def test_google_deduplicates_purchase_tokens(service: Service) -> None:
    """The original failed with DynamoDB's duplicates error (spec §13.1.6); the first one wins."""
    body = {
        "platform": "android",
        "subscriptions": [
            {"purchaseToken": "token-a", "subscriptionId": "first-sku"},
            {"purchaseToken": "token-a", "subscriptionId": "second-sku"},
        ],
    }
    response = await service.link("google", body)
    assert response.status_code == 200, response.text
    assert await service.links() == [link("token-a")]
    assert await service.queued("google-subscriptions-to-fetch") == [
        {"packageName": "com.guardian", "purchaseToken": "token-a", "subscriptionId": "first-sku"}
    ]


async def test_25_unknown_google_subscriptions_are_all_queued(service: Service) -> None:
    tokens = [f"token-{n:02d}" for n in range(25)]
    response = await service.link("google", google("android", *tokens))
    assert response.status_code == 200, response.text
    queued = await service.queued("google-subscriptions-to-fetch")
    assert [message["purchaseToken"] for message in queued] == tokens


# --------------------------------------------------------------------------------------------------
# Written once


async def test_a_second_identical_call_keeps_the_links_as_they_were(service: Service) -> None:
    body = apple("ios", "1000000001", "1000000002")
    assert (await service.link("apple", body)).status_code == 200
    service.clock.advance(hours=5)
    assert (await service.link("apple", body)).status_code == 200
    assert await service.links() == [link("1000000001"), link("1000000002")]
    # One INSERT per link, no MODIFY: the soft opt-in and acquisition consumers see it once.
    assert await service.link_changes() == [
        ("INSERT", {"userId": USER, "subscriptionId": "1000000001"}),
        ("INSERT", {"userId": USER, "subscriptionId": "1000000002"}),
    ]
    # Still unknown, so asked for again, as the original did.
    assert len(await service.queued("apple-subscriptions-to-fetch")) == 4


async def test_an_existing_link_is_kept_and_a_new_one_added_at_the_new_time(service: Service) -> None:
    assert (await service.link("google", google("android", "token-a"))).status_code == 200
    service.clock.advance(days=1)
    assert (await service.link("google", google("android", "token-a", "token-b"))).status_code == 200
    assert await service.links() == [
        link("token-a"),
        {"userId": USER, "subscriptionId": "token-b", "creationTimestamp": "2023-03-15T00:00:00.000Z"},
    ]
    assert [event for event, _ in await service.link_changes()] == ["INSERT", "INSERT"]


async def test_two_users_may_link_the_same_purchase(service: Service) -> None:
    service.tokens.answers["Bearer other-token"] = "200000002"
    assert (await service.link("google", google("android", "token-a"))).status_code == 200
    response = await service.link("google", google("android", "token-a"), authorization="Bearer other-token")
    assert response.status_code == 200
    assert await service.links() == [link("token-a"), link("token-a", user="200000002")]


async def test_an_empty_list_is_nothing_to_do(service: Service) -> None:
    for store, platform in (("apple", "ios"), ("google", "android")):
        response = await service.link(store, {"platform": platform, "subscriptions": []})
        assert response.status_code == 200, response.text
        assert response.json() == OK
    await service.assert_nothing_written()


# --------------------------------------------------------------------------------------------------
# Refused: nothing written


MESSAGES = {400: "INVALID_REQUEST", 401: "UNAUTHORISED", 403: "FORBIDDEN", 503: "SERVICE_UNAVAILABLE"}
TOKEN_FAILURES: list[tuple[Exception, int, str]] = [
    (TokenRejected("incorrect-token", "expired"), 401, "incorrect-token: expired"),
    (TokenRejected("incorrect-scope", "no scope"), 403, "incorrect-scope: no scope"),
    (TokenRejected("missing-identity-id", "no claim"), 400, "missing-identity-id: no claim"),
    (Retry("keys unreachable"), 503, "cannot check the access token now: keys unreachable"),
]


@pytest.mark.parametrize("store", ["apple", "google"])
async def test_each_token_failure_gives_its_status_with_nothing_written(service: Service, store: str) -> None:
    body = apple("ios", "1") if store == "apple" else google("android", "token-a")
    for answer, status, detail in TOKEN_FAILURES:
        service.tokens.answers[TOKEN] = answer
        response = await service.link(store, body)
        assert response.status_code == status, detail
        assert response.json() == {"status": status, "message": MESSAGES[status], "detail": detail}
        await service.assert_nothing_written()
    assert service.tokens.calls == [TOKEN] * len(TOKEN_FAILURES)


async def test_no_token_is_401_without_asking_the_issuer(service: Service) -> None:
    for authorization in (None, "", "Bearer ", "Bearer    "):
        response = await service.link("apple", apple("ios", "1"), authorization=authorization)
        assert response.status_code == 401, authorization
        assert response.json()["detail"] == "the Authorization header carries no bearer token"
    assert service.tokens.calls == []
    await service.assert_nothing_written()


async def test_an_unknown_token_is_401(service: Service) -> None:
    response = await service.link("google", google("android", "t"), authorization="Bearer forged")
    assert response.status_code == 401
    assert service.tokens.calls == ["Bearer forged"]
    await service.assert_nothing_written()


async def test_without_an_oidc_issuer_every_link_is_401(open_service: OpenService) -> None:
    service = await open_service(None)
    response = await service.link("apple", apple("ios", "1"))
    assert response.status_code == 401
    assert "OIDC is not configured" in response.json()["detail"]
    await service.assert_nothing_written()


async def test_the_token_is_checked_before_the_body_is_read(service: Service) -> None:
    response = await service.link("apple", None, authorization="Bearer forged", raw=b"{not json")
    assert response.status_code == 401


async def test_a_body_that_is_not_json_is_400(service: Service) -> None:
    """The original answered 500 (spec §6.2, §13.1.6)."""
    for store in ("apple", "google"):
        for raw in (b"{not json", b"", b"   ", b"\xff\xfe"):
            response = await service.link(store, None, raw=raw)
            assert response.status_code == 400, (store, raw)
            assert response.json()["message"] == "INVALID_REQUEST"
    await service.assert_nothing_written()


APPLE_ENTRY = {"receipt": "r", "originalTransactionId": "1"}
GOOGLE_ENTRY = {"purchaseToken": "t", "subscriptionId": "s"}


WRONG_BODIES: list[tuple[str, Any, str]] = [
    ("apple", [], 'the body must be {"platform": ..., "subscriptions": [...]}'),
    ("apple", "ios", 'the body must be {"platform": ..., "subscriptions": [...]}'),
    (
        "apple",
        {"subscriptions": [APPLE_ENTRY]},
        "platform must be one of ios, ios-puzzles, ios-edition, newsstand, ios-feast",
    ),
    (
        "apple",
        {"platform": "android", "subscriptions": [APPLE_ENTRY]},
        'platform "android" is not linked here; the Apple platforms are '
        "ios, ios-puzzles, ios-edition, newsstand, ios-feast",
    ),
    (
        "google",
        {"platform": "android-feast", "subscriptions": [GOOGLE_ENTRY]},
        'platform "android-feast" is not linked here; the Google platforms are '
        "android, android-puzzles, android-edition",
    ),
    (
        "google",
        {"platform": "ios", "subscriptions": [GOOGLE_ENTRY]},
        'platform "ios" is not linked here; the Google platforms are '
        "android, android-puzzles, android-edition",
    ),
    (
        "google",
        {"platform": 1, "subscriptions": []},
        "platform must be one of android, android-puzzles, android-edition",
    ),
    ("apple", {"platform": "ios"}, "subscriptions must be a list"),
    (
        "google",
        {"platform": "android", "subscriptions": {"0": GOOGLE_ENTRY}},
        "subscriptions must be a list",
    ),
    (
        "apple",
        {"platform": "ios", "subscriptions": [APPLE_ENTRY] * 101},
        "at most 100 subscriptions per request",
    ),
    (
        "apple",
        {"platform": "ios", "subscriptions": [APPLE_ENTRY, "1"]},
        "subscriptions[1] must be an object",
    ),
    (
        "apple",
        {"platform": "ios", "subscriptions": [APPLE_ENTRY, {"receipt": "r"}]},
        "subscriptions[1].originalTransactionId must be a non-empty string",
    ),
    (
        "apple",
        {"platform": "ios", "subscriptions": [{"receipt": "r", "originalTransactionId": 1}]},
        "subscriptions[0].originalTransactionId must be a non-empty string",
    ),
    (
        "apple",
        {"platform": "ios", "subscriptions": [{"receipt": "", "originalTransactionId": "1"}]},
        "subscriptions[0].receipt must be a non-empty string",
    ),
    (
        "apple",
        {"platform": "ios-feast", "subscriptions": [{"receipt": "r"}]},
        "subscriptions[0].originalTransactionId must be a non-empty string",
    ),
    (
        "google",
        {"platform": "android", "subscriptions": [GOOGLE_ENTRY, {"purchaseToken": "t2"}]},
        "subscriptions[1].subscriptionId must be a non-empty string",
    ),
    (
        "google",
        {"platform": "android", "subscriptions": [{"purchaseToken": None, "subscriptionId": "s"}]},
        "subscriptions[0].purchaseToken must be a non-empty string",
    ),
    (
        "google",
        {"platform": "android", "subscriptions": [{"purchaseToken": "t" * 1025, "subscriptionId": "s"}]},
        "subscriptions[0].purchaseToken is longer than 1024 characters",
    ),
]


async def test_a_wrong_body_is_400_with_nothing_written(service: Service) -> None:
    for store, body, detail in WRONG_BODIES:
        response = await service.link(store, body)
        assert response.status_code == 400, (body, response.text)
        assert response.json()["message"] == "INVALID_REQUEST"
        assert response.json()["detail"] == detail, body
    await service.assert_nothing_written()


async def test_the_routes_are_described(service: Service) -> None:
    spec = (await service.api.get("/openapi.json")).json()
    for store in ("apple", "google"):
        operation = spec["paths"][f"/{store}/linkToSubscriptions"]["post"]
        assert operation["summary"].startswith(
            f"Link the caller to {'App Store' if store == 'apple' else 'Google Play'}"
        )
        assert set(operation["responses"]) == {"200", "400", "401", "403", "503", "default"}
