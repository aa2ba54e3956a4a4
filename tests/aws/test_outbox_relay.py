"""The outbox relay against moto's SQS: messages reach their queues in tens; failures are named."""

from __future__ import annotations

import json
from typing import Any, cast

import boto3  # type: ignore[import-untyped]

from supporterflow.adapters.aws.dynamodb import DynamoOutbox
from supporterflow.adapters.aws.outbox import relay
from supporterflow.adapters.aws.sqs import SqsQueue
from supporterflow.logs import correlation
from supporterflow.ports import Outgoing, Queue
from tests.aws.conftest import REGION


def record(
    sequence: int, queue_url: str, body: str, *, event: str = "INSERT", delay: int = 0
) -> dict[str, Any]:
    image = {
        "id": {"S": f"id-{sequence}"},
        "queueUrl": {"S": queue_url},
        "body": {"S": body},
        "delaySeconds": {"N": str(delay)},
        "ttl": {"N": "1900000000"},
    }
    return {"eventName": event, "dynamodb": {"SequenceNumber": str(sequence), "NewImage": image}}


def drain(sqs: Any, url: str) -> list[str]:
    bodies: list[str] = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
        bodies += [m["Body"] for m in messages]
        for m in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return bodies


async def test_messages_go_to_their_queues_in_batches_of_ten(aws: None) -> None:
    sqs = boto3.client("sqs", region_name=REGION)
    fetch = sqs.create_queue(QueueName="fetch")["QueueUrl"]
    other = sqs.create_queue(QueueName="other")["QueueUrl"]
    calls: list[int] = []

    class Counting:
        def send_message_batch(self, **kwargs: Any) -> Any:
            calls.append(len(kwargs["Entries"]))
            return sqs.send_message_batch(**kwargs)

    records = [record(i, fetch, json.dumps({"n": i})) for i in range(23)] + [record(99, other, "x")]
    records.append({"eventName": "REMOVE", "dynamodb": {"SequenceNumber": "100"}})
    assert await relay(records, Counting()) == []
    assert sorted(calls) == [1, 3, 10, 10]
    assert sorted(json.loads(b)["n"] for b in drain(sqs, fetch)) == list(range(23))
    assert drain(sqs, other) == ["x"]


async def test_what_could_not_be_sent_is_named_by_sequence_number(aws: None) -> None:
    class Refusing:
        def send_message_batch(self, **kwargs: Any) -> Any:
            return {
                "Successful": [{"Id": e["Id"]} for e in kwargs["Entries"] if e["Id"] != "1"],
                "Failed": [{"Id": "1", "Code": "InternalError", "SenderFault": False}],
            }

    class Broken:
        def send_message_batch(self, **kwargs: Any) -> Any:
            raise ConnectionError("no network")

    records = [record(i, "https://queue", "b") for i in (5, 6, 7)]
    assert await relay(records, Refusing()) == ["6"]
    assert await relay(records, Broken()) == ["5", "6", "7"]


class _Queue:
    name = "fetch"


async def test_the_writers_correlation_id_goes_from_the_outbox_row_to_the_message(aws: None) -> None:
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.create_queue(QueueName="fetch")["QueueUrl"]
    outbox = DynamoOutbox("outbox", lambda _: url)
    with correlation("req-9"):
        stamped, own = outbox.actions(
            [
                Outgoing(cast(Queue, _Queue()), b'{"n": 1}'),
                Outgoing(cast(Queue, _Queue()), b'{"n": 2}', correlation_id="earlier"),
            ]
        )
    (unstamped,) = outbox.actions([Outgoing(cast(Queue, _Queue()), b'{"n": 3}')])
    rows = [action["Put"]["Item"] for action in (stamped, own, unstamped)]
    assert [row.get("correlationId") for row in rows] == [{"S": "req-9"}, {"S": "earlier"}, None]

    records = [
        {"eventName": "INSERT", "dynamodb": {"SequenceNumber": str(n), "NewImage": row}}
        for n, row in enumerate(rows)
    ]
    assert await relay(records, sqs) == []

    received = await SqsQueue(sqs, url, name="fetch").receive(10, 30)
    by_n = {json.loads(m.body)["n"]: m.correlation_id for m in received}
    assert by_n == {1: "req-9", 2: "earlier", 3: None}
