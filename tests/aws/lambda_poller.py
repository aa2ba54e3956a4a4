"""What Lambda's event source mappings would do, in process, against a moto server: poll the
queues and the streams of the template and call ``entrypoints.aws_lambda``'s handlers with the
events AWS documents, ``SF_FUNCTION`` set as the template sets it.

- Queues: each consumer's queue -> ``consumer`` (``SF_FUNCTION`` = ``Consumer.name``); each stream
  subscription's retry queue -> ``stream`` (``SF_FUNCTION`` = the subscription's name), as the
  template wires them. ``ReceiveMessage`` uses the queue's visibility timeout; the poller deletes
  nothing (the handler settles the messages it does not report as failures), and a message named
  in ``batchItemFailures`` is simply left to come back.
- Streams: each streamed table's shards are read (``DescribeStream``, ``GetShardIterator``
  ``TRIM_HORIZON`` then ``AFTER_SEQUENCE_NUMBER`` of the last record delivered, ``GetRecords``) for
  each subscriber of the table (its ``OnChange``s -> ``stream``; the outbox -> ``outbox_relay``),
  keeping a position per subscriber and shard as each mapping does, and filtered by event name as
  the mappings' filter criteria. A batch whose response names a ``SequenceNumber`` is read again
  from that record at the next poll (unlike AWS, without a limit of retries: the tests fail by
  their timeout instead).
- Schedules: what EventBridge does, on the clock given (the container's, which a test may move):
  each schedule of the topology -> ``schedule`` (``SF_FUNCTION`` = ``Schedule.name``) when due,
  its first due time counted from the poller's creation.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import boto3  # type: ignore[import-untyped]

from supporterflow.adapters.clock import SystemClock
from supporterflow.bootstrap.aws import OUTBOX
from supporterflow.config import Settings
from supporterflow.declare import Topology
from supporterflow.entrypoints import aws_lambda
from supporterflow.ports import Clock
from supporterflow.runtime.scheduler import next_fire
from supporterflow.topology import TOPOLOGY

Handler = Callable[[dict[str, Any], Any], Any]


@dataclass
class _QueueSource:
    function: str
    handler: Handler
    url: str
    arn: str
    batch_size: int


@dataclass
class _StreamSubscriber:
    function: str
    handler: Handler
    events: frozenset[str]
    table: str  # physical
    batch_size: int
    positions: dict[str, str] = field(default_factory=dict)  # shard id -> last sequence delivered


class LambdaPoller:
    def __init__(
        self,
        settings: Settings,
        *,
        topology: Topology = TOPOLOGY,
        retry_queues_to: Literal["stream", "consumer"] = "stream",
        clock: Clock | None = None,
    ) -> None:
        """``retry_queues_to``: the function a retry queue triggers, the subscription's (as the
        template wires it) or the consumer named ``<retry queue>:<handler>``."""
        session = boto3.session.Session(region_name=settings.aws_region)
        endpoint = settings.aws_endpoint_url
        self.sqs = session.client("sqs", endpoint_url=endpoint)
        self.dynamodb = session.client("dynamodb", endpoint_url=endpoint)
        self.streams = session.client("dynamodbstreams", endpoint_url=endpoint)
        self.region = settings.aws_region
        self.invocations: list[tuple[str, str]] = []  # (handler, SF_FUNCTION)
        self.responses: list[tuple[str, str, str, Any]] = []  # (handler, SF_FUNCTION, source, response)
        app, stage = settings.app, settings.stage
        self.queues = [
            self._queue(
                c.name, aws_lambda.consumer, topology.queue(c.queue).physical_name(app, stage), c.batch_size
            )
            for c in topology.consumers
        ] + [
            self._queue(s.name, aws_lambda.stream, s.retry_queue.physical_name(app, stage), 10)
            if retry_queues_to == "stream"
            else self._queue(
                f"{s.retry_queue.name}:{s.handler.__name__}",
                aws_lambda.consumer,
                s.retry_queue.physical_name(app, stage),
                10,
            )
            for s in topology.streams
        ]
        self.subscribers = [
            _StreamSubscriber(
                s.name,
                aws_lambda.stream,
                frozenset(s.events),
                topology_table(topology, s.table).physical_name(app, stage),
                s.batch_size,
            )
            for s in topology.streams
        ] + [
            _StreamSubscriber(
                "outbox-relay",
                aws_lambda.outbox_relay,
                frozenset({"INSERT"}),
                OUTBOX.physical_name(app, stage),
                100,
            )
        ]
        self._stream_arns: dict[str, str] = {}
        self.clock = clock or SystemClock()
        now = self.clock.now()
        self.schedules = {s.name: (s, next_fire(s, now)) for s in topology.schedules}

    def _queue(self, function: str, handler: Handler, physical: str, batch_size: int) -> _QueueSource:
        url = self.sqs.get_queue_url(QueueName=physical)["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        return _QueueSource(function, handler, url, arn, batch_size)

    def invoke(self, handler: Handler, function: str, event: dict[str, Any]) -> Any:
        """``handler(event)`` with ``SF_FUNCTION`` set to ``function`` for the call, as in the
        function's environment."""
        before = os.environ.get(aws_lambda.FUNCTION_VARIABLE)
        os.environ[aws_lambda.FUNCTION_VARIABLE] = function
        self.invocations.append((handler.__name__, function))
        try:
            response = handler(event, None)
        finally:
            if before is None:
                del os.environ[aws_lambda.FUNCTION_VARIABLE]
            else:
                os.environ[aws_lambda.FUNCTION_VARIABLE] = before
        source = (event.get("Records") or [{}])[0].get("eventSource", "-")
        self.responses.append((handler.__name__, function, source, response))
        return response

    # queues -------------------------------------------------------------------------------------

    def poll_queues(self) -> int:
        """One receive per queue; returns how many messages were handed to a handler."""
        handed = 0
        for source in self.queues:
            messages = self.sqs.receive_message(
                QueueUrl=source.url,
                MaxNumberOfMessages=min(source.batch_size, 10),
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
                WaitTimeSeconds=0,
            ).get("Messages", [])
            if messages:
                event = {"Records": [self._sqs_record(source, m) for m in messages]}
                response = self.invoke(source.handler, source.function, event)
                assert "batchItemFailures" in response, response
                handed += len(messages)
        return handed

    def _sqs_record(self, source: _QueueSource, message: dict[str, Any]) -> dict[str, Any]:
        attributes = {
            name: {
                "stringValue": value.get("StringValue"),
                "binaryValue": value.get("BinaryValue"),
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": value["DataType"],
            }
            for name, value in message.get("MessageAttributes", {}).items()
        }
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": message["Attributes"],
            "messageAttributes": attributes,
            "md5OfBody": message["MD5OfBody"],
            "eventSource": "aws:sqs",
            "eventSourceARN": source.arn,
            "awsRegion": self.region,
        }

    # streams ------------------------------------------------------------------------------------

    def _stream_arn(self, table: str) -> str:
        if table not in self._stream_arns:
            self._stream_arns[table] = self.dynamodb.describe_table(TableName=table)["Table"][
                "LatestStreamArn"
            ]
        return self._stream_arns[table]

    def poll_streams(self) -> int:
        """One GetRecords per subscriber and shard; returns how many records were read."""
        read = 0
        for subscriber in self.subscribers:
            arn = self._stream_arn(subscriber.table)
            shards = self.streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
            for shard in shards:
                read += self._poll_shard(subscriber, arn, shard["ShardId"])
        return read

    def _poll_shard(self, subscriber: _StreamSubscriber, arn: str, shard_id: str) -> int:
        last = subscriber.positions.get(shard_id)
        position = (
            {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": last}
            if last
            else {"ShardIteratorType": "TRIM_HORIZON"}
        )
        iterator = self.streams.get_shard_iterator(StreamArn=arn, ShardId=shard_id, **position)[
            "ShardIterator"
        ]
        records = self.streams.get_records(ShardIterator=iterator, Limit=subscriber.batch_size)["Records"]
        if not records:
            return 0
        wanted = [r for r in records if r["eventName"] in subscriber.events]  # the mapping's filter
        failed: set[str] = set()
        if wanted:
            event = {"Records": [self.stream_record(arn, r) for r in wanted]}
            response = self.invoke(subscriber.handler, subscriber.function, event)
            failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
        done = records
        if failed:  # delivered again from the first failure
            first = min(i for i, r in enumerate(records) if r["dynamodb"]["SequenceNumber"] in failed)
            done = records[:first]
        if done:
            subscriber.positions[shard_id] = done[-1]["dynamodb"]["SequenceNumber"]
        return len(records)

    def stream_record(self, arn: str, record: dict[str, Any]) -> dict[str, Any]:
        """A ``GetRecords`` record as Lambda hands it over: epoch seconds, the stream ARN, and
        ``userIdentity`` with lower-case keys."""
        event = {k: v for k, v in record.items() if k != "userIdentity"}
        data = dict(record["dynamodb"])
        created = data.get("ApproximateCreationDateTime")
        if created is not None and hasattr(created, "timestamp"):
            data["ApproximateCreationDateTime"] = int(created.timestamp())
        event["dynamodb"] = data
        event["eventSourceARN"] = arn
        event.setdefault("eventSource", "aws:dynamodb")
        event.setdefault("awsRegion", self.region)
        identity = record.get("userIdentity")
        if identity:
            event["userIdentity"] = {"type": identity.get("Type"), "principalId": identity.get("PrincipalId")}
        return event

    # schedules ----------------------------------------------------------------------------------

    def poll_schedules(self) -> int:
        """Run each schedule that is due, as EventBridge would; returns how many ran."""
        ran = 0
        for name, (schedule, due) in list(self.schedules.items()):
            now = self.clock.now()
            if now < due:
                continue
            self.invoke(aws_lambda.schedule, name, {"source": "aws.events", "detail-type": "Scheduled Event"})
            self.schedules[name] = (schedule, next_fire(schedule, now))
            ran += 1
        return ran

    # driving ------------------------------------------------------------------------------------

    def poll(self) -> int:
        return self.poll_schedules() + self.poll_streams() + self.poll_queues()

    def run_until(self, condition: Callable[[], bool], timeout_s: float = 30.0) -> None:
        """Poll the streams and queues until ``condition()`` holds."""
        deadline = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"condition not reached within {timeout_s} s; invocations: {self.invocations}"
                )
            if not self.poll():
                time.sleep(0.05)


def topology_table(topology: Topology, name: str) -> Any:
    return next(t for t in topology.tables if t.name == name)
