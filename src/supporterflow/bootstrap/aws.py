"""The aws profile's storage: DynamoDB tables with the transactional outbox, SQS queues, S3,
DynamoDB Streams and DynamoDB leases, named as the original deployment names them.

The flows are the same; only what ``Container`` holds differs. Queue URLs are built from the
account, region and name (no ``GetQueueUrl`` at start); the other accounts' queues come from
``SF_EXTERNAL_QUEUE_URLS``. The change stream looks up each table's stream when it is first read,
so a Lambda function that never reads one makes no such call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]

from supporterflow.adapters.aws.change_stream import DynamoChangeStream, dynamo_change_stream
from supporterflow.adapters.aws.dynamodb import DynamoOutbox, DynamoTable
from supporterflow.adapters.aws.leases import DynamoLeases, leases_table_name
from supporterflow.adapters.aws.s3 import S3ObjectStore
from supporterflow.adapters.aws.sqs import SqsQueue
from supporterflow.adapters.aws.streams import DynamoCheckpoints, checkpoints_table_name
from supporterflow.config import ConfigurationError, Settings
from supporterflow.declare import OnChange, QueueDef, TableDef, Topology, physical_name
from supporterflow.ports import (
    ChangeRecord,
    ChangeStream,
    Clock,
    Coordination,
    ObjectStore,
    Queue,
    Retry,
    Table,
)

#: The outbox table (``deploy/cloudformation.py`` creates it with this name).
OUTBOX = TableDef("outbox", hash_key="id", ttl_attribute="ttl", stream=True)
OUTBOX_RELAY_DLQ = QueueDef("outbox-relay-dlq", dlq=False)


@dataclass
class AwsStorage:
    tables: dict[str, Table]
    queues: dict[str, Queue]
    stream: ChangeStream
    coordination: Coordination
    objects: ObjectStore
    # The outbox relay, for processes that relay themselves (serve); Lambda has a function for it.
    relay: tuple[OnChange, Callable[[ChangeRecord], Awaitable[None]], Queue] | None = None
    clients: dict[str, Any] = field(default_factory=dict)


class _LazyChangeStream:
    """A change stream built on first use (it looks each table's stream up)."""

    def __init__(self, build: Callable[[], Awaitable[DynamoChangeStream]]) -> None:
        self._build = build
        self._stream: asyncio.Task[DynamoChangeStream] | None = None

    async def _get(self) -> DynamoChangeStream:
        # One build shared by every caller: dispatchers start together, and each stream remembers
        # what it returned to whom (a second one would not know the first one's reads).
        if self._stream is None or (self._stream.done() and self._stream.exception() is not None):
            self._stream = asyncio.ensure_future(self._build())
        return await asyncio.shield(self._stream)

    async def read(self, subscriber: str, *, tables: Sequence[str], limit: int) -> list[ChangeRecord]:
        return await (await self._get()).read(subscriber, tables=tables, limit=limit)

    async def checkpoint(self, subscriber: str, sequence: int) -> None:
        await (await self._get()).checkpoint(subscriber, sequence)

    async def lag(self, subscriber: str, *, tables: Sequence[str]) -> int:
        return await (await self._get()).lag(subscriber, tables=tables)


def _boto3() -> Any:
    try:
        import boto3  # type: ignore[import-untyped]
    except ImportError:
        raise ConfigurationError("the aws profile needs boto3: pip install 'supporterflow[aws]'") from None
    return boto3


def queue_urls(settings: Settings, queues: Sequence[QueueDef]) -> dict[str, str]:
    """Every queue's URL: built from the account, region (or endpoint) and name, or configured for
    the other accounts' queues. Refuses to start when one of those is missing."""
    base = (settings.aws_endpoint_url or f"https://sqs.{settings.aws_region}.amazonaws.com").rstrip("/")
    urls: dict[str, str] = {}
    missing: list[str] = []
    for q in queues:
        if q.external:
            if q.name in settings.external_queue_urls:
                urls[q.name] = settings.external_queue_urls[q.name]
            else:
                missing.append(q.name)
        else:
            urls[q.name] = f"{base}/{settings.aws_account_id}/{q.physical_name(settings.app, settings.stage)}"
    if missing:
        raise ConfigurationError(
            "SF_EXTERNAL_QUEUE_URLS needs the URL of " + ", ".join(missing) + " (queues of other accounts)"
        )
    return urls


def aws_storage(settings: Settings, topology: Topology, clock: Clock) -> AwsStorage:
    boto3 = _boto3()
    session = boto3.session.Session(region_name=settings.aws_region)
    endpoint = {"endpoint_url": settings.aws_endpoint_url} if settings.aws_endpoint_url else {}
    dynamodb = session.client("dynamodb", **endpoint)
    sqs = session.client("sqs", **endpoint)
    s3 = session.client("s3", **endpoint)
    streams = session.client("dynamodbstreams", **endpoint)
    app, stage = settings.app, settings.stage

    definitions = [*topology.all_queues(), OUTBOX_RELAY_DLQ]
    urls = queue_urls(settings, definitions)
    queues: dict[str, SqsQueue] = {}
    for q in sorted(definitions, key=lambda d: d.dlq_name is not None):  # DLQs first
        dlq = queues[q.dlq_name] if q.dlq_name else None
        # Long polling (SF_SQS_WAIT_SECONDS): an idle queue costs one request per wait.
        queues[q.name] = SqsQueue(sqs, urls[q.name], name=q.name, dlq=dlq, wait_s=settings.sqs_wait_seconds)

    outbox = DynamoOutbox(
        physical_name(OUTBOX.name, None, app, stage), queue_urls=lambda queue: urls[queue.name]
    )
    tables: dict[str, Table] = {
        t.name: DynamoTable(dynamodb, t, table_name=t.physical_name(app, stage), outbox=outbox)
        for t in topology.tables
    }
    checkpoints = DynamoCheckpoints(dynamodb, checkpoints_table_name(app, stage))
    streamed = [*topology.tables, OUTBOX]
    stream = _LazyChangeStream(
        lambda: dynamo_change_stream(dynamodb, streams, streamed, checkpoints, app=app, stage=stage)
    )
    if settings.object_store_url is None:
        raise ConfigurationError("the aws profile needs SF_OBJECT_STORE_URL")
    return AwsStorage(
        tables=tables,
        queues=dict(queues),
        stream=stream,
        coordination=DynamoLeases(dynamodb, leases_table_name(app, stage), clock),
        objects=S3ObjectStore.from_url(settings.object_store_url, s3),
        relay=(RELAY, partial(outbox_relay, sqs=sqs), queues[OUTBOX_RELAY_DLQ.name]),
        clients={"dynamodb": dynamodb, "sqs": sqs, "s3": s3, "dynamodbstreams": streams},
    )


async def outbox_relay(record: ChangeRecord, *, sqs: Any) -> None:
    """Send one outbox row's message (``serve --profile aws``; on Lambda the ``outbox-relay``
    function sends them in batches)."""
    row = record.new_image or {}
    try:
        await asyncio.to_thread(
            sqs.send_message,
            QueueUrl=row["queueUrl"],
            MessageBody=row["body"],
            DelaySeconds=int(row.get("delaySeconds", 0)),
        )
    except (BotoCoreError, ClientError) as error:
        raise Retry(f"SQS SendMessage of an outbox row failed: {error!r}") from None


# The relay as a stream subscription: a failing send waits (with back-off) rather than skipping.
RELAY = OnChange("outbox", frozenset({"INSERT"}), outbox_relay, max_attempts=1_000_000, backoff_max_s=30.0)

__all__ = ["OUTBOX", "RELAY", "AwsStorage", "aws_storage", "outbox_relay", "queue_urls"]
