"""DynamoTable against moto's DynamoDB: the ``Table`` contract (tests/table_contract.py), run as
for SQLite, and what is DynamoDB's own: marshalling and NULLs, conditions as expressions, the
outbox table written in one transaction, batch limits and unprocessed items, cursors and calls,
and errors turned into ``Retry``."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError  # type: ignore[import-untyped]

from supporterflow.adapters.aws import dynamodb
from supporterflow.adapters.aws.dynamodb import DynamoOutbox, DynamoTable
from supporterflow.adapters.aws.sqs import SqsQueue
from supporterflow.adapters.cursors import BadCursor
from supporterflow.declare import TableDef
from supporterflow.ports import (
    Absent,
    AllOf,
    AnyOf,
    AttrEquals,
    AttrLessThan,
    AttrMissing,
    Condition,
    ConditionFailed,
    Exists,
    Outgoing,
    Retry,
    Table,
)
from tests import table_contract as contract
from tests.aws.conftest import REGION
from tests.table_contract import (
    BAD_HASH_KEYS,
    EVENTS,
    NUMBERED,
    PEOPLE,
    all_items,
    query_all,
    scan_segments,
    snapshot_items,
)

# The types of the key attributes that are not strings, by table.
KEY_TYPES = {NUMBERED.name: {"at": "N"}}
OUTBOX_TABLE = "supporterflow-test-outbox"
QUEUE_URL = f"https://sqs.{REGION}.amazonaws.com/123456789012/"
# One session for the module: it loads DynamoDB's service model once, not once per test (its
# clients are still made inside each test's moto, with the fixture's fake credentials).
SESSION = boto3.session.Session()


def create_table(
    client: Any, definition: TableDef, table_name: str, types: Mapping[str, str] | None = None
) -> None:
    """The DynamoDB table of ``definition``: on demand, its keys (``types`` gives an attribute's
    type when it is not S), its GSIs projecting everything, a stream when it has one."""
    types = types or {}

    def schema(hash_key: str, sort_key: str | None) -> list[dict[str, str]]:
        keys = [{"AttributeName": hash_key, "KeyType": "HASH"}]
        if sort_key:
            keys.append({"AttributeName": sort_key, "KeyType": "RANGE"})
        return keys

    attributes = [definition.hash_key, definition.sort_key] + [
        name for index in definition.indexes.values() for name in (index.hash_key, index.sort_key)
    ]
    arguments: dict[str, Any] = {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": schema(definition.hash_key, definition.sort_key),
        "AttributeDefinitions": [
            {"AttributeName": name, "AttributeType": types.get(name, "S")}
            for name in dict.fromkeys(a for a in attributes if a)
        ],
    }
    if definition.indexes:
        arguments["GlobalSecondaryIndexes"] = [
            {
                "IndexName": name,
                "KeySchema": schema(index.hash_key, index.sort_key),
                "Projection": {"ProjectionType": "ALL"},
            }
            for name, index in definition.indexes.items()
        ]
    if definition.stream:
        arguments["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    client.create_table(**arguments)


def throttled(operation: str) -> ClientError:
    return ClientError(
        {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}}, operation
    )


class Spy:
    """A boto3 client that records every call, and can fail calls or leave batch requests
    unprocessed as DynamoDB does under load."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.errors: dict[str, list[Exception]] = {}  # operation -> errors of its coming calls
        self.hold_back: dict[str, list[int]] = {}  # batch operation -> requests to leave unprocessed
        self.after: dict[str, list[Callable[[], Any]]] = {}  # operation -> run after its coming calls

    def __getattr__(self, operation: str) -> Any:
        method = getattr(self.client, operation)

        def call(**kwargs: Any) -> Any:
            self.calls.append((operation, kwargs))
            if self.errors.get(operation):
                raise self.errors[operation].pop(0)
            if self.hold_back.get(operation):
                return self._partly(operation, method, kwargs, self.hold_back[operation].pop(0))
            response = method(**kwargs)
            if self.after.get(operation):
                self.after[operation].pop(0)()
            return response

        return call

    @staticmethod
    def _partly(operation: str, method: Any, kwargs: dict[str, Any], held: int) -> Any:
        ((table, request),) = kwargs["RequestItems"].items()
        if operation == "batch_get_item":
            keys = request["Keys"]
            response = method(RequestItems={table: {**request, "Keys": keys[held:]}}) if keys[held:] else {}
            response.setdefault("Responses", {}).setdefault(table, [])
            response["UnprocessedKeys"] = {table: {**request, "Keys": keys[:held]}}
            return response
        response = method(RequestItems={table: request[held:]}) if request[held:] else {}
        response["UnprocessedItems"] = {table: request[:held]}
        return response

    def of(self, operation: str) -> list[dict[str, Any]]:
        return [kwargs for name, kwargs in self.calls if name == operation]


@pytest.fixture
def client(aws: None) -> Any:
    client = SESSION.client("dynamodb", region_name=REGION)
    for definition in contract.TABLES:
        create_table(client, definition, f"test-{definition.name}", KEY_TYPES.get(definition.name))
    client.create_table(
        TableName=OUTBOX_TABLE,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
    )
    return client


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dynamodb, "BACKOFF_BASE_S", 0.001)


@pytest.fixture
def spy(client: Any) -> Spy:
    return Spy(client)


@pytest.fixture
def outbox() -> DynamoOutbox:
    return DynamoOutbox(OUTBOX_TABLE, lambda queue: QUEUE_URL + queue.name, ttl_s=3600)


@pytest.fixture
def queue() -> SqsQueue:
    return SqsQueue(None, QUEUE_URL + "changes", name="changes")


@pytest.fixture
def people(spy: Spy, outbox: DynamoOutbox) -> DynamoTable:
    return DynamoTable(spy, PEOPLE, table_name="test-people", outbox=outbox)


@pytest.fixture
def events(spy: Spy, outbox: DynamoOutbox) -> DynamoTable:
    return DynamoTable(spy, EVENTS, table_name="test-events", outbox=outbox)


@pytest.fixture
def numbered(spy: Spy) -> DynamoTable:
    return DynamoTable(spy, NUMBERED, table_name="test-numbered")


def outbox_rows(client: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = client.scan(TableName=OUTBOX_TABLE, ConsistentRead=True)["Items"]
    return rows


def bodies_sent(client: Any) -> list[str]:
    return sorted(row["body"]["S"] for row in outbox_rows(client))


@pytest.fixture
def tables(spy: Spy, outbox: DynamoOutbox, queue: SqsQueue) -> contract.Tables:
    async def sent() -> list[bytes]:
        return [body.encode() for body in bodies_sent(spy.client)]

    def table(definition: TableDef) -> DynamoTable:
        return DynamoTable(spy, definition, table_name=f"test-{definition.name}", outbox=outbox)

    return contract.Tables(table=table, queue=queue, sent=sent)


@pytest.mark.parametrize("check", contract.CHECKS, ids=contract.name_of)
async def test_the_table_contract(tables: contract.Tables, check: contract.Check) -> None:
    await check(tables)


# put / get / delete ------------------------------------------------------------------------------


async def test_a_dynamo_table_is_a_table(people: DynamoTable) -> None:
    assert isinstance(people, Table)
    assert people.name == "people"


async def test_an_empty_string_reads_back_as_empty_only_where_declared_a_string(people: DynamoTable) -> None:
    await people.put({"id": "p-1", "name": "", "city": "", "payload": {"a": "", "b": ["", "x"]}})

    assert await people.get({"id": "p-1"}) == {
        "id": "p-1",
        "name": "",  # declared in PEOPLE.strings
        "city": None,
        "payload": {"a": None, "b": [None, "x"]},
    }


async def test_a_delete_asks_dynamodb_for_the_old_image(people: DynamoTable, spy: Spy) -> None:
    await people.put({"id": "p-1", "name": "Ada"})

    assert await people.delete({"id": "p-1"}) == {"id": "p-1", "name": "Ada"}

    assert [call["ReturnValues"] for call in spy.of("delete_item")] == ["ALL_OLD"]


async def test_a_number_dynamodb_cannot_store_is_refused_before_the_call(
    people: DynamoTable, spy: Spy
) -> None:
    with pytest.raises(ValueError, match="score"):
        await people.put({"id": "p-1", "score": float("nan")})

    assert spy.of("put_item") == []


# conditional writes ------------------------------------------------------------------------------

STORED = {"id": "p-1", "version": 2, "status": "active", "note": None}


@pytest.mark.parametrize(
    ("condition", "holds"),
    [
        (Exists(), True),
        (Absent(), False),
        (AttrEquals("status", "active"), True),
        (AttrEquals("status", "gone"), False),
        (AttrEquals("version", 2.0), True),
        (AttrEquals("version", "2"), False),
        (AttrEquals("note", None), True),
        (AttrEquals("missing", None), False),
        (AttrLessThan("version", 3), True),
        (AttrLessThan("version", 2), False),
        (AttrLessThan("status", "b"), True),
        (AttrLessThan("missing", 9), False),
        (AttrMissing("ttl"), True),
        (AttrMissing("status"), False),
        (AnyOf((Absent(), AttrLessThan("version", 3))), True),
        (AnyOf((Absent(), AttrLessThan("version", 1))), False),
        (AnyOf(()), False),
        (AllOf((Exists(), AttrEquals("status", "active"), AttrMissing("date"))), True),
        (AllOf((Exists(), AttrEquals("status", "gone"))), False),
        (AllOf(()), True),
        (AllOf((AnyOf((AttrMissing("version"), AttrEquals("status", "active"))), Exists())), True),
    ],
    ids=repr,
)
async def test_each_condition_holds_as_on_dynamodb(
    people: DynamoTable, spy: Spy, condition: Condition, holds: bool
) -> None:
    await people.put(STORED)

    write = people.put({"id": "p-1", "version": 9}, condition=condition)
    if holds:
        await write
    else:
        with pytest.raises(ConditionFailed):
            await write

    assert await people.get({"id": "p-1"}) == ({"id": "p-1", "version": 9} if holds else STORED)
    # Names only as placeholders: "status", "date" and "ttl" are DynamoDB reserved words.
    (request,) = [call for call in spy.of("put_item") if "ConditionExpression" in call]
    names = request.get("ExpressionAttributeNames", {})
    for name in names.values():
        assert name not in request["ConditionExpression"]


@pytest.mark.parametrize(
    ("condition", "holds"),
    [
        (Exists(), False),
        (Absent(), True),
        (AttrLessThan("version", 1), False),
        (AttrMissing("version"), True),
        (AttrEquals("version", 1), False),
        (AnyOf((Absent(), Exists())), True),
    ],
    ids=repr,
)
async def test_conditions_on_a_missing_item(people: DynamoTable, condition: Condition, holds: bool) -> None:
    write = people.put({"id": "p-1"}, condition=condition)
    if holds:
        await write
    else:
        with pytest.raises(ConditionFailed):
            await write

    assert (await people.get({"id": "p-1"}) is not None) is holds


# the outbox --------------------------------------------------------------------------------------


async def test_the_messages_of_a_put_are_written_with_it_in_one_transaction(
    people: DynamoTable, spy: Spy, client: Any, queue: SqsQueue
) -> None:
    before = time.time()

    await people.put(
        {"id": "p-1"},
        then_send=[Outgoing(queue, "é one".encode()), Outgoing(queue, b"two", delay_s=60)],
    )

    assert await people.get({"id": "p-1"}) == {"id": "p-1"}
    (transaction,) = spy.of("transact_write_items")
    assert [next(iter(action)) for action in transaction["TransactItems"]] == ["Put", "Put", "Put"]
    assert spy.of("put_item") == []
    rows = sorted(outbox_rows(client), key=lambda row: row["body"]["S"])
    assert [row["body"] for row in rows] == [{"S": "two"}, {"S": "é one"}]
    assert [row["delaySeconds"] for row in rows] == [{"N": "60"}, {"N": "0"}]
    for row in rows:
        assert set(row) == {"id", "queueUrl", "body", "delaySeconds", "ttl"}
        assert row["queueUrl"] == {"S": QUEUE_URL + "changes"}
        assert len(row["id"]["S"]) == 32
        assert before + 3600 <= int(row["ttl"]["N"]) <= time.time() + 3601
    assert rows[0]["id"] != rows[1]["id"]


async def test_a_delete_with_messages_reads_again_when_the_item_appears_meanwhile(
    people: DynamoTable, spy: Spy, client: Any, queue: SqsQueue
) -> None:
    """The item is written between the delete's read and its transaction: the transaction fails
    on the existence guard, and the delete starts over and deletes the new item."""
    spy.after["get_item"] = [
        lambda: client.put_item(TableName="test-people", Item={"id": {"S": "p-1"}, "v": {"N": "1"}})
    ]

    old = await people.delete({"id": "p-1"}, then_send=[Outgoing(queue, b"gone")])

    assert old == {"id": "p-1", "v": 1}
    assert await people.get({"id": "p-1"}) is None
    assert bodies_sent(client) == ["gone"]
    assert len(spy.of("transact_write_items")) == 2


async def test_a_write_with_messages_needs_an_outbox(spy: Spy, client: Any, queue: SqsQueue) -> None:
    table = DynamoTable(spy, PEOPLE, table_name="test-people")

    with pytest.raises(TypeError, match="DynamoOutbox"):
        await table.put({"id": "p-1"}, then_send=[Outgoing(queue, b"x")])
    with pytest.raises(TypeError, match="DynamoOutbox"):
        await table.delete({"id": "p-1"}, then_send=[Outgoing(queue, b"x")])

    assert spy.calls == []


async def test_a_message_body_that_is_not_utf8_is_refused_before_anything_is_written(
    people: DynamoTable, spy: Spy, client: Any, queue: SqsQueue
) -> None:
    with pytest.raises(ValueError, match="UTF-8"):
        await people.put({"id": "p-1"}, then_send=[Outgoing(queue, b"\xff")])

    assert spy.calls == []
    assert await people.get({"id": "p-1"}) is None


async def test_more_messages_than_a_transaction_holds_are_refused(
    people: DynamoTable, queue: SqsQueue
) -> None:
    with pytest.raises(ValueError, match="at most 99 messages"):
        await people.put({"id": "p-1"}, then_send=[Outgoing(queue, b"x")] * 100)

    assert await people.get({"id": "p-1"}) is None


# keys are checked in the caller ------------------------------------------------------------------


async def test_bad_keys_are_refused_before_any_call(
    people: DynamoTable, events: DynamoTable, spy: Spy, queue: SqsQueue
) -> None:
    for item in [*BAD_HASH_KEYS, {"id": ""}]:
        with pytest.raises(ValueError, match="key attribute"):
            await people.put(item, then_send=[Outgoing(queue, b"should not exist")])
    with pytest.raises(ValueError, match="'at'"):
        await events.put({"user": "u1"})
    with pytest.raises(ValueError, match="'at'"):
        await events.get({"user": "u1"})

    assert spy.calls == []


# queries -----------------------------------------------------------------------------------------


async def test_a_query_asks_dynamodb_in_its_direction(events: DynamoTable, spy: Spy) -> None:
    await events.batch_write(puts=[{"user": "u1", "at": f"t{i:04d}"} for i in range(20)])

    for forward in (True, False):
        spy.calls.clear()
        items = await query_all(events, "u1", limit=7, forward=forward)

        assert len(items) == 20
        assert {call["ScanIndexForward"] for call in spy.of("query")} == {forward}


SORT_KEYS = ["a1", "a2", "b1", "b2", "c1"]


async def test_a_query_goes_on_after_a_short_dynamodb_page(numbered: DynamoTable, spy: Spy) -> None:
    """DynamoDB stops at 1 MB with a LastEvaluatedKey: the page is filled from the next one."""
    await numbered.batch_write(puts=[{"user": "u1", "at": i, "blob": "x" * 200_000} for i in range(8)])

    page = await numbered.query("u1", limit=6)

    assert [item["at"] for item in page.items] == list(range(6))
    assert page.cursor is not None
    assert len(spy.of("query")) >= 2


async def test_a_cursor_of_another_listing_is_refused(events: DynamoTable) -> None:
    await events.batch_write(
        puts=[{"user": "u1", "at": f"t{i}", "kind": "k", "day": f"d{i}"} for i in range(3)]
    )
    table_cursor = (await events.query("u1", limit=1)).cursor
    assert table_cursor is not None

    with pytest.raises(BadCursor):
        await events.query("k", index="by-kind", cursor=table_cursor)
    with pytest.raises(BadCursor):
        await events.query("u1", cursor="not a cursor")


# batches and scans -------------------------------------------------------------------------------


async def test_batch_get_returns_every_existing_item_of_more_than_a_hundred_keys(
    numbered: DynamoTable, spy: Spy
) -> None:
    await numbered.batch_write(puts=[{"user": f"u{i % 3}", "at": i, "n": i} for i in range(250)])
    keys = [{"user": f"u{i % 3}", "at": i} for i in range(300)]  # the last 50 do not exist
    keys += [{"user": "u9", "at": i} for i in range(10)]  # nor do these
    keys += keys[:40]  # asked twice

    items = await numbered.batch_get(keys)

    assert sorted(item["n"] for item in items) == list(range(250))
    assert [len(call["RequestItems"]["test-numbered"]["Keys"]) for call in spy.of("batch_get_item")] == [
        100,
        100,
        100,
        10,
    ]


async def test_batch_get_of_no_keys_makes_no_call(events: DynamoTable, spy: Spy) -> None:
    assert await events.batch_get([]) == []
    assert spy.calls == []


async def test_batch_get_asks_again_for_unprocessed_keys(numbered: DynamoTable, spy: Spy) -> None:
    await numbered.batch_write(puts=[{"user": "u", "at": i} for i in range(30)])
    spy.hold_back["batch_get_item"] = [20, 5]

    items = await numbered.batch_get([{"user": "u", "at": i} for i in range(30)])

    assert sorted(item["at"] for item in items) == list(range(30))
    assert [len(call["RequestItems"]["test-numbered"]["Keys"]) for call in spy.of("batch_get_item")] == [
        30,
        20,
        5,
    ]


async def test_batch_get_gives_up_with_retry_when_keys_stay_unprocessed(
    numbered: DynamoTable, spy: Spy
) -> None:
    spy.hold_back["batch_get_item"] = [1] * 10

    with pytest.raises(Retry, match="1 keys left unprocessed"):
        await numbered.batch_get([{"user": "u", "at": i} for i in range(3)])


async def test_batch_write_writes_more_than_twenty_five_puts(people: DynamoTable, spy: Spy) -> None:
    await people.batch_write(puts=[{"id": f"p-{i:05d}", "n": i} for i in range(110)])

    found = await people.batch_get([{"id": f"p-{i:05d}"} for i in range(110)])
    assert sorted(item["n"] for item in found) == list(range(110))
    assert await people.get({"id": "p-00109"}) == {"id": "p-00109", "n": 109}
    sizes = [len(call["RequestItems"]["test-people"]) for call in spy.of("batch_write_item")]
    assert sizes == [25, 25, 25, 25, 10]


async def test_batch_write_sends_unprocessed_requests_again(people: DynamoTable, spy: Spy) -> None:
    spy.hold_back["batch_write_item"] = [10, 3]

    await people.batch_write(puts=[{"id": f"p{i}"} for i in range(25)])

    assert len(await all_items(people)) == 25
    sizes = [len(call["RequestItems"]["test-people"]) for call in spy.of("batch_write_item")]
    assert sizes == [25, 10, 3]


async def test_batch_write_gives_up_with_retry_when_requests_stay_unprocessed(
    people: DynamoTable, spy: Spy
) -> None:
    spy.hold_back["batch_write_item"] = [2] * 10

    with pytest.raises(Retry, match="2 requests left unprocessed"):
        await people.batch_write(puts=[{"id": f"p{i}"} for i in range(5)])


async def test_each_scan_segment_is_asked_of_dynamodb(events: DynamoTable, spy: Spy) -> None:
    await events.batch_write(puts=[{"user": f"u{i}", "at": "1"} for i in range(40)])

    segments = await scan_segments(events, 4, limit=15)

    assert sum(len(items) for items in segments) == 40
    assert {(call["Segment"], call["TotalSegments"]) for call in spy.of("scan")} == {(s, 4) for s in range(4)}


# snapshot reads (exports) ------------------------------------------------------------------------


async def test_a_snapshot_writes_compact_json(people: DynamoTable) -> None:
    await people.put({"id": "p03", "name": "é", "n": 3, "x": {"a": [1.5, None]}})

    (page,) = [page async for page in people.read_snapshot()]

    assert page == [b'{"id":"p03","name":"\xc3\xa9","n":3,"x":{"a":[1.5,null]}}']


# errors ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operation", "call"),
    [
        ("put_item", lambda t, q: t.put({"id": "p-1"})),
        ("get_item", lambda t, q: t.get({"id": "p-1"})),
        ("delete_item", lambda t, q: t.delete({"id": "p-1"})),
        ("transact_write_items", lambda t, q: t.put({"id": "p-1"}, then_send=[Outgoing(q, b"x")])),
        ("query", lambda t, q: t.query("p-1")),
        ("scan", lambda t, q: t.scan()),
        ("batch_get_item", lambda t, q: t.batch_get([{"id": "p-1"}])),
        ("batch_write_item", lambda t, q: t.batch_write([{"id": "p-1"}])),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
async def test_throttling_is_retried_later(
    people: DynamoTable, spy: Spy, queue: SqsQueue, operation: str, call: Any
) -> None:
    spy.errors[operation] = [throttled(operation)]

    with pytest.raises(Retry, match=r"test-people.*ProvisionedThroughputExceededException"):
        await call(people, queue)

    assert await people.get({"id": "p-1"}) is None
    assert bodies_sent(spy.client) == []


async def test_a_snapshot_read_that_is_throttled_is_retried_later(people: DynamoTable, spy: Spy) -> None:
    spy.errors["scan"] = [throttled("Scan")]

    with pytest.raises(Retry):
        await snapshot_items(people)


async def test_a_network_failure_is_retried_later(people: DynamoTable, spy: Spy) -> None:
    spy.errors["put_item"] = [EndpointConnectionError(endpoint_url="https://dynamodb.example")]

    with pytest.raises(Retry, match="EndpointConnectionError"):
        await people.put({"id": "p-1"})


async def test_a_cancelled_transaction_that_is_not_a_condition_is_retried(
    people: DynamoTable, spy: Spy, queue: SqsQueue
) -> None:
    spy.errors["transact_write_items"] = [
        ClientError(
            {
                "Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
                "CancellationReasons": [{"Code": "TransactionConflict"}, {"Code": "None"}],
            },
            "TransactWriteItems",
        )
    ]

    with pytest.raises(Retry, match="TransactionConflict"):
        await people.put({"id": "p-1"}, condition=Absent(), then_send=[Outgoing(queue, b"x")])


async def test_a_request_dynamodb_refuses_raises_value_error(people: DynamoTable, spy: Spy) -> None:
    with pytest.raises(ValueError, match="PutItem on table test-people"):
        await people.put({"id": "p-1", "blob": "x" * 500_000})  # items are at most 400 KB

    assert await people.get({"id": "p-1"}) is None
