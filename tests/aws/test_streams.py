"""DynamoStreamReader against moto's DynamoDB Streams, and against a scripted streams client for
what moto does not do (several shards, split parents and children, expired iterators, trimming,
throttling)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest
from botocore.exceptions import ClientError  # type: ignore[import-untyped]

from supporterflow.adapters.aws.streams import (
    CHECKPOINT_TTL_S,
    DynamoCheckpoints,
    DynamoStreamReader,
    MemoryCheckpoints,
    checkpoints_table_name,
    latest_stream_arn,
)
from supporterflow.declare import TableDef
from supporterflow.ports import ChangeRecord, Retry
from tests.aws.conftest import REGION

SUPPORTERS = TableDef("supporters", hash_key="id", sort_key="kind", stream=True, strings=frozenset({"name"}))
PHYSICAL = SUPPORTERS.physical_name("app", "test")


class Calls:
    """A boto3 client that counts its calls by operation."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.counts: dict[str, int] = {}

    def __getattr__(self, operation: str) -> Any:
        method = getattr(self.client, operation)

        def call(**kwargs: Any) -> Any:
            self.counts[operation] = self.counts.get(operation, 0) + 1
            return method(**kwargs)

        return call


@pytest.fixture
def dynamodb(aws: None) -> Any:
    client = boto3.client("dynamodb", region_name=REGION)
    client.create_table(
        TableName=PHYSICAL,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}, {"AttributeName": "kind", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "id", "AttributeType": "S"},
            {"AttributeName": "kind", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    return client


@pytest.fixture
def streams(aws: None) -> Calls:
    return Calls(boto3.client("dynamodbstreams", region_name=REGION))


@pytest.fixture
async def reader(dynamodb: Any, streams: Calls) -> DynamoStreamReader:
    arn = await latest_stream_arn(dynamodb, PHYSICAL)
    return DynamoStreamReader(streams, arn, SUPPORTERS, MemoryCheckpoints())


def put(dynamodb: Any, supporter: str, **attributes: dict[str, Any]) -> None:
    item = {"id": {"S": supporter}, "kind": {"S": "person"}, **attributes}
    dynamodb.put_item(TableName=PHYSICAL, Item=item)


def delete(dynamodb: Any, supporter: str) -> None:
    dynamodb.delete_item(TableName=PHYSICAL, Key={"id": {"S": supporter}, "kind": {"S": "person"}})


def write_three(dynamodb: Any) -> None:
    put(dynamodb, "s1", name={"NULL": True}, note={"NULL": True}, visits={"N": "1"})
    put(dynamodb, "s1", name={"S": "Ann"}, note={"S": "hi"}, visits={"N": "2"}, tags={"L": [{"S": "a"}]})
    delete(dynamodb, "s1")


def checkpoint_table(dynamodb: Any) -> str:
    name = checkpoints_table_name("app", "test")
    dynamodb.create_table(
        TableName=name,
        KeySchema=[
            {"AttributeName": "subscriber", "KeyType": "HASH"},
            {"AttributeName": "shard", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "subscriber", "AttributeType": "S"},
            {"AttributeName": "shard", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


def events(records: list[tuple[str, ChangeRecord]]) -> list[str]:
    return [record.event_name for _, record in records]


# --------------------------------------------------------------------------------------------------
# moto


async def test_changes_come_back_in_order_with_their_images(
    dynamodb: Any, reader: DynamoStreamReader
) -> None:
    write_three(dynamodb)

    records = await reader.read("sub", limit=10)

    assert events(records) == ["INSERT", "MODIFY", "REMOVE"]
    assert len({shard for shard, _ in records}) == 1
    insert, modify, remove = (record for _, record in records)
    assert insert.sequence < modify.sequence < remove.sequence
    assert all(r.table == "supporters" and r.principal is None for r in (insert, modify, remove))
    assert all(r.keys == {"id": "s1", "kind": "person"} for r in (insert, modify, remove))
    # "name" is a declared string (NULL reads back as ''), "note" is not (None).
    first = {"id": "s1", "kind": "person", "name": "", "note": None, "visits": 1}
    second = {"id": "s1", "kind": "person", "name": "Ann", "note": "hi", "visits": 2, "tags": ["a"]}
    assert (insert.old_image, insert.new_image) == (None, first)
    assert (modify.old_image, modify.new_image) == (first, second)
    assert (remove.old_image, remove.new_image) == (second, None)
    assert insert.committed_at.tzinfo is not None
    assert abs((insert.committed_at - datetime.now(UTC)).total_seconds()) < 600


async def test_nothing_to_read(reader: DynamoStreamReader) -> None:
    assert await reader.read("sub", limit=10) == []
    with pytest.raises(ValueError, match="limit"):
        await reader.read("sub", limit=0)


async def test_records_are_read_again_until_checkpointed(dynamodb: Any, reader: DynamoStreamReader) -> None:
    write_three(dynamodb)

    first = await reader.read("sub", limit=2)
    assert events(first) == ["INSERT", "MODIFY"]
    assert await reader.read("sub", limit=2) == first  # not checkpointed: delivered again

    shard, modify = first[1]
    await reader.checkpoint("sub", shard, modify.sequence)
    assert events(await reader.read("sub", limit=10)) == ["REMOVE"]

    put(dynamodb, "s2", name={"S": "Bo"})
    rest = await reader.read("sub", limit=10)
    assert events(rest) == ["REMOVE", "INSERT"]
    assert rest[1][1].keys == {"id": "s2", "kind": "person"}

    await reader.checkpoint("sub", *(rest[-1][0], rest[-1][1].sequence))
    assert await reader.read("sub", limit=10) == []


async def test_checkpointed_reads_reuse_the_shard_iterator(
    dynamodb: Any, reader: DynamoStreamReader, streams: Calls
) -> None:
    write_three(dynamodb)
    for _ in range(3):
        records = await reader.read("sub", limit=1)
        await reader.checkpoint("sub", records[0][0], records[0][1].sequence)
    assert await reader.read("sub", limit=1) == []

    assert streams.counts["get_shard_iterator"] == 1
    assert streams.counts["describe_stream"] == 1
    assert streams.counts["get_records"] == 4


async def test_a_checkpoint_never_goes_back(dynamodb: Any, reader: DynamoStreamReader) -> None:
    write_three(dynamodb)
    records = await reader.read("sub", limit=10)
    shard = records[0][0]
    await reader.checkpoint("sub", shard, records[2][1].sequence)
    await reader.checkpoint("sub", shard, records[0][1].sequence)

    assert await reader.read("sub", limit=10) == []


async def test_subscribers_read_independently(dynamodb: Any, reader: DynamoStreamReader) -> None:
    write_three(dynamodb)
    for shard, record in await reader.read("first", limit=10):
        await reader.checkpoint("first", shard, record.sequence)

    assert await reader.read("first", limit=10) == []
    assert events(await reader.read("second", limit=10)) == ["INSERT", "MODIFY", "REMOVE"]


async def test_dynamo_checkpoints_go_forward_only(dynamodb: Any) -> None:
    table = checkpoint_table(dynamodb)
    checkpoints = DynamoCheckpoints(dynamodb, table, clock=lambda: 1_700_000_000.0)
    shard = "shardId-00000001541626099285-f35f62ef"

    assert await checkpoints.get("sub", shard) is None
    await checkpoints.put("sub", shard, "1100000000017454423010")
    await checkpoints.put("sub", shard, "1100000000017454423009")  # behind: ignored
    await checkpoints.put("sub", shard, "1100000000017454423010")  # the same: ignored
    assert await checkpoints.get("sub", shard) == "1100000000017454423010"

    # Numeric order, not text order: 9... (22 digits) < 10... (23 digits).
    await checkpoints.put("other", shard, "9" * 22)
    await checkpoints.put("other", shard, "1" + "0" * 22)
    assert await checkpoints.get("other", shard) == "1" + "0" * 22
    await checkpoints.put("other", shard, "9" * 22)
    assert await checkpoints.get("other", shard) == "1" + "0" * 22

    stored = dynamodb.get_item(TableName=table, Key={"subscriber": {"S": "sub"}, "shard": {"S": shard}})
    assert stored["Item"]["sequence"] == {"S": "0" * 18 + "1100000000017454423010"}
    assert stored["Item"]["expiresAt"] == {"N": str(1_700_000_000 + CHECKPOINT_TTL_S)}
    assert await checkpoints.get("sub", "another-shard") is None


async def test_dynamo_checkpoints_survive_the_reader(dynamodb: Any, streams: Calls) -> None:
    checkpoints = DynamoCheckpoints(dynamodb, checkpoint_table(dynamodb))
    arn = await latest_stream_arn(dynamodb, PHYSICAL)
    write_three(dynamodb)

    reader = DynamoStreamReader(streams, arn, SUPPORTERS, checkpoints)
    shard, insert = (await reader.read("sub", limit=1))[0]
    await reader.checkpoint("sub", shard, insert.sequence)

    restarted = DynamoStreamReader(streams, arn, SUPPORTERS, checkpoints)
    assert events(await restarted.read("sub", limit=10)) == ["MODIFY", "REMOVE"]
    assert events(await restarted.read("other", limit=10)) == ["INSERT", "MODIFY", "REMOVE"]


async def test_store_failures_are_retried(dynamodb: Any) -> None:
    checkpoints = DynamoCheckpoints(dynamodb, "no-such-table")
    with pytest.raises(Retry, match="ResourceNotFoundException"):
        await checkpoints.get("sub", "shard")
    with pytest.raises(Retry, match="ResourceNotFoundException"):
        await checkpoints.put("sub", "shard", "1")


async def test_latest_stream_arn_of_a_table_without_stream(dynamodb: Any) -> None:
    with pytest.raises(ValueError, match="has no stream"):
        await latest_stream_arn(dynamodb, checkpoint_table(dynamodb))


# --------------------------------------------------------------------------------------------------
# A scripted streams client: shards with parents, paginated DescribeStream, injected errors.

ARN = "arn:aws:dynamodb:eu-west-1:123456789012:table/app-test-supporters/stream/2024-01-01T00:00:00.000"


def record(sequence: int, supporter: str, event: str = "INSERT") -> dict[str, Any]:
    image = {"id": {"S": supporter}, "kind": {"S": "person"}, "n": {"N": str(sequence)}}
    data: dict[str, Any] = {
        "Keys": {"id": {"S": supporter}, "kind": {"S": "person"}},
        "SequenceNumber": str(sequence),
        "ApproximateCreationDateTime": datetime(2024, 1, 1, tzinfo=UTC),
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    data["OldImage" if event == "REMOVE" else "NewImage"] = image
    return {"eventID": str(sequence), "eventName": event, "eventSource": "aws:dynamodb", "dynamodb": data}


class FakeStreams:
    """Shards listed in the order given (one per DescribeStream page); a shard iterator is
    ``<shard>|<index of the next record>``."""

    def __init__(self, shards: list[tuple[str, str | None, list[dict[str, Any]], bool]]) -> None:
        # (shard id, parent id, records, closed)
        self.shards = shards
        self.errors: dict[str, list[str]] = {}  # operation -> codes raised by its next calls
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def _shard(self, shard_id: str) -> tuple[str, str | None, list[dict[str, Any]], bool]:
        return next(s for s in self.shards if s[0] == shard_id)

    def _maybe_fail(self, operation: str, kwargs: dict[str, Any]) -> None:
        self.calls.append((operation, kwargs))
        codes = self.errors.get(operation)
        if codes:
            code = codes.pop(0)
            raise ClientError({"Error": {"Code": code, "Message": code}}, operation)

    def describe_stream(self, **kwargs: Any) -> dict[str, Any]:
        self._maybe_fail("describe_stream", kwargs)
        ids = [s[0] for s in self.shards]
        index = ids.index(kwargs["ExclusiveStartShardId"]) + 1 if "ExclusiveStartShardId" in kwargs else 0
        shard_id, parent, records, _ = self.shards[index]
        start = records[0]["dynamodb"]["SequenceNumber"] if records else "1"
        shard: dict[str, Any] = {
            "ShardId": shard_id,
            "SequenceNumberRange": {"StartingSequenceNumber": start},
        }
        if parent:
            shard["ParentShardId"] = parent
        description: dict[str, Any] = {"StreamArn": ARN, "Shards": [shard]}
        if index + 1 < len(self.shards):
            description["LastEvaluatedShardId"] = shard_id
        return {"StreamDescription": description}

    def get_shard_iterator(self, **kwargs: Any) -> dict[str, Any]:
        self._maybe_fail("get_shard_iterator", kwargs)
        _, _, records, _ = self._shard(kwargs["ShardId"])
        if kwargs["ShardIteratorType"] == "TRIM_HORIZON":
            index = 0
        else:
            after = int(kwargs["SequenceNumber"])
            index = sum(1 for r in records if int(r["dynamodb"]["SequenceNumber"]) <= after)
        return {"ShardIterator": f"{kwargs['ShardId']}|{index}"}

    def get_records(self, **kwargs: Any) -> dict[str, Any]:
        self._maybe_fail("get_records", kwargs)
        shard_id, index_text = kwargs["ShardIterator"].split("|")
        _, _, records, closed = self._shard(shard_id)
        index = int(index_text)
        taken = records[index : index + kwargs["Limit"]]
        response: dict[str, Any] = {"Records": taken}
        if not (closed and index + len(taken) >= len(records)):
            response["NextShardIterator"] = f"{shard_id}|{index + len(taken)}"
        return response

    def count(self, operation: str) -> int:
        return sum(1 for name, _ in self.calls if name == operation)


async def done_with(
    reader: DynamoStreamReader, subscriber: str, records: list[tuple[str, ChangeRecord]]
) -> None:
    for shard, change in records:
        await reader.checkpoint(subscriber, shard, change.sequence)


def sequences(records: list[tuple[str, ChangeRecord]]) -> list[tuple[str, int]]:
    return [(shard, change.sequence) for shard, change in records]


async def test_a_child_shard_is_read_after_its_parent_is_checkpointed() -> None:
    # The child is listed first; its parent is closed and still has records.
    client = FakeStreams(
        [
            ("child", "parent", [record(30, "a", "MODIFY"), record(31, "a", "REMOVE")], False),
            ("parent", None, [record(10, "a"), record(11, "a", "MODIFY")], True),
        ]
    )
    reader = DynamoStreamReader(client, ARN, SUPPORTERS, MemoryCheckpoints())

    first = await reader.read("sub", limit=10)
    assert sequences(first) == [("parent", 10), ("parent", 11)]
    # The parent is not done until checkpointed (this read begins with the child: shards take turns).
    assert await reader.read("sub", limit=10) == first

    await reader.checkpoint("sub", "parent", 10)
    assert sequences(await reader.read("sub", limit=10)) == [("parent", 11)]

    await reader.checkpoint("sub", "parent", 11)
    # This read begins with the child too: it is read as soon as the parent is found done.
    child = await reader.read("sub", limit=10)
    assert sequences(child) == [("child", 30), ("child", 31)]
    assert [c.event_name for _, c in child] == ["MODIFY", "REMOVE"]
    assert child[1][1].old_image == {"id": "a", "kind": "person", "n": 31}

    # Once done, the parent costs no more calls.
    await done_with(reader, "sub", child)
    before = len(client.calls)
    assert await reader.read("sub", limit=10) == []
    assert [name for name, _ in client.calls[before:]] == ["get_records"]
    assert client.calls[-1][1]["ShardIterator"].startswith("child|")


async def test_a_parent_gone_from_the_stream_does_not_hold_back_its_child() -> None:
    client = FakeStreams([("child", "trimmed-parent", [record(30, "a")], False)])
    reader = DynamoStreamReader(client, ARN, SUPPORTERS, MemoryCheckpoints())
    assert sequences(await reader.read("sub", limit=10)) == [("child", 30)]


async def test_shards_take_turns_within_the_limit() -> None:
    client = FakeStreams(
        [
            ("one", None, [record(10, "a"), record(11, "a")], False),
            ("two", None, [record(20, "b"), record(21, "b")], False),
        ]
    )
    reader = DynamoStreamReader(client, ARN, SUPPORTERS, MemoryCheckpoints())
    seen: list[tuple[str, int]] = []
    for _ in range(4):
        records = await reader.read("sub", limit=1)
        await done_with(reader, "sub", records)
        seen += sequences(records)

    assert sorted(seen) == [("one", 10), ("one", 11), ("two", 20), ("two", 21)]
    assert {shard for shard, _ in seen[:2]} == {"one", "two"}
    assert await reader.read("sub", limit=10) == []


async def test_a_closed_shard_is_found_when_its_parent_ends() -> None:
    parent = ("parent", None, [record(10, "a")], False)
    client = FakeStreams([parent])
    reader = DynamoStreamReader(client, ARN, SUPPORTERS, MemoryCheckpoints(), describe_every_s=3600)
    await done_with(reader, "sub", await reader.read("sub", limit=10))

    # The shard splits: the parent closes and a child appears.
    client.shards = [("parent", None, parent[2], True), ("child", "parent", [record(20, "a")], False)]
    assert await reader.read("sub", limit=10) == []  # the parent ends here: the shards are described again
    assert sequences(await reader.read("sub", limit=10)) == [("child", 20)]


async def test_an_expired_iterator_is_replaced() -> None:
    client = FakeStreams([("one", None, [record(10, "a"), record(11, "a")], False)])
    reader = DynamoStreamReader(client, ARN, SUPPORTERS, MemoryCheckpoints())
    await done_with(reader, "sub", await reader.read("sub", limit=1))

    client.errors["get_records"] = ["ExpiredIteratorException"]
    assert sequences(await reader.read("sub", limit=1)) == [("one", 11)]
    assert client.calls[-2] == (
        "get_shard_iterator",
        {
            "StreamArn": ARN,
            "ShardId": "one",
            "ShardIteratorType": "AFTER_SEQUENCE_NUMBER",
            "SequenceNumber": "10",
        },
    )


async def test_a_trimmed_checkpoint_goes_on_from_the_horizon() -> None:
    """Records after the checkpoint have left the stream (older than 24 hours): they are lost, and
    the reader goes on from the oldest record still there (logging an error)."""
    client = FakeStreams([("one", None, [record(20, "a"), record(21, "a")], False)])
    checkpoints = MemoryCheckpoints()
    await checkpoints.put("sub", "one", "5")
    reader = DynamoStreamReader(client, ARN, SUPPORTERS, checkpoints)
    client.errors["get_shard_iterator"] = ["TrimmedDataAccessException"]

    assert sequences(await reader.read("sub", limit=10)) == [("one", 20), ("one", 21)]
    assert client.calls[-2][1]["ShardIteratorType"] == "TRIM_HORIZON"


async def test_a_shard_gone_between_describe_and_read_is_skipped() -> None:
    client = FakeStreams([("one", None, [record(10, "a")], False), ("two", None, [record(20, "b")], False)])
    reader = DynamoStreamReader(client, ARN, SUPPORTERS, MemoryCheckpoints())
    client.errors["get_shard_iterator"] = ["ResourceNotFoundException"]

    assert sequences(await reader.read("sub", limit=10)) == [("two", 20)]


@pytest.mark.parametrize(
    ("operation", "code"),
    [
        ("describe_stream", "ThrottlingException"),
        ("get_shard_iterator", "InternalServerError"),
        ("get_records", "LimitExceededException"),
        ("get_records", "ProvisionedThroughputExceededException"),
    ],
)
async def test_throttling_and_failures_raise_retry(operation: str, code: str) -> None:
    client = FakeStreams([("one", None, [record(10, "a")], False)])
    reader = DynamoStreamReader(client, ARN, SUPPORTERS, MemoryCheckpoints())
    client.errors[operation] = [code]

    with pytest.raises(Retry, match=code):
        await reader.read("sub", limit=10)
    assert sequences(await reader.read("sub", limit=10)) == [("one", 10)]


async def test_memory_checkpoints_go_forward_only() -> None:
    checkpoints = MemoryCheckpoints()
    await checkpoints.put("sub", "one", "1" + "0" * 22)
    await checkpoints.put("sub", "one", "9" * 22)
    assert await checkpoints.get("sub", "one") == "1" + "0" * 22
    assert await checkpoints.get("sub", "two") is None
