"""DynamoChangeStream: the local StreamDispatcher reading DynamoDB Streams (moto), and a scripted
streams client for several shards, which moto does not make."""

from __future__ import annotations

import asyncio
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest

from supporterflow.adapters.aws.change_stream import DynamoChangeStream, dynamo_change_stream
from supporterflow.adapters.aws.leases import DynamoLeases, leases_table_name
from supporterflow.adapters.aws.sqs import SqsQueue
from supporterflow.adapters.aws.streams import (
    DynamoCheckpoints,
    DynamoStreamReader,
    MemoryCheckpoints,
    checkpoints_table_name,
    latest_stream_arn,
)
from supporterflow.adapters.clock import FrozenClock
from supporterflow.declare import OnChange, TableDef
from supporterflow.ports import ChangeRecord, ChangeStream
from supporterflow.runtime.dispatcher import StreamDispatcher, decode_record
from supporterflow.runtime.metrics import Metrics
from tests.aws.conftest import REGION
from tests.aws.test_streams import ARN, SUPPORTERS, FakeStreams, record

APP, STAGE = "app", "test"
PEOPLE = TableDef("people", hash_key="id", stream=True)
PEOPLE_TABLE = PEOPLE.physical_name(APP, STAGE)
CHECKPOINTS = checkpoints_table_name(APP, STAGE)
LEASES = leases_table_name(APP, STAGE)


def _table(client: Any, name: str, keys: list[str], *, stream: bool = False) -> None:
    kwargs: dict[str, Any] = {}
    if stream:
        kwargs["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    client.create_table(
        TableName=name,
        KeySchema=[
            {"AttributeName": key, "KeyType": kind}
            for key, kind in zip(keys, ["HASH", "RANGE"], strict=False)
        ],
        AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"} for key in keys],
        BillingMode="PAY_PER_REQUEST",
        **kwargs,
    )


@pytest.fixture
def dynamodb(aws: None) -> Any:
    client = boto3.client("dynamodb", region_name=REGION)
    _table(client, PEOPLE_TABLE, ["id"], stream=True)
    _table(client, CHECKPOINTS, ["subscriber", "shard"])
    _table(client, LEASES, ["name"])
    return client


@pytest.fixture
def streams_client(aws: None) -> Any:
    return boto3.client("dynamodbstreams", region_name=REGION)


@pytest.fixture
def checkpoints(dynamodb: Any) -> DynamoCheckpoints:
    return DynamoCheckpoints(dynamodb, CHECKPOINTS)


async def change_stream(
    dynamodb: Any, streams_client: Any, checkpoints: DynamoCheckpoints
) -> DynamoChangeStream:
    arn = await latest_stream_arn(dynamodb, PEOPLE_TABLE)
    return DynamoChangeStream({"people": DynamoStreamReader(streams_client, arn, PEOPLE, checkpoints)})


@pytest.fixture
async def stream(dynamodb: Any, streams_client: Any, checkpoints: DynamoCheckpoints) -> DynamoChangeStream:
    return await change_stream(dynamodb, streams_client, checkpoints)


@pytest.fixture
def retry_queue(aws: None) -> SqsQueue:
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.create_queue(QueueName="people-retry")["QueueUrl"]
    return SqsQueue(sqs, url, name="people-retry")


def put(dynamodb: Any, person: str, **attributes: str) -> None:
    item = {"id": {"S": person}, **{k: {"S": v} for k, v in attributes.items()}}
    dynamodb.put_item(TableName=PEOPLE_TABLE, Item=item)


def delete(dynamodb: Any, person: str) -> None:
    dynamodb.delete_item(TableName=PEOPLE_TABLE, Key={"id": {"S": person}})


class Recorder:
    """A stream handler that records (event, id) of each record it is handed; fails while
    ``failing`` is set."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []
        self.failing = False

    async def __call__(self, record: ChangeRecord) -> None:
        if self.failing:
            raise RuntimeError("handler down")
        self.seen.append((record.event_name, str(record.keys["id"])))


async def record_people(record: ChangeRecord) -> None:
    """The declared handler: only its name matters here (the subscriber is ``people-record-people``)."""


async def audit_people(record: ChangeRecord) -> None:
    """A second subscriber of the same table."""


def dispatcher(
    stream: ChangeStream,
    recorder: Recorder,
    retry_queue: SqsQueue,
    leases: DynamoLeases,
    *,
    handler: Any = record_people,
    max_attempts: int = 5,
) -> StreamDispatcher:
    subscription = OnChange(
        table="people",
        events=frozenset({"INSERT", "REMOVE"}),
        handler=handler,
        max_attempts=max_attempts,
    )
    return StreamDispatcher(
        subscription=subscription,
        stream=stream,
        handler=recorder,
        retry_queue=retry_queue,
        coordination=leases,
        owner="process-1",
        metrics=Metrics(),
    )


@pytest.fixture
def leases(dynamodb: Any) -> DynamoLeases:
    return DynamoLeases(dynamodb, LEASES, FrozenClock())


async def drain(d: StreamDispatcher) -> None:
    for _ in range(20):
        if not await d.dispatch_once():
            return
    raise AssertionError("the dispatcher never caught up")


def write_changes(dynamodb: Any) -> None:
    put(dynamodb, "p1", name="Ann")
    put(dynamodb, "p1", name="Anne")  # MODIFY: not subscribed
    delete(dynamodb, "p1")
    put(dynamodb, "p2", name="Bo")


EXPECTED = [("INSERT", "p1"), ("REMOVE", "p1"), ("INSERT", "p2")]


# --------------------------------------------------------------------------------------------------
# The dispatcher on moto


async def test_the_dispatcher_delivers_each_change_once_in_order(
    dynamodb: Any, stream: DynamoChangeStream, retry_queue: SqsQueue, leases: DynamoLeases
) -> None:
    write_changes(dynamodb)
    recorder = Recorder()
    d = dispatcher(stream, recorder, retry_queue, leases)

    await drain(d)
    assert recorder.seen == EXPECTED
    assert await d.dispatch_once() == 0
    assert recorder.seen == EXPECTED

    delete(dynamodb, "p2")
    await drain(d)
    assert recorder.seen == [*EXPECTED, ("REMOVE", "p2")]
    assert (await retry_queue.depth()).total == 0


async def test_the_dispatcher_runs_under_a_dynamo_lease(
    dynamodb: Any, stream: DynamoChangeStream, retry_queue: SqsQueue, leases: DynamoLeases
) -> None:
    write_changes(dynamodb)
    recorder = Recorder()
    d = dispatcher(stream, recorder, retry_queue, leases)
    lease = f"stream:{d.name}"

    # Another process holds the lease: nothing is delivered here.
    assert await leases.acquire(lease, "process-2", 30)
    task = asyncio.create_task(d.run())
    await asyncio.sleep(0.2)
    assert recorder.seen == []
    d.stop()
    await task

    await leases.release(lease, "process-2")
    d = dispatcher(stream, recorder, retry_queue, leases)
    task = asyncio.create_task(d.run())
    for _ in range(200):
        if len(recorder.seen) == len(EXPECTED):
            break
        await asyncio.sleep(0.02)
    assert await leases.acquire(lease, "process-2", 30) is False  # held by the running dispatcher
    d.stop()
    await task
    assert recorder.seen == EXPECTED
    assert await leases.acquire(lease, "process-2", 30)  # released when it stopped


async def test_a_failing_record_goes_to_the_retry_queue(
    dynamodb: Any, stream: DynamoChangeStream, retry_queue: SqsQueue, leases: DynamoLeases
) -> None:
    put(dynamodb, "p1", name="Ann")
    recorder = Recorder()
    recorder.failing = True
    d = dispatcher(stream, recorder, retry_queue, leases, max_attempts=1)

    await drain(d)

    received = await retry_queue.receive(10, 30)
    assert len(received) == 1
    retried = decode_record(received[0].body)
    assert (retried.event_name, retried.keys, retried.new_image) == (
        "INSERT",
        {"id": "p1"},
        {"id": "p1", "name": "Ann"},
    )
    assert await stream.read(d.name, tables=["people"], limit=10) == []  # the stream moved on


async def test_checkpoints_survive_a_new_change_stream(
    dynamodb: Any,
    streams_client: Any,
    checkpoints: DynamoCheckpoints,
    stream: DynamoChangeStream,
    retry_queue: SqsQueue,
    leases: DynamoLeases,
) -> None:
    write_changes(dynamodb)
    await drain(dispatcher(stream, Recorder(), retry_queue, leases))

    # A restart: a new reader and change stream over the same checkpoints table.
    again = await change_stream(dynamodb, streams_client, DynamoCheckpoints(dynamodb, CHECKPOINTS))
    recorder = Recorder()
    d = dispatcher(again, recorder, retry_queue, leases)
    await drain(d)
    assert recorder.seen == []

    put(dynamodb, "p3", name="Cy")
    await drain(d)
    assert recorder.seen == [("INSERT", "p3")]


async def test_a_second_subscriber_reads_independently(
    dynamodb: Any, stream: DynamoChangeStream, retry_queue: SqsQueue, leases: DynamoLeases
) -> None:
    write_changes(dynamodb)
    first, second = Recorder(), Recorder()
    one = dispatcher(stream, first, retry_queue, leases)
    two = dispatcher(stream, second, retry_queue, leases, handler=audit_people)
    assert one.name != two.name

    await drain(one)
    assert first.seen == EXPECTED
    # The first subscriber's checkpoint does not move the second's.
    records = await stream.read(two.name, tables=["people"], limit=2)
    assert [r.event_name for r in records] == ["INSERT", "MODIFY"]
    assert await stream.read(two.name, tables=["people"], limit=2) == records  # not checkpointed yet

    await drain(two)
    assert second.seen == EXPECTED
    assert await stream.read(one.name, tables=["people"], limit=10) == []


async def test_the_factory_reads_the_streamed_tables(dynamodb: Any, streams_client: Any) -> None:
    unstreamed = TableDef("settings", hash_key="id")
    stream = await dynamo_change_stream(
        dynamodb, streams_client, [PEOPLE, unstreamed], MemoryCheckpoints(), app=APP, stage=STAGE
    )
    assert stream.tables == ["people"]
    put(dynamodb, "p1", name="Ann")
    records = await stream.read("sub", tables=["people"], limit=10)
    assert [(r.table, r.event_name, r.keys) for r in records] == [("people", "INSERT", {"id": "p1"})]


# --------------------------------------------------------------------------------------------------
# The port's contract


async def test_one_table_per_read(stream: DynamoChangeStream) -> None:
    with pytest.raises(ValueError, match="one table per call"):
        await stream.read("sub", tables=[], limit=10)
    with pytest.raises(ValueError, match="one table per call"):
        await stream.read("sub", tables=["people", "other"], limit=10)
    with pytest.raises(ValueError, match="no stream reader for table 'other'"):
        await stream.read("sub", tables=["other"], limit=10)
    assert await stream.read("sub", tables=["people", "people"], limit=10) == []


async def test_lag_is_not_counted(dynamodb: Any, stream: DynamoChangeStream) -> None:
    put(dynamodb, "p1", name="Ann")
    assert await stream.lag("sub", tables=["people"]) == 0


async def test_a_checkpoint_names_a_record_of_the_last_read(
    stream: DynamoChangeStream, dynamodb: Any
) -> None:
    with pytest.raises(ValueError, match="not returned by the last read"):
        await stream.checkpoint("sub", 1)
    put(dynamodb, "p1", name="Ann")
    (only,) = await stream.read("sub", tables=["people"], limit=10)
    with pytest.raises(ValueError, match="subscriber 'other'"):
        await stream.checkpoint("other", only.sequence)
    await stream.checkpoint("sub", only.sequence)
    assert await stream.read("sub", tables=["people"], limit=10) == []


# --------------------------------------------------------------------------------------------------
# Several shards (scripted)


def scripted(
    shards: list[tuple[str, str | None, list[dict[str, Any]], bool]],
) -> tuple[DynamoChangeStream, MemoryCheckpoints]:
    checkpoints = MemoryCheckpoints()
    reader = DynamoStreamReader(FakeStreams(shards), ARN, SUPPORTERS, checkpoints)
    return DynamoChangeStream({"supporters": reader}), checkpoints


async def test_each_read_returns_one_shard() -> None:
    stream, checkpoints = scripted(
        [
            ("one", None, [record(10, "a"), record(11, "a", "MODIFY")], False),
            ("two", None, [record(20, "b"), record(21, "b", "REMOVE")], False),
        ]
    )

    first = await stream.read("sub", tables=["supporters"], limit=10)
    assert [r.sequence for r in first] == [10, 11]
    await stream.checkpoint("sub", first[-1].sequence)
    assert await checkpoints.get("sub", "one") == "11"
    assert await checkpoints.get("sub", "two") is None

    second = await stream.read("sub", tables=["supporters"], limit=10)
    assert [r.sequence for r in second] == [20, 21]
    with pytest.raises(ValueError, match="not returned by the last read"):
        await stream.checkpoint("sub", 11)  # of an earlier read
    await stream.checkpoint("sub", second[-1].sequence)
    assert await checkpoints.get("sub", "two") == "21"
    assert await stream.read("sub", tables=["supporters"], limit=10) == []


async def test_records_of_other_shards_come_again_later() -> None:
    stream, _ = scripted(
        [
            ("one", None, [record(10, "a")], False),
            ("two", None, [record(20, "b")], False),
        ]
    )
    seen: list[int] = []
    for _ in range(3):
        records = await stream.read("sub", tables=["supporters"], limit=10)
        assert len(records) <= 1
        if records:
            await stream.checkpoint("sub", records[-1].sequence)
        seen += [r.sequence for r in records]
    assert sorted(seen) == [10, 20]


async def test_a_child_shard_after_its_parent() -> None:
    stream, _ = scripted(
        [
            ("child", "parent", [record(30, "a", "REMOVE")], False),
            ("parent", None, [record(10, "a"), record(11, "a", "MODIFY")], True),
        ]
    )
    seen: list[int] = []
    for _ in range(4):
        records = await stream.read("sub", tables=["supporters"], limit=10)
        if records:
            await stream.checkpoint("sub", records[-1].sequence)
        seen += [r.sequence for r in records]
    assert seen == [10, 11, 30]
