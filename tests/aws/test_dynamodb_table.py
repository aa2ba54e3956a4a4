"""DynamoTable against moto's DynamoDB: the Table port's behaviour on the AWS API, mirroring
tests/integration/test_sqlite_tables.py where DynamoDB can behave the same."""

from __future__ import annotations

import json
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
from supporterflow.declare import Index, TableDef
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
    Item,
    KeyRange,
    Outgoing,
    Retry,
    Table,
)
from tests.aws.conftest import REGION

PEOPLE = TableDef("people", hash_key="id", ttl_attribute="expires_at", strings=frozenset({"name"}))
EVENTS = TableDef(
    "events",
    hash_key="user",
    sort_key="at",
    indexes={"by-kind": Index("kind", "day"), "by-email": Index("email")},
)
NUMBERED = TableDef("numbered", hash_key="user", sort_key="at")
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
    create_table(client, PEOPLE, "test-people")
    create_table(client, EVENTS, "test-events")
    create_table(client, NUMBERED, "test-numbered", {"at": "N"})
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


async def all_items(table: DynamoTable) -> list[Item]:
    return (await table.scan(limit=10_000)).items


async def query_all(table: DynamoTable, hash_value: Any, *, limit: int, **kwargs: Any) -> list[Item]:
    """Every item of a query, page by page, failing if the pages do not end."""
    items: list[Item] = []
    cursor: str | None = None
    for _ in range(10_000):
        page = await table.query(hash_value, limit=limit, cursor=cursor, **kwargs)
        assert len(page.items) <= limit
        items.extend(page.items)
        cursor = page.cursor
        if cursor is None:
            return items
        assert len(page.items) == limit  # only the last page is short
    raise AssertionError("pagination never ended")


# put / get / delete ------------------------------------------------------------------------------


async def test_a_dynamo_table_is_a_table(people: DynamoTable) -> None:
    assert isinstance(people, Table)
    assert people.name == "people"


async def test_a_put_item_is_read_back_by_its_key(people: DynamoTable) -> None:
    item = {
        "id": "p-1",
        "name": "Ada",
        "tags": ["a", "b"],
        "score": 1.5,
        "count": 3,
        "active": True,
        "note": None,
        "nested": {"deep": [1, {"x": False}]},
        "empty": {},
    }

    await people.put(item)

    assert await people.get({"id": "p-1"}) == item
    stored = await people.get({"id": "p-1"})
    assert stored is not None
    assert type(stored["count"]) is int
    assert type(stored["score"]) is float


async def test_an_empty_string_reads_back_as_empty_only_where_declared_a_string(people: DynamoTable) -> None:
    await people.put({"id": "p-1", "name": "", "city": "", "payload": {"a": "", "b": ["", "x"]}})

    assert await people.get({"id": "p-1"}) == {
        "id": "p-1",
        "name": "",  # declared in PEOPLE.strings
        "city": None,
        "payload": {"a": None, "b": [None, "x"]},
    }


async def test_getting_a_missing_key_returns_none(people: DynamoTable) -> None:
    assert await people.get({"id": "nobody"}) is None


async def test_a_put_replaces_the_whole_item(people: DynamoTable) -> None:
    await people.put({"id": "p-1", "name": "Ada", "city": "London"})

    await people.put({"id": "p-1", "name": "Ada L."})

    assert await people.get({"id": "p-1"}) == {"id": "p-1", "name": "Ada L."}


async def test_items_are_found_by_hash_and_sort_key_together(events: DynamoTable) -> None:
    await events.put({"user": "u1", "at": "t1", "n": 1})
    await events.put({"user": "u1", "at": "t2", "n": 2})
    await events.put({"user": "u2", "at": "t1", "n": 3})

    assert await events.get({"user": "u1", "at": "t2"}) == {"user": "u1", "at": "t2", "n": 2}
    assert await events.get({"user": "u2", "at": "t1"}) == {"user": "u2", "at": "t1", "n": 3}
    assert await events.get({"user": "u2", "at": "t2"}) is None


async def test_a_key_with_other_attributes_is_reduced_to_the_key(events: DynamoTable) -> None:
    await events.put({"user": "u1", "at": "t1", "n": 1})

    assert await events.get({"user": "u1", "at": "t1", "n": 1}) == {"user": "u1", "at": "t1", "n": 1}


async def test_delete_returns_the_old_image_and_removes_the_item(people: DynamoTable, spy: Spy) -> None:
    await people.put({"id": "p-1", "name": "Ada"})

    old = await people.delete({"id": "p-1"})

    assert old == {"id": "p-1", "name": "Ada"}
    assert await people.get({"id": "p-1"}) is None
    assert [call["ReturnValues"] for call in spy.of("delete_item")] == ["ALL_OLD"]


async def test_deleting_a_missing_item_returns_none(people: DynamoTable) -> None:
    assert await people.delete({"id": "nobody"}) is None


async def test_a_put_that_changes_a_number_to_a_boolean_is_written(people: DynamoTable) -> None:
    await people.put({"id": "p-1", "flag": 1})

    await people.put({"id": "p-1", "flag": True})

    stored = await people.get({"id": "p-1"})
    assert stored is not None
    assert stored["flag"] is True


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


async def test_an_insert_once_put_fails_on_an_existing_item_and_writes_nothing(people: DynamoTable) -> None:
    await people.put({"id": "p-1", "name": "first"}, condition=Absent())

    with pytest.raises(ConditionFailed):
        await people.put({"id": "p-1", "name": "second"}, condition=Absent())

    assert await people.get({"id": "p-1"}) == {"id": "p-1", "name": "first"}


async def test_a_failed_conditional_delete_keeps_the_item(people: DynamoTable) -> None:
    await people.put({"id": "p-1", "version": 2})

    with pytest.raises(ConditionFailed):
        await people.delete({"id": "p-1"}, condition=AttrLessThan("version", 1))

    assert await people.get({"id": "p-1"}) == {"id": "p-1", "version": 2}


async def test_a_conditional_delete_that_holds_returns_the_old_image(people: DynamoTable) -> None:
    await people.put({"id": "p-1", "version": 2})

    assert await people.delete({"id": "p-1"}, condition=AttrEquals("version", 2)) == {
        "id": "p-1",
        "version": 2,
    }
    assert await people.get({"id": "p-1"}) is None


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


async def test_a_failed_conditional_put_writes_none_of_its_messages(
    people: DynamoTable, client: Any, queue: SqsQueue
) -> None:
    await people.put({"id": "p-1"}, condition=Absent(), then_send=[Outgoing(queue, b"created")])

    with pytest.raises(ConditionFailed):
        await people.put(
            {"id": "p-1", "again": True},
            condition=Absent(),
            then_send=[Outgoing(queue, b"created again"), Outgoing(queue, b"and more")],
        )

    assert bodies_sent(client) == ["created"]
    assert await people.get({"id": "p-1"}) == {"id": "p-1"}


@pytest.mark.parametrize(
    ("stored_version", "incoming_version", "written"),
    [(1, 2, True), (2, 2, False), (3, 2, False)],
)
async def test_guarded_messages_exist_exactly_when_the_row_write_happened(
    people: DynamoTable,
    client: Any,
    queue: SqsQueue,
    stored_version: int,
    incoming_version: int,
    written: bool,
) -> None:
    await people.put({"id": "p-1", "version": stored_version})

    guarded = people.put(
        {"id": "p-1", "version": incoming_version, "updated": True},
        condition=AttrLessThan("version", incoming_version),
        then_send=[Outgoing(queue, b"changed")],
    )
    if written:
        await guarded
    else:
        with pytest.raises(ConditionFailed):
            await guarded

    row = await people.get({"id": "p-1"})
    assert row is not None
    assert ("updated" in row) is written
    assert bodies_sent(client) == (["changed"] if written else [])


async def test_a_failed_conditional_delete_keeps_the_item_and_sends_nothing(
    people: DynamoTable, client: Any, queue: SqsQueue
) -> None:
    await people.put({"id": "p-1", "version": 2})

    with pytest.raises(ConditionFailed):
        await people.delete(
            {"id": "p-1"}, condition=AttrLessThan("version", 1), then_send=[Outgoing(queue, b"gone")]
        )

    assert await people.get({"id": "p-1"}) == {"id": "p-1", "version": 2}
    assert bodies_sent(client) == []


async def test_a_conditional_delete_that_holds_sends_its_messages(
    people: DynamoTable, client: Any, queue: SqsQueue
) -> None:
    await people.put({"id": "p-1", "name": "Ada"})

    old = await people.delete({"id": "p-1"}, condition=Exists(), then_send=[Outgoing(queue, b"gone")])

    assert old == {"id": "p-1", "name": "Ada"}
    assert await people.get({"id": "p-1"}) is None
    assert bodies_sent(client) == ["gone"]


async def test_deleting_a_missing_item_with_messages_sends_them_and_returns_none(
    people: DynamoTable, client: Any, queue: SqsQueue
) -> None:
    assert await people.delete({"id": "nobody"}, then_send=[Outgoing(queue, b"checked")]) is None

    assert bodies_sent(client) == ["checked"]


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


@pytest.mark.parametrize(
    "item",
    [{"name": "no id"}, {"id": None}, {"id": True}, {"id": ["a"]}, {"id": {"a": 1}}, {"id": ""}],
    ids=repr,
)
async def test_a_bad_hash_key_is_refused_before_anything_is_written(
    people: DynamoTable, spy: Spy, queue: SqsQueue, item: Item
) -> None:
    with pytest.raises(ValueError, match="key attribute"):
        await people.put(item, then_send=[Outgoing(queue, b"should not exist")])

    assert spy.calls == []


async def test_a_missing_sort_key_is_refused(events: DynamoTable, spy: Spy) -> None:
    with pytest.raises(ValueError, match="'at'"):
        await events.put({"user": "u1"})
    with pytest.raises(ValueError, match="'at'"):
        await events.get({"user": "u1"})

    assert spy.calls == []


async def test_a_batch_with_one_bad_key_writes_nothing(people: DynamoTable) -> None:
    puts = [{"id": f"p-{i}"} for i in range(60)] + [{"id": False}]

    with pytest.raises(ValueError, match="key attribute"):
        await people.batch_write(puts=puts)

    assert await all_items(people) == []


# queries -----------------------------------------------------------------------------------------

SORT_KEYS = ["a1", "a2", "b1", "b2", "c1"]


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        (KeyRange("=", "b1"), ["b1"]),
        (KeyRange("<", "b1"), ["a1", "a2"]),
        (KeyRange("<=", "b1"), ["a1", "a2", "b1"]),
        (KeyRange(">", "b1"), ["b2", "c1"]),
        (KeyRange(">=", "b1"), ["b1", "b2", "c1"]),
        (KeyRange("between", "a2", "b2"), ["a2", "b1", "b2"]),
        (KeyRange("begins_with", "b"), ["b1", "b2"]),
        (KeyRange("begins_with", "x"), []),
        (None, SORT_KEYS),
    ],
    ids=["eq", "lt", "le", "gt", "ge", "between", "begins_with", "begins_with-none", "all"],
)
@pytest.mark.parametrize("forward", [True, False], ids=["forward", "backward"])
async def test_a_query_returns_the_sort_keys_in_its_range_in_order(
    events: DynamoTable, sort: KeyRange | None, expected: list[str], forward: bool
) -> None:
    await events.batch_write(puts=[{"user": user, "at": at} for at in SORT_KEYS for user in ("u1", "u2")])

    page = await events.query("u1", sort=sort, forward=forward)

    assert [item["at"] for item in page.items] == (expected if forward else expected[::-1])
    assert {item["user"] for item in page.items} <= {"u1"}
    assert page.cursor is None


async def test_begins_with_is_case_sensitive(events: DynamoTable) -> None:
    await events.batch_write(
        puts=[{"user": "u1", "at": at} for at in ["Order#1", "order#2", "order#3", "orders"]]
    )

    page = await events.query("u1", sort=KeyRange("begins_with", "order#"))

    assert [item["at"] for item in page.items] == ["order#2", "order#3"]


async def test_number_sort_keys_order_as_numbers(numbered: DynamoTable) -> None:
    await numbered.batch_write(puts=[{"user": "u1", "at": at} for at in [10, 9, 100, 1.5, -3]])

    page = await numbered.query("u1")
    above = await numbered.query("u1", sort=KeyRange(">", 9))

    assert [item["at"] for item in page.items] == [-3, 1.5, 9, 10, 100]
    assert [item["at"] for item in above.items] == [10, 100]


async def test_a_sort_condition_on_a_table_without_sort_key_is_refused(people: DynamoTable) -> None:
    with pytest.raises(ValueError, match="sort key"):
        await people.query("p-1", sort=KeyRange("=", "x"))


async def test_a_query_on_an_unknown_index_is_refused(events: DynamoTable) -> None:
    with pytest.raises(ValueError, match="no index 'by-nothing'"):
        await events.query("x", index="by-nothing")


@pytest.mark.parametrize("forward", [True, False], ids=["forward", "backward"])
async def test_paging_a_query_visits_every_item_exactly_once_in_order(
    events: DynamoTable, spy: Spy, forward: bool
) -> None:
    await events.batch_write(puts=[{"user": "u1", "at": f"t{i:04d}"} for i in range(120)])
    await events.put({"user": "u2", "at": "t0000"})

    items = await query_all(events, "u1", limit=7, forward=forward)

    expected = [f"t{i:04d}" for i in range(120)]
    assert [item["at"] for item in items] == (expected if forward else expected[::-1])
    assert {call["ScanIndexForward"] for call in spy.of("query")} == {forward}


async def test_paging_a_query_with_a_sort_condition_stays_in_the_range(numbered: DynamoTable) -> None:
    await numbered.batch_write(puts=[{"user": "u1", "at": i} for i in range(100)])

    items = await query_all(numbered, "u1", limit=7, sort=KeyRange("between", 10, 49), forward=False)

    assert [item["at"] for item in items] == list(range(49, 9, -1))


async def test_a_query_page_has_a_cursor_only_when_more_items_follow(numbered: DynamoTable) -> None:
    await numbered.batch_write(puts=[{"user": "u1", "at": i} for i in range(4)])

    exact = await numbered.query("u1", limit=4)
    first = await numbered.query("u1", limit=3)
    rest = await numbered.query("u1", limit=3, cursor=first.cursor)

    assert exact.cursor is None
    assert first.cursor is not None
    assert [item["at"] for item in rest.items] == [3]
    assert rest.cursor is None


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


# secondary indexes -------------------------------------------------------------------------------


async def test_a_query_by_index_finds_items_by_the_index_keys_in_sort_order(events: DynamoTable) -> None:
    await events.put({"user": "u1", "at": "1", "kind": "renewal", "day": "2026-01-03"})
    await events.put({"user": "u2", "at": "1", "kind": "renewal", "day": "2026-01-01"})
    await events.put({"user": "u3", "at": "1", "kind": "renewal", "day": "2026-01-02"})
    await events.put({"user": "u4", "at": "1", "kind": "refund", "day": "2026-01-01"})

    page = await events.query("renewal", index="by-kind")
    later = await events.query("renewal", index="by-kind", sort=KeyRange(">=", "2026-01-02"), forward=False)

    assert [item["user"] for item in page.items] == ["u2", "u3", "u1"]
    assert [item["user"] for item in later.items] == ["u1", "u3"]


async def test_an_index_is_sparse_items_without_its_attributes_are_not_in_it(events: DynamoTable) -> None:
    await events.put({"user": "u1", "at": "1", "kind": "renewal", "day": "2026-01-01"})
    await events.put({"user": "u2", "at": "1", "day": "2026-01-01"})  # no hash key of the index
    await events.put({"user": "u3", "at": "1", "kind": "renewal"})  # no sort key of the index
    await events.put({"user": "u4", "at": "1", "email": "d@example.org"})

    by_kind = await events.query("renewal", index="by-kind")
    by_kind_sorted = await events.query("renewal", index="by-kind", sort=KeyRange("<", "9999"))
    by_email = await events.query("d@example.org", index="by-email")

    assert [item["user"] for item in by_kind.items] == ["u1"]
    assert [item["user"] for item in by_kind_sorted.items] == ["u1"]
    assert [item["user"] for item in by_email.items] == ["u4"]


async def test_an_item_leaves_the_index_when_its_index_attribute_is_removed(events: DynamoTable) -> None:
    await events.put({"user": "u1", "at": "1", "email": "a@example.org"})

    await events.put({"user": "u1", "at": "1"})

    assert (await events.query("a@example.org", index="by-email")).items == []


@pytest.mark.parametrize("forward", [True, False], ids=["forward", "backward"])
async def test_paging_an_index_with_equal_sort_values_visits_every_item_once(
    events: DynamoTable, forward: bool
) -> None:
    await events.batch_write(
        puts=[
            {"user": f"u{i % 5}", "at": f"{i:02d}", "kind": "renewal", "day": "2026-01-01"} for i in range(30)
        ]
        + [{"user": "other", "at": "0", "kind": "refund", "day": "2026-01-01"}]
    )

    items = await query_all(events, "renewal", index="by-kind", limit=4, forward=forward)

    keys = [(item["user"], item["at"]) for item in items]
    assert len(keys) == 30
    assert set(keys) == {(f"u{i % 5}", f"{i:02d}") for i in range(30)}


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


async def test_batch_get_of_no_keys_returns_nothing(events: DynamoTable, spy: Spy) -> None:
    assert await events.batch_get([]) == []
    assert spy.calls == []


async def test_batch_write_writes_more_than_twenty_five_puts(people: DynamoTable, spy: Spy) -> None:
    await people.batch_write(puts=[{"id": f"p-{i:05d}", "n": i} for i in range(110)])

    found = await people.batch_get([{"id": f"p-{i:05d}"} for i in range(110)])
    assert sorted(item["n"] for item in found) == list(range(110))
    assert await people.get({"id": "p-00109"}) == {"id": "p-00109", "n": 109}
    sizes = [len(call["RequestItems"]["test-people"]) for call in spy.of("batch_write_item")]
    assert sizes == [25, 25, 25, 25, 10]


async def test_batch_write_deletes_and_puts_in_one_call(numbered: DynamoTable) -> None:
    await numbered.batch_write(puts=[{"user": "u", "at": i} for i in range(100)])

    await numbered.batch_write(
        puts=[{"user": "u", "at": i} for i in range(100, 150)],
        deletes=[{"user": "u", "at": i} for i in range(90)],
    )

    found = await numbered.batch_get([{"user": "u", "at": i} for i in range(150)])
    assert sorted(item["at"] for item in found) == list(range(90, 150))


async def test_batch_write_with_one_key_twice_keeps_the_last_request(people: DynamoTable) -> None:
    await people.batch_write(
        puts=[{"id": "a", "n": 1}, {"id": "a", "n": 2}, {"id": "b"}], deletes=[{"id": "b"}]
    )

    assert await all_items(people) == [{"id": "a", "n": 2}]


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


async def test_four_scan_segments_cover_every_item_exactly_once(events: DynamoTable, spy: Spy) -> None:
    expected = {(f"u{i % 37}", f"{i:03d}") for i in range(200)}
    await events.batch_write(puts=[{"user": user, "at": at} for user, at in expected])

    seen: list[tuple[Any, Any]] = []
    per_segment: list[int] = []
    for segment in range(4):
        cursor: str | None = None
        count = 0
        while True:
            page = await events.scan(segment=segment, total_segments=4, limit=15, cursor=cursor)
            assert len(page.items) <= 15
            seen.extend((item["user"], item["at"]) for item in page.items)
            count += len(page.items)
            cursor = page.cursor
            if cursor is None:
                break
        per_segment.append(count)

    assert len(seen) == len(expected)
    assert set(seen) == expected
    assert all(count > 0 for count in per_segment)
    assert {(call["Segment"], call["TotalSegments"]) for call in spy.of("scan")} == {(s, 4) for s in range(4)}


async def test_a_scan_segment_outside_the_total_is_refused(events: DynamoTable) -> None:
    with pytest.raises(ValueError, match="segment"):
        await events.scan(segment=4, total_segments=4)


# snapshot reads (exports) ------------------------------------------------------------------------


async def snapshot_items(table: DynamoTable, **arguments: Any) -> list[list[Item]]:
    return [[json.loads(item) for item in page] async for page in table.read_snapshot(**arguments)]


async def test_a_snapshot_reads_every_item_as_compact_json_in_pages(people: DynamoTable) -> None:
    await people.batch_write(
        [{"id": f"p{i:02}", "name": "é", "n": i, "x": {"a": [1.5, None]}} for i in range(25)]
    )

    pages = [page async for page in people.read_snapshot(page_size=10)]

    assert [len(page) for page in pages] == [10, 10, 5]
    lines = [line for page in pages for line in page]
    assert all(isinstance(line, bytes) for line in lines)
    assert b'{"id":"p03","name":"\xc3\xa9","n":3,"x":{"a":[1.5,null]}}' in lines
    assert sorted(json.loads(line)["id"] for line in lines) == [f"p{i:02}" for i in range(25)]


async def test_a_snapshot_of_an_empty_table_has_no_pages(people: DynamoTable) -> None:
    assert await snapshot_items(people) == []


async def test_a_snapshot_of_an_index_partition_is_in_index_order(events: DynamoTable) -> None:
    await events.batch_write(
        [
            {"user": "u1", "at": "3", "kind": "buy", "day": "2026-01-03"},
            {"user": "u2", "at": "1", "kind": "buy", "day": "2026-01-01"},
            {"user": "u3", "at": "2", "kind": "sell", "day": "2026-01-02"},
            {"user": "u4", "at": "4", "kind": "buy"},  # not in the index: no sort key
        ]
        + [{"user": f"v{i}", "at": "5", "kind": "buy", "day": f"2026-02-{i:02}"} for i in range(10, 0, -1)]
    )

    pages = await snapshot_items(events, index="by-kind", hash_value="buy", page_size=5)
    assert [len(page) for page in pages] == [5, 5, 2]
    assert [item["user"] for page in pages for item in page] == ["u2", "u1"] + [f"v{i}" for i in range(1, 11)]
    (page,) = await snapshot_items(events, hash_value="u3")
    assert [item["at"] for item in page] == ["2"]


async def test_a_snapshot_leaves_out_the_paths_named(people: DynamoTable) -> None:
    await people.put({"id": "p", "secret": "s", "payload": {"password": "x", "a": {"receipt": "r", "b": 1}}})

    (page,) = await snapshot_items(people, omit=["secret", "payload.password", "payload.a.receipt", "nope.x"])

    assert page == [{"id": "p", "payload": {"a": {"b": 1}}}]
    assert await people.get({"id": "p"}) == {
        "id": "p",
        "secret": "s",
        "payload": {"password": "x", "a": {"receipt": "r", "b": 1}},
    }


async def test_a_snapshot_read_may_stop_early(people: DynamoTable) -> None:
    await people.batch_write([{"id": f"p{i:02}"} for i in range(30)])
    snapshot = people.read_snapshot(page_size=10)

    first = await anext(snapshot)
    await snapshot.aclose()

    assert len(first) == 10


async def test_a_snapshot_refuses_an_unknown_index_or_a_partition_without_its_hash(
    events: DynamoTable,
) -> None:
    with pytest.raises(ValueError, match="no index"):
        await snapshot_items(events, index="nope", hash_value="x")
    with pytest.raises(ValueError, match="needs its hash value"):
        await snapshot_items(events, index="by-kind")
    with pytest.raises(ValueError, match="page_size"):
        await snapshot_items(events, page_size=0)
    with pytest.raises(ValueError, match="document path"):
        await snapshot_items(events, omit=["a..b"])


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
