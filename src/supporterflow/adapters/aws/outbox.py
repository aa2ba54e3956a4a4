"""The relay of the DynamoDB transactional outbox: stream records of the outbox table -> SQS.

Why an outbox: the ``Table`` port promises that the messages of a write (``then_send``) exist if and
only if the write happened. SQS cannot join a DynamoDB transaction, so the DynamoDB adapter writes
the row and one outbox row per message in one ``TransactWriteItems``; the outbox table's stream
(INSERTs only) triggers this relay, which sends them. The outbox rows expire by TTL (no delete
request): per message that is one transactional write and one share of a ``SendMessageBatch``,
the same two requests the original spent on its unatomic ``PutItem`` + ``SendMessage``.

A row's ``correlationId`` (the request or message that made the write) goes on as the message
attribute ``correlation_id``, as ``SqsQueue`` sends it.

Delivery is at least once (a stream batch can be retried after some of its messages went), as
every consumer here expects.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any, Final, NamedTuple

from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]

from supporterflow.adapters.aws.sqs import correlation_attributes

MAX_BATCH: Final = 10  # SQS SendMessageBatch


class _Message(NamedTuple):
    sequence: str
    body: str
    delay_s: int
    correlation_id: str | None


def _message(record: Mapping[str, Any]) -> tuple[str, _Message]:
    image = record["dynamodb"]["NewImage"]
    return image["queueUrl"]["S"], _Message(
        record["dynamodb"]["SequenceNumber"],
        image["body"]["S"],
        int(image.get("delaySeconds", {"N": "0"})["N"]),
        image.get("correlationId", {}).get("S"),
    )


async def relay(records: Sequence[Mapping[str, Any]], client: Any) -> list[str]:
    """Send the message of every INSERT record to its queue, ``SendMessageBatch`` by ten per queue.
    Returns the ``SequenceNumber`` of each record whose message was not sent: the Lambda reports them
    as batch item failures, and the event source mapping retries from the first of them."""
    by_queue: dict[str, list[_Message]] = defaultdict(list)
    for record in records:
        if record.get("eventName") != "INSERT":
            continue  # TTL removals of sent rows
        queue_url, message = _message(record)
        by_queue[queue_url].append(message)
    failed: list[str] = []
    for queue_url, messages in by_queue.items():
        for start in range(0, len(messages), MAX_BATCH):
            chunk = messages[start : start + MAX_BATCH]
            failed += await _send(client, queue_url, chunk)
    return failed


async def _send(client: Any, queue_url: str, chunk: list[_Message]) -> list[str]:
    entries = [
        {
            "Id": str(number),
            "MessageBody": message.body,
            "DelaySeconds": message.delay_s,
            "MessageAttributes": correlation_attributes(message.correlation_id),
        }
        for number, message in enumerate(chunk)
    ]
    try:
        response = await asyncio.to_thread(client.send_message_batch, QueueUrl=queue_url, Entries=entries)
    except (BotoCoreError, ClientError, OSError):  # the call failed: the whole chunk is retried
        return [message.sequence for message in chunk]
    return [chunk[int(entry["Id"])].sequence for entry in response.get("Failed", [])]
