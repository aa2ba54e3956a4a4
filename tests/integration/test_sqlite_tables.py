"""DynamoDB-shaped tables on SQLite: keys, conditional writes with their outbox messages, queries
on the table and its sparse indexes, batches and parallel scans."""

from __future__ import annotations

import json
from typing import Any

import pytest

from supporterflow.adapters.clock import FrozenClock
from supporterflow.adapters.sqlite.queues import SqliteQueue
from supporterflow.adapters.sqlite.tables import SqliteTable
from supporterflow.declare import Index, QueueDef, TableDef
from supporterflow.ports import (
    Absent,
    AttrLessThan,
    ConditionFailed,
    Exists,
    Item,
    KeyRange,
    Outgoing,
)

from .conftest import OpenStore, Store

PEOPLE = TableDef("people", hash_key="id", ttl_attribute="expires_at")
EVENTS = TableDef(
    "events",
    hash_key="user",
    sort_key="at",
    indexes={"by-kind": Index("kind", "day"), "by-email": Index("email")},
)
OUTBOX = QueueDef("outbox", dlq=False)


@pytest.fixture
def store(open_store: OpenStore) -> Store:
    return open_store(PEOPLE, EVENTS, OUTBOX)


@pytest.fixture
def people(store: Store) -> SqliteTable:
    return store.table("people")


@pytest.fixture
def events(store: Store) -> SqliteTable:
    return store.table("events")


@pytest.fixture
def outbox(store: Store) -> SqliteQueue:
    return store.queue("outbox")


async def bodies_in(queue: SqliteQueue) -> list[bytes]:
    page = await queue.list(limit=1000)
    return [m.body for m in page.messages]


async def query_all(table: SqliteTable, hash_value: str, *, limit: int, **kwargs: Any) -> list[Item]:
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
    raise AssertionError("pagination never ended")


# put / get / delete ------------------------------------------------------------------------------


async def test_a_put_item_is_read_back_by_its_key(people: SqliteTable) -> None:
    item = {"id": "p-1", "name": "Ada", "tags": ["a", "b"], "score": 1.5, "active": True, "note": None}

    await people.put(item)

    assert await people.get({"id": "p-1"}) == item


async def test_getting_a_missing_key_returns_none(people: SqliteTable) -> None:
    assert await people.get({"id": "nobody"}) is None


async def test_a_put_replaces_the_whole_item(people: SqliteTable) -> None:
    await people.put({"id": "p-1", "name": "Ada", "city": "London"})

    await people.put({"id": "p-1", "name": "Ada L."})

    assert await people.get({"id": "p-1"}) == {"id": "p-1", "name": "Ada L."}


async def test_items_are_found_by_hash_and_sort_key_together(events: SqliteTable) -> None:
    await events.put({"user": "u1", "at": "t1", "n": 1})
    await events.put({"user": "u1", "at": "t2", "n": 2})
    await events.put({"user": "u2", "at": "t1", "n": 3})

    assert await events.get({"user": "u1", "at": "t2"}) == {"user": "u1", "at": "t2", "n": 2}
    assert await events.get({"user": "u2", "at": "t1"}) == {"user": "u2", "at": "t1", "n": 3}
    assert await events.get({"user": "u2", "at": "t2"}) is None


async def test_a_string_key_and_a_number_key_are_different_items(people: SqliteTable) -> None:
    await people.put({"id": "1", "kind": "string"})
    await people.put({"id": 1, "kind": "number"})

    assert await people.get({"id": "1"}) == {"id": "1", "kind": "string"}
    assert await people.get({"id": 1}) == {"id": 1, "kind": "number"}


async def test_delete_returns_the_old_image_and_removes_the_item(people: SqliteTable) -> None:
    await people.put({"id": "p-1", "name": "Ada"})

    old = await people.delete({"id": "p-1"})

    assert old == {"id": "p-1", "name": "Ada"}
    assert await people.get({"id": "p-1"}) is None


async def test_deleting_a_missing_item_returns_none(people: SqliteTable) -> None:
    assert await people.delete({"id": "nobody"}) is None


# conditional writes and their messages -----------------------------------------------------------


async def test_an_insert_once_put_fails_on_an_existing_item_and_writes_nothing(people: SqliteTable) -> None:
    await people.put({"id": "p-1", "name": "first"}, condition=Absent())

    with pytest.raises(ConditionFailed):
        await people.put({"id": "p-1", "name": "second"}, condition=Absent())

    assert await people.get({"id": "p-1"}) == {"id": "p-1", "name": "first"}


async def test_a_failed_conditional_put_sends_none_of_its_messages(
    people: SqliteTable, outbox: SqliteQueue
) -> None:
    await people.put({"id": "p-1"}, condition=Absent(), then_send=[Outgoing(outbox, b"created")])

    with pytest.raises(ConditionFailed):
        await people.put(
            {"id": "p-1", "again": True},
            condition=Absent(),
            then_send=[Outgoing(outbox, b"created again"), Outgoing(outbox, b"and more")],
        )

    assert await bodies_in(outbox) == [b"created"]


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


async def test_newer_data_replaces_older_under_an_attr_less_than_guard(people: SqliteTable) -> None:
    await people.put({"id": "p-1", "version": 1, "name": "old"})

    await people.put({"id": "p-1", "version": 2, "name": "new"}, condition=AttrLessThan("version", 2))

    assert await people.get({"id": "p-1"}) == {"id": "p-1", "version": 2, "name": "new"}


async def test_older_data_is_rejected_by_an_attr_less_than_guard(people: SqliteTable) -> None:
    await people.put({"id": "p-1", "version": 5, "name": "newest"})

    with pytest.raises(ConditionFailed):
        await people.put({"id": "p-1", "version": 3, "name": "stale"}, condition=AttrLessThan("version", 3))
    with pytest.raises(ConditionFailed):
        await people.put({"id": "p-1", "version": 5, "name": "same"}, condition=AttrLessThan("version", 5))

    assert await people.get({"id": "p-1"}) == {"id": "p-1", "version": 5, "name": "newest"}


async def test_an_attr_less_than_guard_fails_on_a_missing_item(people: SqliteTable) -> None:
    with pytest.raises(ConditionFailed):
        await people.put({"id": "p-1", "version": 1}, condition=AttrLessThan("version", 1))

    assert await people.get({"id": "p-1"}) is None


@pytest.mark.parametrize(
    ("stored_version", "incoming_version", "written"),
    [(1, 2, True), (2, 2, False), (3, 2, False)],
)
async def test_guarded_messages_exist_exactly_when_the_row_write_happened(
    people: SqliteTable, outbox: SqliteQueue, stored_version: int, incoming_version: int, written: bool
) -> None:
    await people.put({"id": "p-1", "version": stored_version})

    guarded = people.put(
        {"id": "p-1", "version": incoming_version, "updated": True},
        condition=AttrLessThan("version", incoming_version),
        then_send=[Outgoing(outbox, b"changed")],
    )
    if written:
        await guarded
    else:
        with pytest.raises(ConditionFailed):
            await guarded

    row = await people.get({"id": "p-1"})
    assert row is not None
    assert ("updated" in row) is written
    assert await bodies_in(outbox) == ([b"changed"] if written else [])


async def test_a_failed_conditional_delete_keeps_the_item_and_sends_nothing(
    people: SqliteTable, outbox: SqliteQueue
) -> None:
    await people.put({"id": "p-1", "version": 2})

    with pytest.raises(ConditionFailed):
        await people.delete(
            {"id": "p-1"}, condition=AttrLessThan("version", 1), then_send=[Outgoing(outbox, b"gone")]
        )

    assert await people.get({"id": "p-1"}) == {"id": "p-1", "version": 2}
    assert await bodies_in(outbox) == []


async def test_a_conditional_delete_that_holds_sends_its_messages(
    people: SqliteTable, outbox: SqliteQueue
) -> None:
    await people.put({"id": "p-1"})

    old = await people.delete({"id": "p-1"}, condition=Exists(), then_send=[Outgoing(outbox, b"gone")])

    assert old == {"id": "p-1"}
    assert await people.get({"id": "p-1"}) is None
    assert await bodies_in(outbox) == [b"gone"]


async def test_a_message_for_a_queue_of_another_database_fails_the_write(
    people: SqliteTable, outbox: SqliteQueue, open_store: OpenStore
) -> None:
    elsewhere = open_store(QueueDef("elsewhere", dlq=False)).queue("elsewhere")

    with pytest.raises(TypeError):
        await people.put({"id": "p-1"}, then_send=[Outgoing(outbox, b"here"), Outgoing(elsewhere, b"there")])

    assert await people.get({"id": "p-1"}) is None
    assert await bodies_in(outbox) == []
    assert await bodies_in(elsewhere) == []


async def test_a_put_that_changes_a_number_to_a_boolean_is_written(people: SqliteTable) -> None:
    await people.put({"id": "p-1", "flag": 1})

    await people.put({"id": "p-1", "flag": True})

    stored = await people.get({"id": "p-1"})
    assert stored is not None
    assert stored["flag"] is True


# keys are checked in the caller ------------------------------------------------------------------


@pytest.mark.parametrize(
    "item",
    [
        {"name": "no id"},
        {"id": None},
        {"id": True},
        {"id": ["a"]},
        {"id": {"a": 1}},
    ],
)
async def test_a_bad_hash_key_is_refused_before_anything_is_written(
    people: SqliteTable, outbox: SqliteQueue, item: Item
) -> None:
    with pytest.raises(ValueError, match="key attribute"):
        await people.put(item, then_send=[Outgoing(outbox, b"should not exist")])

    assert (await people.scan()).items == []
    assert await bodies_in(outbox) == []


async def test_a_missing_sort_key_is_refused(events: SqliteTable) -> None:
    with pytest.raises(ValueError, match="'at'"):
        await events.put({"user": "u1"})
    with pytest.raises(ValueError, match="'at'"):
        await events.get({"user": "u1"})

    assert (await events.scan()).items == []


async def test_a_batch_with_one_bad_key_writes_nothing(people: SqliteTable) -> None:
    puts = [{"id": f"p-{i}"} for i in range(500)] + [{"id": False}]

    with pytest.raises(ValueError, match="key attribute"):
        await people.batch_write(puts=puts)

    assert (await people.scan()).items == []


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
    events: SqliteTable, sort: KeyRange | None, expected: list[str], forward: bool
) -> None:
    for at in SORT_KEYS:
        await events.put({"user": "u1", "at": at})
        await events.put({"user": "u2", "at": at})

    page = await events.query("u1", sort=sort, forward=forward)

    assert [item["at"] for item in page.items] == (expected if forward else expected[::-1])
    assert {item["user"] for item in page.items} <= {"u1"}
    assert page.cursor is None


async def test_begins_with_is_case_sensitive(events: SqliteTable) -> None:
    for at in ["Order#1", "order#2", "order#3", "orders"]:
        await events.put({"user": "u1", "at": at})

    page = await events.query("u1", sort=KeyRange("begins_with", "order#"))

    assert [item["at"] for item in page.items] == ["order#2", "order#3"]


async def test_number_sort_keys_order_as_numbers(events: SqliteTable) -> None:
    for at in [10, 9, 100, 1.5, -3]:
        await events.put({"user": "u1", "at": at})

    page = await events.query("u1")
    above = await events.query("u1", sort=KeyRange(">", 9))

    assert [item["at"] for item in page.items] == [-3, 1.5, 9, 10, 100]
    assert [item["at"] for item in above.items] == [10, 100]


async def test_a_sort_condition_on_a_table_without_sort_key_is_refused(people: SqliteTable) -> None:
    with pytest.raises(ValueError, match="sort key"):
        await people.query("p-1", sort=KeyRange("=", "x"))


async def test_a_query_on_an_unknown_index_is_refused(events: SqliteTable) -> None:
    with pytest.raises(ValueError, match="no index 'by-nothing'"):
        await events.query("x", index="by-nothing")


@pytest.mark.parametrize("forward", [True, False], ids=["forward", "backward"])
async def test_paging_a_query_visits_every_item_exactly_once_in_order(
    events: SqliteTable, forward: bool
) -> None:
    await events.batch_write(puts=[{"user": "u1", "at": f"t{i:04d}"} for i in range(250)])
    await events.put({"user": "u2", "at": "t0000"})

    items = await query_all(events, "u1", limit=7, forward=forward)

    expected = [f"t{i:04d}" for i in range(250)]
    assert [item["at"] for item in items] == (expected if forward else expected[::-1])


async def test_paging_a_query_with_a_sort_condition_stays_in_the_range(events: SqliteTable) -> None:
    await events.batch_write(puts=[{"user": "u1", "at": i} for i in range(100)])

    items = await query_all(events, "u1", limit=7, sort=KeyRange("between", 10, 49), forward=False)

    assert [item["at"] for item in items] == list(range(49, 9, -1))


async def test_a_query_page_has_a_cursor_only_when_more_items_follow(events: SqliteTable) -> None:
    for i in range(4):
        await events.put({"user": "u1", "at": i})

    exact = await events.query("u1", limit=4)
    first = await events.query("u1", limit=3)
    rest = await events.query("u1", limit=3, cursor=first.cursor)

    assert exact.cursor is None
    assert first.cursor is not None
    assert [item["at"] for item in rest.items] == [3]
    assert rest.cursor is None


# secondary indexes -------------------------------------------------------------------------------


async def test_a_query_by_index_finds_items_by_the_index_keys_in_sort_order(events: SqliteTable) -> None:
    await events.put({"user": "u1", "at": 1, "kind": "renewal", "day": "2026-01-03"})
    await events.put({"user": "u2", "at": 1, "kind": "renewal", "day": "2026-01-01"})
    await events.put({"user": "u3", "at": 1, "kind": "renewal", "day": "2026-01-02"})
    await events.put({"user": "u4", "at": 1, "kind": "refund", "day": "2026-01-01"})

    page = await events.query("renewal", index="by-kind")
    later = await events.query("renewal", index="by-kind", sort=KeyRange(">=", "2026-01-02"), forward=False)

    assert [item["user"] for item in page.items] == ["u2", "u3", "u1"]
    assert [item["user"] for item in later.items] == ["u1", "u3"]


async def test_an_index_is_sparse_items_without_its_attributes_are_not_in_it(events: SqliteTable) -> None:
    await events.put({"user": "u1", "at": 1, "kind": "renewal", "day": "2026-01-01"})
    await events.put({"user": "u2", "at": 1, "day": "2026-01-01"})  # no hash key of the index
    await events.put({"user": "u3", "at": 1, "kind": "renewal"})  # no sort key of the index
    await events.put({"user": "u4", "at": 1, "email": "d@example.org"})

    by_kind = await events.query("renewal", index="by-kind")
    by_kind_sorted = await events.query("renewal", index="by-kind", sort=KeyRange("<", "9999"))
    by_email = await events.query("d@example.org", index="by-email")

    assert [item["user"] for item in by_kind.items] == ["u1"]
    assert [item["user"] for item in by_kind_sorted.items] == ["u1"]
    assert [item["user"] for item in by_email.items] == ["u4"]


async def test_an_item_leaves_the_index_when_its_index_attribute_is_removed(events: SqliteTable) -> None:
    await events.put({"user": "u1", "at": 1, "email": "a@example.org"})

    await events.put({"user": "u1", "at": 1})

    assert (await events.query("a@example.org", index="by-email")).items == []


@pytest.mark.parametrize("forward", [True, False], ids=["forward", "backward"])
async def test_paging_an_index_with_equal_sort_values_visits_every_item_once(
    events: SqliteTable, forward: bool
) -> None:
    await events.batch_write(
        puts=[{"user": f"u{i % 5}", "at": i, "kind": "renewal", "day": "2026-01-01"} for i in range(30)]
        + [{"user": "other", "at": 0, "kind": "refund", "day": "2026-01-01"}]
    )

    items = await query_all(events, "renewal", index="by-kind", limit=4, forward=forward)

    keys = [(item["user"], item["at"]) for item in items]
    assert len(keys) == 30
    assert set(keys) == {(f"u{i % 5}", i) for i in range(30)}


# batches and scans -------------------------------------------------------------------------------


async def test_batch_get_returns_every_existing_item_of_more_than_a_thousand_keys(
    events: SqliteTable,
) -> None:
    await events.batch_write(puts=[{"user": f"u{i % 3}", "at": i, "n": i} for i in range(1200)])
    keys = [{"user": f"u{i % 3}", "at": i} for i in range(1500)]  # the last 300 do not exist
    keys += [{"user": "u9", "at": i} for i in range(10)]  # nor do these

    items = await events.batch_get(keys)

    assert sorted(item["n"] for item in items) == list(range(1200))


async def test_batch_get_returns_an_item_once_however_often_its_key_is_asked(events: SqliteTable) -> None:
    await events.batch_write(puts=[{"user": "u1", "at": 1, "n": 1}, {"user": "u1", "at": 2, "n": 2}])

    items = await events.batch_get(
        [{"user": "u1", "at": 1}, {"user": "u1", "at": 2}, {"user": "u1", "at": 1}]
    )

    assert sorted(item["n"] for item in items) == [1, 2]


async def test_batch_get_of_no_keys_returns_nothing(events: SqliteTable) -> None:
    assert await events.batch_get([]) == []


async def test_batch_write_writes_more_than_a_thousand_puts(people: SqliteTable) -> None:
    await people.batch_write(puts=[{"id": f"p-{i:05d}", "n": i} for i in range(1100)])

    found = await people.batch_get([{"id": f"p-{i:05d}"} for i in range(1100)])
    assert sorted(item["n"] for item in found) == list(range(1100))
    assert await people.get({"id": "p-01099"}) == {"id": "p-01099", "n": 1099}


async def test_batch_write_deletes_and_puts_in_one_call(people: SqliteTable) -> None:
    await people.batch_write(puts=[{"id": i} for i in range(1000)])

    await people.batch_write(
        puts=[{"id": i} for i in range(1000, 1500)], deletes=[{"id": i} for i in range(900)]
    )

    found = await people.batch_get([{"id": i} for i in range(1500)])
    assert sorted(item["id"] for item in found) == list(range(900, 1500))


async def test_four_scan_segments_cover_every_item_exactly_once(events: SqliteTable) -> None:
    expected = {(f"u{i % 37}", i) for i in range(600)} | {(i, "s") for i in range(50)}
    await events.batch_write(puts=[{"user": user, "at": at} for user, at in expected])

    seen: list[tuple[Any, Any]] = []
    per_segment: list[int] = []
    for segment in range(4):
        cursor: str | None = None
        count = 0
        while True:
            page = await events.scan(segment=segment, total_segments=4, limit=50, cursor=cursor)
            assert len(page.items) <= 50
            seen.extend((item["user"], item["at"]) for item in page.items)
            count += len(page.items)
            cursor = page.cursor
            if cursor is None:
                break
        per_segment.append(count)

    assert len(seen) == len(expected)
    assert set(seen) == expected
    assert all(count > 0 for count in per_segment)


async def test_a_scan_segment_outside_the_total_is_refused(events: SqliteTable) -> None:
    with pytest.raises(ValueError, match="segment"):
        await events.scan(segment=4, total_segments=4)


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


async def snapshot_items(table: SqliteTable, **arguments: Any) -> list[list[Item]]:
    return [[json.loads(item) for item in page] async for page in table.read_snapshot(**arguments)]


async def test_a_snapshot_reads_every_item_as_stored_json_in_pages(people: SqliteTable) -> None:
    await people.batch_write([{"id": f"p{i:02}", "name": "é", "n": i} for i in range(25)])
    pages = await snapshot_items(people, page_size=10)
    assert [len(page) for page in pages] == [10, 10, 5]
    assert sorted(item["id"] for page in pages for item in page) == [f"p{i:02}" for i in range(25)]
    assert {item["name"] for page in pages for item in page} == {"é"}


async def test_a_snapshot_of_an_index_partition_is_in_index_order(events: SqliteTable) -> None:
    await events.batch_write(
        [
            {"user": "u1", "at": "3", "kind": "buy", "day": "2026-01-03"},
            {"user": "u2", "at": "1", "kind": "buy", "day": "2026-01-01"},
            {"user": "u3", "at": "2", "kind": "sell", "day": "2026-01-02"},
            {"user": "u4", "at": "4", "kind": "buy"},  # not in the index: no sort key
        ]
    )
    (page,) = await snapshot_items(events, index="by-kind", hash_value="buy")
    assert [item["user"] for item in page] == ["u2", "u1"]
    (page,) = await snapshot_items(events, hash_value="u3")
    assert [item["at"] for item in page] == ["2"]


async def test_a_snapshot_leaves_out_the_paths_named(people: SqliteTable) -> None:
    await people.put({"id": "p", "secret": "s", "payload": {"password": "x", "a": {"receipt": "r", "b": 1}}})
    (page,) = await snapshot_items(people, omit=["secret", "payload.password", "payload.a.receipt", "nope.x"])
    assert page == [{"id": "p", "payload": {"a": {"b": 1}}}]
    assert await people.get({"id": "p"}) == {
        "id": "p",
        "secret": "s",
        "payload": {"password": "x", "a": {"receipt": "r", "b": 1}},
    }


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


async def test_a_snapshot_refuses_an_unknown_index_or_a_partition_without_its_hash(
    events: SqliteTable,
) -> None:
    with pytest.raises(ValueError, match="no index"):
        await snapshot_items(events, index="nope", hash_value="x")
    with pytest.raises(ValueError, match="needs its hash value"):
        await snapshot_items(events, index="by-kind")
    with pytest.raises(ValueError, match="page_size"):
        await snapshot_items(events, page_size=0)
