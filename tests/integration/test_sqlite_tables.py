"""DynamoDB-shaped tables on SQLite: the ``Table`` contract (tests/table_contract.py) and what
is SQLite's own: key types, messages sent to SQLite queues with a write, TTL sweeps and snapshot
reads that do not see later writes."""

from __future__ import annotations

import json

import pytest

from supporterflow.adapters.clock import FrozenClock
from supporterflow.adapters.sqlite.queues import SqliteQueue
from supporterflow.adapters.sqlite.tables import SqliteTable
from supporterflow.declare import QueueDef, TableDef
from supporterflow.ports import Item, Outgoing
from tests import table_contract as contract
from tests.table_contract import EVENTS, PEOPLE, assert_scan_segments_cover

from .conftest import OpenStore, Store

OUTBOX = QueueDef("outbox", dlq=False)


@pytest.fixture
def store(open_store: OpenStore) -> Store:
    return open_store(*contract.TABLES, OUTBOX)


@pytest.fixture
def people(store: Store) -> SqliteTable:
    return store.table(PEOPLE.name)


@pytest.fixture
def events(store: Store) -> SqliteTable:
    return store.table(EVENTS.name)


@pytest.fixture
def outbox(store: Store) -> SqliteQueue:
    return store.queue("outbox")


async def bodies_in(queue: SqliteQueue) -> list[bytes]:
    page = await queue.list(limit=1000)
    return [m.body for m in page.messages]


@pytest.fixture
def tables(store: Store, outbox: SqliteQueue) -> contract.Tables:
    async def sent() -> list[bytes]:
        return sorted(await bodies_in(outbox))

    def table(definition: TableDef) -> SqliteTable:
        return store.table(definition.name)

    return contract.Tables(table=table, queue=outbox, sent=sent)


@pytest.mark.parametrize("check", contract.CHECKS, ids=contract.name_of)
async def test_the_table_contract(tables: contract.Tables, check: contract.Check) -> None:
    await check(tables)


# keys --------------------------------------------------------------------------------------------


async def test_a_string_key_and_a_number_key_are_different_items(people: SqliteTable) -> None:
    await people.put({"id": "1", "kind": "string"})
    await people.put({"id": 1, "kind": "number"})

    assert await people.get({"id": "1"}) == {"id": "1", "kind": "string"}
    assert await people.get({"id": 1}) == {"id": 1, "kind": "number"}


async def test_scan_segments_cover_keys_of_every_type_exactly_once(events: SqliteTable) -> None:
    keys = {(f"u{i % 37}", i) for i in range(600)} | {(i, "s") for i in range(50)}

    await assert_scan_segments_cover(events, keys, limit=50)


# messages sent with a write ----------------------------------------------------------------------


async def test_the_messages_of_a_put_are_sent_with_it(people: SqliteTable, outbox: SqliteQueue) -> None:
    await people.put({"id": "p-1"}, then_send=[Outgoing(outbox, b"one"), Outgoing(outbox, b"two")])

    assert await people.get({"id": "p-1"}) == {"id": "p-1"}
    assert await bodies_in(outbox) == [b"one", b"two"]


async def test_a_message_sent_with_a_put_keeps_its_delay(
    people: SqliteTable, outbox: SqliteQueue, clock: FrozenClock
) -> None:
    await people.put({"id": "p-1"}, then_send=[Outgoing(outbox, b"later", delay_s=60)])

    assert await outbox.receive(10, 30) == []
    clock.advance(60)
    assert [r.body for r in await outbox.receive(10, 30)] == [b"later"]


async def test_a_message_for_a_queue_of_another_database_fails_the_write(
    people: SqliteTable, outbox: SqliteQueue, open_store: OpenStore
) -> None:
    elsewhere = open_store(QueueDef("elsewhere", dlq=False)).queue("elsewhere")

    with pytest.raises(TypeError):
        await people.put({"id": "p-1"}, then_send=[Outgoing(outbox, b"here"), Outgoing(elsewhere, b"there")])

    assert await people.get({"id": "p-1"}) is None
    assert await bodies_in(outbox) == []
    assert await bodies_in(elsewhere) == []


# TTL ---------------------------------------------------------------------------------------------


async def test_sweeping_deletes_only_rows_whose_ttl_has_passed(
    people: SqliteTable, clock: FrozenClock
) -> None:
    now = clock.now().timestamp()
    await people.put({"id": "expired", "expires_at": now - 1})
    await people.put({"id": "later", "expires_at": now + 3600})
    await people.put({"id": "forever"})
    await people.put({"id": "text-ttl", "expires_at": str(now - 1)})  # not a number: ignored

    swept = await people.sweep_expired()

    assert swept == 1
    remaining = sorted(item["id"] for item in (await people.scan()).items)
    assert remaining == ["forever", "later", "text-ttl"]

    clock.advance(3601)
    assert await people.sweep_expired() == 1
    assert await people.get({"id": "later"}) is None


# snapshot reads (exports) ------------------------------------------------------------------------


async def test_a_snapshot_does_not_see_writes_made_while_it_is_read(people: SqliteTable) -> None:
    await people.batch_write([{"id": f"p{i:03}", "v": 1} for i in range(300)])
    seen: list[Item] = []
    snapshot = people.read_snapshot(page_size=50)
    seen += [json.loads(item) for item in await anext(snapshot)]
    # Writes after the first page: new rows, changed rows and deleted rows.
    await people.batch_write([{"id": f"q{i:03}", "v": 2} for i in range(100)], deletes=[{"id": "p299"}])
    await people.put({"id": "p298", "v": 3})
    seen += [json.loads(item) async for page in snapshot for item in page]
    assert len(seen) == 300
    assert {item["v"] for item in seen} == {1}
    assert (await people.get({"id": "p298"}))["v"] == 3  # type: ignore[index]
