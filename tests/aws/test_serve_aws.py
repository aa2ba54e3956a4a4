"""``supporterflow serve --profile aws`` as a long-running process (the container alternative to
Lambda) against a moto server provisioned from the template: an App Store and a Google Play
notification, sent as an operator would with ``send-test-notification``, end up as subscription
rows in the original's DynamoDB table, through the outbox, SQS and the fetch consumers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest

from tests.aws.conftest import REGION
from tests.aws.test_aws_runtime import ACCOUNT, endpoint, moto_endpoint, provisioned  # noqa: F401 (fixtures)
from tests.e2e.conftest import Server, free_port, wait_until

pytestmark = pytest.mark.slow

SUBSCRIPTIONS = "mobile-purchases-CODE-subscriptions"


@pytest.fixture
def server(tmp_path: Path, endpoint: str) -> Iterator[Server]:  # noqa: F811 (the fixture above)
    urls = provisioned(endpoint, "CODE")
    aws = {name: os.environ[name] for name in os.environ if name.startswith("AWS_")}
    service = Server(
        tmp_path,
        "supporterflow.topology:TOPOLOGY",
        free_port(),
        env={
            **aws,
            "SF_PROFILE": "aws",
            "SF_AWS_ENDPOINT_URL": endpoint,
            "SF_AWS_REGION": REGION,
            "SF_AWS_ACCOUNT_ID": ACCOUNT,
            "SF_IDENTITY_HASH_KEY": "e2e-identity-key",
            "SF_OBJECT_STORE_URL": "s3://objects-code",
            "SF_EXPORT_OUT": "s3://exports-code",
            "SF_EXTERNAL_QUEUE_URLS": json.dumps(urls),
            "SF_SQS_WAIT_SECONDS": "1",
            "SF_MAX_BODY_BYTES": "1048576",
        },
    )
    service.start(timeout_s=60)
    yield service
    service.stop()


def send(server: Server, *arguments: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "supporterflow.entrypoints.cli", *arguments],
        cwd=server.tmp_path,
        env=server.environment(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def rows(url: str) -> list[dict[str, Any]]:
    dynamodb = boto3.client("dynamodb", region_name=REGION, endpoint_url=url)
    items: list[dict[str, Any]] = dynamodb.scan(TableName=SUBSCRIPTIONS)["Items"]
    return items


def stored(url: str, payload: str) -> dict[str, Any] | None:
    """The subscription row whose ``payload`` attribute is not NULL (App Store or Google Play)."""
    return next((r for r in rows(url) if "M" in r.get(payload, {})), None)


def test_serve_profile_aws_processes_an_app_store_and_a_google_play_notification(
    server: Server,
    endpoint: str,  # noqa: F811 (the fixture above)
) -> None:
    send(server, "apple", "send-test-notification", "--type", "SUBSCRIBED")
    wait_until(
        lambda: any("applePayload" in r and "NULL" not in r["applePayload"] for r in rows(endpoint)),
        60,
        "the App Store subscription row",
    )
    send(server, "google", "send-test-notification", "--type", "purchase")
    wait_until(
        lambda: any("googlePayload" in r and "NULL" not in r["googlePayload"] for r in rows(endpoint)),
        60,
        "the Google Play subscription row",
    )
    apple = next(r for r in rows(endpoint) if "NULL" not in r.get("applePayload", {"NULL": True}))
    google = next(r for r in rows(endpoint) if "NULL" not in r.get("googlePayload", {"NULL": True}))
    # Rows as the original writes them (spec §1.3): strings, booleans, numbers as DynamoDB types.
    assert set(apple["autoRenewing"]) == {"BOOL"}
    assert set(apple["ttl"]) == {"N"}
    assert set(google["endTimestamp"]) == {"S"}
    assert "runtime started" in server.log()


def test_dlq_replay_on_the_aws_profile_moves_every_dead_letter_back(tmp_path: Path, endpoint: str) -> None:  # noqa: F811
    from typer.testing import CliRunner

    from supporterflow.entrypoints.cli import app

    urls = provisioned(endpoint, "CODE")
    sqs = boto3.client("sqs", region_name=REGION, endpoint_url=endpoint)
    base = f"{endpoint}/{ACCOUNT}/mobile-purchases-CODE-supporter-events-to-deliver"
    for n in range(3):
        sqs.send_message(
            QueueUrl=base + "-dlq",
            MessageBody=json.dumps({"n": n}),
            MessageAttributes={"source_queue_url": {"DataType": "String", "StringValue": base}},
        )
    env = {
        "SF_PROFILE": "aws",
        "SF_DATABASE": str(tmp_path / "x.sqlite3"),
        "SF_AWS_ENDPOINT_URL": endpoint,
        "SF_AWS_ACCOUNT_ID": ACCOUNT,
        "SF_IDENTITY_HASH_KEY": "k",
        "SF_ADMIN_API_KEYS": "a",
        "SF_OBJECT_STORE_URL": "s3://objects-code",
        "SF_EXPORT_OUT": "s3://exports-code",
        "SF_EXTERNAL_QUEUE_URLS": json.dumps(urls),
        "SF_SQS_WAIT_SECONDS": "0",
    }
    result = CliRunner().invoke(app, ["dlq", "replay", "supporter-events-to-deliver", "--yes"], env=env)
    assert result.exit_code == 0, result.output
    assert "3 messages replayed" in result.output
    received = sqs.receive_message(QueueUrl=base, MaxNumberOfMessages=10)["Messages"]
    assert sorted(json.loads(m["Body"])["n"] for m in received) == [0, 1, 2]
