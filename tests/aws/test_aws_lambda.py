"""The flows on a moto server through the Lambda entry points only (``entrypoints.aws_lambda``):
the HTTP app behind Mangum, the consumers, the stream subscriptions, a schedule and the outbox
relay, fed by ``LambdaPoller`` as the event source mappings would feed them. Settings come from
the environment the template gives a function, its secrets from SSM."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import boto3  # type: ignore[import-untyped]
import pytest

from supporterflow.adapters.clock import SystemClock
from supporterflow.config import ConfigurationError, Settings, load_settings
from supporterflow.domain.subscriptions.dates import date_to_ms, to_iso
from supporterflow.entrypoints import aws_lambda
from supporterflow.functions.soft_opt_in import soi_event
from tests.aws.conftest import REGION
from tests.aws.lambda_poller import LambdaPoller
from tests.aws.lambda_runtime import http_event
from tests.aws.test_aws_runtime import (  # noqa: F401 (fixtures)
    ACCOUNT,
    DONATIONS,
    EMAIL,
    endpoint,
    moto_endpoint,
    provisioned,
)

APP, STAGE = "mobile-purchases", "CODE"
PREFIX = f"/{APP}/{STAGE}/"
# What the template's functions find in SSM (deploy/cloudformation.py: no secret in the template).
SECRETS = {
    "identity-hash-key": "test-identity-key",
    "admin-api-keys": "admin-key",
    "producer-api-keys": "donations:donations-key",
}


@dataclass
class World:
    settings: Settings
    poller: LambdaPoller
    urls: dict[str, str]  # the other accounts' queues
    clients: dict[str, Any]

    def table(self, name: str) -> str:
        return f"{APP}-{STAGE}-{name}"

    def queue_url(self, name: str) -> str:
        return self.url_of(f"{APP}-{STAGE}-{name}")

    def url_of(self, physical: str) -> str:
        return str(self.clients["sqs"].get_queue_url(QueueName=physical)["QueueUrl"])

    def messages_in(self, url: str) -> int:
        """Visible and in flight."""
        attributes = self.clients["sqs"].get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return sum(int(v) for v in attributes.values())

    def received(self, url: str, *, attributes: bool = False) -> list[dict[str, Any]]:
        """Every message of a queue, left in it (visible again at once)."""
        sqs = self.clients["sqs"]
        messages: list[dict[str, Any]] = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=0,
            MessageAttributeNames=["All"] if attributes else [],
        ).get("Messages", [])
        return messages


@pytest.fixture
def world(tmp_path: Path, endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:  # noqa: F811
    urls = provisioned(endpoint, STAGE)
    session = boto3.session.Session(region_name=REGION)
    clients = {name: session.client(name, endpoint_url=endpoint) for name in ("sqs", "dynamodb", "ssm")}
    for name, value in SECRETS.items():
        clients["ssm"].put_parameter(Name=PREFIX + name, Value=value, Type="SecureString")
        # Registered with monkeypatch (set, then unset: ``delenv`` alone records nothing for an
        # unset variable) so that what the cold start sets from SSM is removed after the test.
        monkeypatch.setenv(aws_lambda.ssm_variable(name), "")
        monkeypatch.delenv(aws_lambda.ssm_variable(name))
    # A function's environment as the template sets it, plus moto's endpoint.
    environment = {
        "SF_PROFILE": "aws",
        "SF_APP": APP,
        "SF_STAGE": STAGE,
        "SF_SSM_PREFIX": PREFIX,
        "SF_EXPORT_OUT": f"s3://exports-{STAGE.lower()}",
        "SF_EXTERNAL_QUEUE_URLS": json.dumps(urls),
        "SF_OBJECT_STORE_URL": f"s3://objects-{STAGE.lower()}",
        "SF_AWS_ENDPOINT_URL": endpoint,
        "SF_AWS_REGION": REGION,
        "SF_AWS_ACCOUNT_ID": ACCOUNT,
        "SF_DATABASE": str(tmp_path / "emulators" / "unused.sqlite3"),  # the emulators' state
        "SF_LOG_FORMAT": "console",
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("SF_FUNCTION", raising=False)
    aws_lambda.reset()
    settings = load_settings(identity_hash_key="unused", admin_api_keys="unused")
    try:
        yield World(settings, LambdaPoller(settings), urls, clients)
    finally:
        aws_lambda.reset()


def call_http(
    method: str, path: str, body: Any = None, headers: dict[str, str] = DONATIONS
) -> tuple[int, Any]:
    event = http_event(
        method, path, body=None if body is None else json.dumps(body), headers=headers, account=ACCOUNT
    )
    response = aws_lambda.http(event, None)
    return response["statusCode"], json.loads(response["body"])


def put_subscription(world: World, subscription_id: str, platform: str = "android") -> None:
    now = datetime.now(UTC)
    world.clients["dynamodb"].put_item(
        TableName=world.table("subscriptions"),
        Item={
            "subscriptionId": {"S": subscription_id},
            "platform": {"S": platform},
            "startTimestamp": {"S": to_iso(now - timedelta(hours=1))},
            "endTimestamp": {"S": to_iso(now + timedelta(days=30))},
            "productId": {"S": "uk.co.guardian.subscription.3"},
        },
    )


def test_ssm_parameters_fill_the_variables_that_are_not_set(world: World) -> None:
    ssm = world.clients["ssm"]
    ssm.put_parameter(Name=PREFIX + "nested/user-service-url", Value="https://users.example", Type="String")
    ssm.put_parameter(Name="/mobile-purchases/PROD/erpnext-url", Value="https://prod.example", Type="String")
    environ = {"SF_ADMIN_API_KEYS": "from-the-function"}

    added = aws_lambda.load_ssm_parameters(PREFIX, client=ssm, environ=environ)

    assert added == ["SF_IDENTITY_HASH_KEY", "SF_PRODUCER_API_KEYS", "SF_USER_SERVICE_URL"]
    assert environ == {
        "SF_ADMIN_API_KEYS": "from-the-function",  # set already: kept
        "SF_IDENTITY_HASH_KEY": "test-identity-key",  # a SecureString, decrypted
        "SF_PRODUCER_API_KEYS": "donations:donations-key",
        "SF_USER_SERVICE_URL": "https://users.example",  # nested under the prefix
    }


def test_a_supporter_event_posted_to_the_api_is_relayed_from_the_outbox_and_delivered(world: World) -> None:
    signup = {
        "firstName": "Dante",
        "lastName": "Alighieri",
        "identities": [{"kind": "email", "content": EMAIL}],
    }
    status, accepted = call_http("POST", "/supporter-events", {"user-service": signup})
    assert status == 200, accepted
    event_id = accepted["data"]["id"]

    def delivered() -> bool:
        return bool(call_http("GET", f"/supporter-events/{event_id}")[1]["data"]["status"] == "delivered")

    world.poller.run_until(delivered, timeout_s=30)
    state = call_http("GET", f"/supporter-events/{event_id}")[1]["data"]
    assert [r["service"] for r in state["responses"]] == ["user-service"]
    assert ("outbox_relay", "outbox-relay") in world.poller.invocations
    assert ("consumer", "supporter-events-to-deliver:supporter_consume") in world.poller.invocations
    assert world.received(world.queue_url("supporter-events-to-deliver")) == []


def test_a_new_link_reaches_the_soft_opt_in_stream_handler_and_the_consent_setter(world: World) -> None:
    put_subscription(world, "sub-1")
    world.clients["dynamodb"].put_item(
        TableName=world.table("user-subscriptions"),
        Item={
            "userId": {"S": "user-1"},
            "subscriptionId": {"S": "sub-1"},
            "creationTimestamp": {"S": to_iso(datetime.now(UTC))},
        },
    )
    consent_setter = world.urls["soft-opt-in-consent-setter-queue"]

    world.poller.run_until(lambda: bool(world.received(consent_setter)), timeout_s=30)

    assert [m["Body"] for m in world.received(consent_setter)] == [
        soi_event("user-1", "Acquisition", "android", "sub-1").decode()
    ]
    assert ("stream", "user-subscriptions-soft-opt-in") in world.poller.invocations


def test_a_schedule_runs_its_handler(world: World) -> None:
    put_subscription(world, "sub-2")
    waiting = {
        "subscriptionId": "sub-2",
        "identityId": "user-2",
        "timestamp": date_to_ms(SystemClock().now()),
    }
    world.clients["sqs"].send_message(
        QueueUrl=world.url_of(f"{APP}-soft-opt-in-acquisitions-DLQ-{STAGE}"), MessageBody=json.dumps(waiting)
    )
    response = world.poller.invoke(aws_lambda.schedule, "soi_dlq", {"source": "aws.events", "detail": {}})
    assert response["result"]["processed"] == 1
    consent_setter = world.urls["soft-opt-in-consent-setter-queue"]
    assert [m["Body"] for m in world.received(consent_setter)] == [
        soi_event("user-2", "Acquisition", "android", "sub-2").decode()
    ]


def test_a_message_its_handler_gives_up_on_is_dead_lettered_with_the_reason(world: World) -> None:
    world.clients["sqs"].send_message(
        QueueUrl=world.queue_url("google-subscriptions-to-fetch"), MessageBody="not json"
    )
    dlq = world.queue_url("google-subscriptions-to-fetch-dlq")

    world.poller.run_until(lambda: bool(world.received(dlq)), timeout_s=20)

    [dead] = world.received(dlq, attributes=True)
    assert dead["Body"] == "not json"
    assert dead["MessageAttributes"]["reason"]["StringValue"] == "GiveUp: the message is not JSON"
    assert world.received(world.queue_url("google-subscriptions-to-fetch")) == []


@pytest.mark.parametrize("retry_queues_to", ["stream", "consumer"])
def test_a_record_that_keeps_failing_goes_to_the_retry_queue_and_is_retried_from_there(
    world: World, monkeypatch: pytest.MonkeyPatch, retry_queues_to: Literal["stream", "consumer"]
) -> None:
    """The Feast router retries a link whose subscription is not stored: twice on the stream, then
    from its retry queue, reported as a batch item failure and visible again after the back-off,
    until the subscription is there."""
    poller = LambdaPoller(world.settings, retry_queues_to=retry_queues_to)
    router = "user-subscriptions-feast-acquisition-router"
    function = router if retry_queues_to == "stream" else f"{router}-retry:feast_acquisition_router"
    retry_queue = world.queue_url(f"{router}-retry")
    world.clients["dynamodb"].put_item(
        TableName=world.table("user-subscriptions"),
        Item={"userId": {"S": "user-3"}, "subscriptionId": {"S": "sub-3"}, "creationTimestamp": {"S": "x"}},
    )

    def reported() -> bool:
        return any(
            name == function and source == "aws:sqs" and response["batchItemFailures"]
            for _, name, source, response in poller.responses
        )

    poller.run_until(reported, timeout_s=20)
    assert world.messages_in(retry_queue) == 1  # left in the queue, invisible for the back-off
    put_subscription(world, "sub-3")  # not a Feast one: the router has nothing to send
    poller.run_until(lambda: world.messages_in(retry_queue) == 0, timeout_s=20)
    assert world.messages_in(world.queue_url(f"{router}-retry-dlq")) == 0


def test_an_unknown_or_missing_function_is_a_clear_error(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(
        ConfigurationError, match=r"SF_FUNCTION is not set.*supporter-events-to-deliver:supporter_consume"
    ):
        aws_lambda.consumer({"Records": []}, None)
    monkeypatch.setenv("SF_FUNCTION", "nope")
    with pytest.raises(
        ConfigurationError, match=r"SF_FUNCTION=nope names no schedule; the schedules are .*soi_dlq"
    ):
        aws_lambda.schedule({}, None)


def test_a_record_the_retry_queue_cannot_take_is_reported_with_every_record_after_it(world: World) -> None:
    router = "user-subscriptions-feast-acquisition-router"
    world.clients["sqs"].delete_queue(QueueUrl=world.queue_url(f"{router}-retry"))
    dynamodb = world.clients["dynamodb"]
    for user in ("user-4", "user-5"):  # no subscription: the router fails both, twice each
        dynamodb.put_item(
            TableName=world.table("user-subscriptions"),
            Item={"userId": {"S": user}, "subscriptionId": {"S": "sub-4"}, "creationTimestamp": {"S": "x"}},
        )
    stream_arn = dynamodb.describe_table(TableName=world.table("user-subscriptions"))["Table"][
        "LatestStreamArn"
    ]
    streams = boto3.client(
        "dynamodbstreams", region_name=REGION, endpoint_url=world.settings.aws_endpoint_url
    )
    [shard] = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]
    iterator = streams.get_shard_iterator(
        StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )
    records = streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
    event = {"Records": [world.poller.stream_record(stream_arn, r) for r in records]}

    response = world.poller.invoke(aws_lambda.stream, router, event)

    assert response == {
        "batchItemFailures": [{"itemIdentifier": r["dynamodb"]["SequenceNumber"]} for r in records]
    }
