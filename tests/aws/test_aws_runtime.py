"""The aws profile end to end on a moto server: the container's tables, queues, outbox and streams
are the template's (provisioned from ``synthesize``), and the same runtime as the local profile
drives the same flows through them."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]
import httpx
import pytest
from moto.server import ThreadedMotoServer

from supporterflow.adapters.clock import FrozenClock
from supporterflow.bootstrap import Container, bootstrap
from supporterflow.config import Settings
from supporterflow.deploy.cloudformation import synthesize
from supporterflow.deploy.provision import provision
from supporterflow.entrypoints.http import create_app
from supporterflow.runtime.process import Runtime
from supporterflow.topology import TOPOLOGY
from tests.aws.conftest import REGION
from tests.support import drive

ACCOUNT = "123456789012"  # moto's
DONATIONS = {"x-api-key": "donations-key", "content-type": "application/json"}
EMAIL = "dante.alighieri@test.sandbox.comicrelief.com"


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def endpoint(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    yield moto_endpoint
    httpx.post(f"{moto_endpoint}/moto-api/reset")  # every test starts from an empty account


def aws_settings(tmp_path: Path, endpoint: str, stage: str, urls: dict[str, str]) -> Settings:
    return Settings(
        profile="aws",
        stage=stage,
        database=tmp_path / "emulators" / "unused.sqlite3",  # the in-process emulators keep state beside it
        aws_endpoint_url=endpoint,
        aws_region=REGION,
        aws_account_id=ACCOUNT,
        identity_hash_key="test-identity-key",
        admin_api_keys="admin-key",
        producer_api_keys="donations:donations-key",
        object_store_url=f"s3://objects-{stage.lower()}",
        export_out=f"s3://exports-{stage.lower()}",
        external_queue_urls=urls,
        sqs_wait_seconds=1,  # a quick shutdown
    )


def provisioned(endpoint: str, stage: str) -> dict[str, str]:
    """The template's tables, queues and buckets; the other accounts' queues made up here."""
    session = boto3.session.Session(region_name=REGION)
    clients = {name: session.client(name, endpoint_url=endpoint) for name in ("dynamodb", "sqs", "s3")}
    template = synthesize(TOPOLOGY, app="mobile-purchases", stage=stage)
    provision(template, **clients, parameters={"ExportBucketName": f"exports-{stage.lower()}"})
    clients["s3"].create_bucket(
        Bucket=f"objects-{stage.lower()}", CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    return {
        name: clients["sqs"].create_queue(QueueName=f"other-account-{name}")["QueueUrl"]
        for name in ("soft-opt-in-consent-setter-queue", "braze-emails")
    }


@pytest.fixture
async def container(tmp_path: Path, endpoint: str) -> AsyncIterator[Container]:
    urls = provisioned(endpoint, "CODE")
    c = bootstrap(
        aws_settings(tmp_path, endpoint, "CODE", urls), clock=FrozenClock("2026-12-01T12:00:00+00:00")
    )
    c.open()
    yield c
    await c.aclose()


async def test_the_container_runs_on_the_templates_resources_under_the_originals_names(
    container: Container, endpoint: str
) -> None:
    dynamodb = boto3.client("dynamodb", region_name=REGION, endpoint_url=endpoint)
    names = dynamodb.list_tables()["TableNames"]
    assert {
        "mobile-purchases-CODE-subscriptions",
        "mobile-purchases-CODE-subscription-events-v2",
        "mobile-purchases-CODE-user-subscriptions",
        "mobile-purchases-CODE-outbox",
        "mobile-purchases-CODE-leases",
    } <= set(names)
    await container.tables["user-subscriptions"].put(
        {"userId": "u1", "subscriptionId": "s1", "creationTimestamp": "2026-12-01T12:00:00.000Z"}
    )
    raw = dynamodb.get_item(
        TableName="mobile-purchases-CODE-user-subscriptions",
        Key={"userId": {"S": "u1"}, "subscriptionId": {"S": "s1"}},
    )["Item"]
    assert raw["creationTimestamp"] == {"S": "2026-12-01T12:00:00.000Z"}


async def test_a_supporter_event_goes_through_the_outbox_sqs_and_the_consumer_to_erpnext(
    container: Container,
) -> None:
    api = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(container)), base_url="http://test")
    signup = {
        "firstName": "Dante",
        "lastName": "Alighieri",
        "identities": [{"kind": "email", "content": EMAIL}],
    }
    accepted = await api.post(
        "/supporter-events", content=json.dumps({"user-service": signup}), headers=DONATIONS
    )
    assert accepted.status_code == 200, accepted.text
    event_id = accepted.json()["data"]["id"]

    async def delivered() -> bool:
        state = (await api.get(f"/supporter-events/{event_id}", headers=DONATIONS)).json()["data"]
        return bool(state["status"] == "delivered")

    # The runtime relays the outbox row to SQS (the outbox stream), then the consumer delivers.
    await drive(Runtime(container, http=False), delivered, timeout_s=60)
    state: dict[str, Any] = (await api.get(f"/supporter-events/{event_id}", headers=DONATIONS)).json()["data"]
    assert [r["service"] for r in state["responses"]] == ["user-service"]
    assert (await container.queues["supporter-events-to-deliver"].depth()).total == 0
    await api.aclose()
