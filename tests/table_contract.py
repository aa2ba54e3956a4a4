"""The ``Table`` port's contract, stated once and run against every adapter.

The SQLite tables (tests/integration/test_sqlite_tables.py) and the DynamoDB tables
(tests/aws/test_dynamodb_table.py) promise the same thing to the code that uses them: items by
key, conditional writes that send their messages exactly when they write, queries on the table
and its sparse indexes in key order with cursors, batches of any size, parallel scans and snapshot
reads. Each check here takes a fresh, empty ``Tables``: a table of the adapter for each of
``TABLES``, a queue that writes may send messages to and what was sent to it. Each test file runs
every check in ``CHECKS`` against its own adapter and keeps only what is particular to it (SQLite's
change records, TTL sweeps and key types; DynamoDB's marshalling, transactions, call limits and
errors).

``NUMBERED``'s sort key holds numbers: an adapter that types its keys (DynamoDB) declares it a
number; the other tables' keys are strings."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from supporterflow.declare import Index, TableDef
from supporterflow.ports import (
    Absent,
    AttrEquals,
    AttrLessThan,
    ConditionFailed,
    Exists,
    Item,
    KeyRange,
    Outgoing,
    Queue,
    Table,
)

PEOPLE = TableDef("people", hash_key="id", ttl_attribute="expires_at", strings=frozenset({"name"}))
EVENTS = TableDef(
    "events",
    hash_key="user",
    sort_key="at",
    indexes={"by-kind": Index("kind", "day"), "by-email": Index("email")},
)
NUMBERED = TableDef("numbered", hash_key="user", sort_key="at")
TABLES = [PEOPLE, EVENTS, NUMBERED]


@dataclass(frozen=True)
class Tables:
    """An adapter's tables for a check: ``table(definition)`` for each of ``TABLES``, ``queue`` for
    the messages of ``then_send`` and ``sent()``, the bodies sent to it so far, sorted."""

    table: Callable[[TableDef], Table]
    queue: Queue
    sent: Callable[[], Awaitable[list[bytes]]]


Check = Callable[[Tables], Awaitable[None]]

CHECKS: list[Check] = []


def check(function: Check) -> Check:
    """Add ``function`` to ``CHECKS``."""
    CHECKS.append(function)
    return function


def name_of(function: Check) -> str:
    """A check's test id: its name."""
    return getattr(function, "__name__", repr(function))


async def all_items(table: Table) -> list[Item]:
    """Every item of the table, from a scan of one page."""
    page = await table.scan(limit=10_000)
    assert page.cursor is None
    return page.items


async def query_all(table: Table, hash_value: Any, *, limit: int, **kwargs: Any) -> list[Item]:
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


async def scan_segments(table: Table, total_segments: int, limit: int) -> list[list[Item]]:
    """The items of each segment of a parallel scan, page by page."""
    segments: list[list[Item]] = []
    for segment in range(total_segments):
        items: list[Item] = []
        cursor: str | None = None
        for _ in range(10_000):
            page = await table.scan(
                segment=segment, total_segments=total_segments, limit=limit, cursor=cursor
            )
            assert len(page.items) <= limit
            items.extend(page.items)
            cursor = page.cursor
            if cursor is None:
                break
        else:
            raise AssertionError("the scan never ended")
        segments.append(items)
    return segments


async def snapshot_items(table: Table, **arguments: Any) -> list[list[Item]]:
    """The items of each page of a snapshot read."""
    return [[json.loads(item) for item in page] async for page in table.read_snapshot(**arguments)]


# put / get / delete ------------------------------------------------------------------------------


@check
async def a_put_item_is_read_back_by_its_key(tables: Tables) -> None:
    people = tables.table(PEOPLE)
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

    stored = await people.get({"id": "p-1"})
    assert stored == item
    assert stored is not None
    assert type(stored["count"]) is int
    assert type(stored["score"]) is float


@check
async def getting_a_missing_key_returns_none(tables: Tables) -> None:
    assert await tables.table(PEOPLE).get({"id": "nobody"}) is None


@check
async def a_put_replaces_the_whole_item(tables: Tables) -> None:
    people = tables.table(PEOPLE)
    await people.put({"id": "p-1", "name": "Ada", "city": "London"})

    await people.put({"id": "p-1", "name": "Ada L."})

    assert await people.get({"id": "p-1"}) == {"id": "p-1", "name": "Ada L."}


@check
async def items_are_found_by_hash_and_sort_key_together(tables: Tables) -> None:
    events = tables.table(EVENTS)
    await events.put({"user": "u1", "at": "t1", "n": 1})
    await events.put({"user": "u1", "at": "t2", "n": 2})
    await events.put({"user": "u2", "at": "t1", "n": 3})

    assert await events.get({"user": "u1", "at": "t2"}) == {"user": "u1", "at": "t2", "n": 2}
    assert await events.get({"user": "u2", "at": "t1"}) == {"user": "u2", "at": "t1", "n": 3}
    assert await events.get({"user": "u2", "at": "t2"}) is None


@check
async def a_key_with_other_attributes_is_reduced_to_the_key(tables: Tables) -> None:
    events = tables.table(EVENTS)
    await events.put({"user": "u1", "at": "t1", "n": 1})

    assert await events.get({"user": "u1", "at": "t1", "n": 1}) == {"user": "u1", "at": "t1", "n": 1}


@check
async def delete_returns_the_old_image_and_removes_the_item(tables: Tables) -> None:
    people = tables.table(PEOPLE)
    await people.put({"id": "p-1", "name": "Ada"})

    old = await people.delete({"id": "p-1"})

    assert old == {"id": "p-1", "name": "Ada"}
    assert await people.get({"id": "p-1"}) is None


@check
async def deleting_a_missing_item_returns_none(tables: Tables) -> None:
    assert await tables.table(PEOPLE).delete({"id": "nobody"}) is None


@check
async def a_put_that_changes_a_number_to_a_boolean_is_written(tables: Tables) -> None:
    people = tables.table(PEOPLE)
    await people.put({"id": "p-1", "flag": 1})

    await people.put({"id": "p-1", "flag": True})

    stored = await people.get({"id": "p-1"})
    assert stored is not None
    assert stored["flag"] is True


# conditional writes and their messages -----------------------------------------------------------


@check
async def an_insert_once_put_fails_on_an_existing_item_and_writes_nothing(tables: Tables) -> None:
    people = tables.table(PEOPLE)
    await people.put({"id": "p-1", "name": "first"}, condition=Absent())

    with pytest.raises(ConditionFailed):
        await people.put({"id": "p-1", "name": "second"}, condition=Absent())

    assert await people.get({"id": "p-1"}) == {"id": "p-1", "name": "first"}


@check
async def a_failed_conditional_put_sends_none_of_its_messages(tables: Tables) -> None:
    people, queue = tables.table(PEOPLE), tables.queue
    await people.put({"id": "p-1"}, condition=Absent(), then_send=[Outgoing(queue, b"created")])

    with pytest.raises(ConditionFailed):
        await people.put(
            {"id": "p-1", "again": True},
            condition=Absent(),
            then_send=[Outgoing(queue, b"created again"), Outgoing(queue, b"and more")],
        )

    assert await tables.sent() == [b"created"]
    assert await people.get({"id": "p-1"}) == {"id": "p-1"}


@check
async def newer_data_replaces_older_under_an_attr_less_than_guard(tables: Tables) -> None:
    people = tables.table(PEOPLE)
    await people.put({"id": "p-1", "version": 1, "name": "old"})

    await people.put({"id": "p-1", "version": 2, "name": "new"}, condition=AttrLessThan("version", 2))

    assert await people.get({"id": "p-1"}) == {"id": "p-1", "version": 2, "name": "new"}


@check
async def older_data_is_rejected_by_an_attr_less_than_guard(tables: Tables) -> None:
    people = tables.table(PEOPLE)
    await people.put({"id": "p-1", "version": 5, "name": "newest"})

    with pytest.raises(ConditionFailed):
        await people.put({"id": "p-1", "version": 3, "name": "stale"}, condition=AttrLessThan("version", 3))
    with pytest.raises(ConditionFailed):
        await people.put({"id": "p-1", "version": 5, "name": "same"}, condition=AttrLessThan("version", 5))

    assert await people.get({"id": "p-1"}) == {"id": "p-1", "version": 5, "name": "newest"}


@check
async def an_attr_less_than_guard_fails_on_a_missing_item(tables: Tables) -> None:
    people = tables.table(PEOPLE)
    with pytest.raises(ConditionFailed):
        await people.put({"id": "p-1", "version": 1}, condition=AttrLessThan("version", 1))

    assert await people.get({"id": "p-1"}) is None


@check
async def guarded_messages_exist_exactly_when_the_row_write_happened(tables: Tables) -> None:
    people = tables.table(PEOPLE)
    # (stored version, incoming version, whether the guard lets the write through), one item each
    cases = {"p-1": (1, 2, True), "p-2": (2, 2, False), "p-3": (3, 2, False)}
    for key, (stored_version, incoming_version, written) in cases.items():
        await people.put({"id": key, "version": stored_version})

        guarded = people.put(
            {"id": key, "version": incoming_version, "updated": True},
            condition=AttrLessThan("version", incoming_version),
            then_send=[Outgoing(tables.queue, f"changed {key}".encode())],
        )
        if written:
            await guarded
        else:
            with pytest.raises(ConditionFailed):
                await guarded

        row = await people.get({"id": key})
        assert row is not None
        assert ("updated" in row) is written

    assert await tables.sent() == [b"changed p-1"]


@check
async def a_failed_conditional_delete_keeps_the_item(tables: Tables) -> None:
    people = tables.table(PEOPLE)
    await people.put({"id": "p-1", "version": 2})

    with pytest.raises(ConditionFailed):
        await people.delete({"id": "p-1"}, condition=AttrLessThan("version", 1))

    assert await people.get({"id": "p-1"}) == {"id": "p-1", "version": 2}


@check
async def a_failed_conditional_delete_keeps_the_item_and_sends_nothing(tables: Tables) -> None:
    people = tables.table(PEOPLE)
    await people.put({"id": "p-1", "version": 2})

    with pytest.raises(ConditionFailed):
        await people.delete(
            {"id": "p-1"}, condition=AttrLessThan("version", 1), then_send=[Outgoing(tables.queue, b"gone")]
        )

    assert await people.get({"id": "p-1"}) == {"id": "p-1", "version": 2}
    assert await tables.sent() == []


@check
async def a_conditional_delete_that_holds_returns_the_old_image(tables: Tables) -> None:
    people = tables.table(PEOPLE)
    await people.put({"id": "p-1", "version": 2})

    assert await people.delete({"id": "p-1"}, condition=AttrEquals("version", 2)) == {
        "id": "p-1",
        "version": 2,
    }
    assert await people.get({"id": "p-1"}) is None


@check
async def a_conditional_delete_that_holds_sends_its_messages(tables: Tables) -> None:
    people = tables.table(PEOPLE)
    await people.put({"id": "p-1", "name": "Ada"})

    old = await people.delete({"id": "p-1"}, condition=Exists(), then_send=[Outgoing(tables.queue, b"gone")])

    assert old == {"id": "p-1", "name": "Ada"}
    assert await people.get({"id": "p-1"}) is None
    assert await tables.sent() == [b"gone"]


@check
async def deleting_a_missing_item_with_messages_sends_them_and_returns_none(tables: Tables) -> None:
    people = tables.table(PEOPLE)

    assert await people.delete({"id": "nobody"}, then_send=[Outgoing(tables.queue, b"checked")]) is None

    assert await tables.sent() == [b"checked"]


# keys are checked in the caller ------------------------------------------------------------------

BAD_HASH_KEYS: list[Item] = [{"name": "no id"}, {"id": None}, {"id": True}, {"id": ["a"]}, {"id": {"a": 1}}]


@check
async def a_bad_hash_key_is_refused_before_anything_is_written(tables: Tables) -> None:
    people = tables.table(PEOPLE)
    for item in BAD_HASH_KEYS:
        with pytest.raises(ValueError, match="key attribute"):
            await people.put(item, then_send=[Outgoing(tables.queue, b"should not exist")])

    assert await all_items(people) == []
    assert await tables.sent() == []


@check
async def a_missing_sort_key_is_refused(tables: Tables) -> None:
    events = tables.table(EVENTS)
    with pytest.raises(ValueError, match="'at'"):
        await events.put({"user": "u1"})
    with pytest.raises(ValueError, match="'at'"):
        await events.get({"user": "u1"})

    assert await all_items(events) == []


@check
async def a_batch_with_one_bad_key_writes_nothing(tables: Tables) -> None:
    people = tables.table(PEOPLE)
    puts = [{"id": f"p-{i}"} for i in range(500)] + [{"id": False}]

    with pytest.raises(ValueError, match="key attribute"):
        await people.batch_write(puts=puts)

    assert await all_items(people) == []


# queries -----------------------------------------------------------------------------------------

SORT_KEYS = ["a1", "a2", "b1", "b2", "c1"]
# A sort condition, its test id and the sort keys of SORT_KEYS it selects.
RANGES: list[tuple[KeyRange | None, str, list[str]]] = [
    (KeyRange("=", "b1"), "eq", ["b1"]),
    (KeyRange("<", "b1"), "lt", ["a1", "a2"]),
    (KeyRange("<=", "b1"), "le", ["a1", "a2", "b1"]),
    (KeyRange(">", "b1"), "gt", ["b2", "c1"]),
    (KeyRange(">=", "b1"), "ge", ["b1", "b2", "c1"]),
    (KeyRange("between", "a2", "b2"), "between", ["a2", "b1", "b2"]),
    (KeyRange("begins_with", "b"), "begins_with", ["b1", "b2"]),
    (KeyRange("begins_with", "x"), "begins_with-none", []),
    (None, "all", SORT_KEYS),
]


@check
async def a_query_returns_the_sort_keys_in_its_range_in_order(tables: Tables) -> None:
    events = tables.table(EVENTS)
    await events.batch_write(puts=[{"user": user, "at": at} for at in SORT_KEYS for user in ("u1", "u2")])

    for sort, name, expected in RANGES:
        for forward in (True, False):
            page = await events.query("u1", sort=sort, forward=forward)

            where = f"{name}, {'forward' if forward else 'backward'}"
            assert [item["at"] for item in page.items] == (expected if forward else expected[::-1]), where
            assert {item["user"] for item in page.items} <= {"u1"}, where
            assert page.cursor is None, where


@check
async def begins_with_is_case_sensitive(tables: Tables) -> None:
    events = tables.table(EVENTS)
    await events.batch_write(
        puts=[{"user": "u1", "at": at} for at in ["Order#1", "order#2", "order#3", "orders"]]
    )

    page = await events.query("u1", sort=KeyRange("begins_with", "order#"))

    assert [item["at"] for item in page.items] == ["order#2", "order#3"]


@check
async def number_sort_keys_order_as_numbers(tables: Tables) -> None:
    numbered = tables.table(NUMBERED)
    await numbered.batch_write(puts=[{"user": "u1", "at": at} for at in [10, 9, 100, 1.5, -3]])

    page = await numbered.query("u1")
    above = await numbered.query("u1", sort=KeyRange(">", 9))

    assert [item["at"] for item in page.items] == [-3, 1.5, 9, 10, 100]
    assert [item["at"] for item in above.items] == [10, 100]


@check
async def a_sort_condition_on_a_table_without_sort_key_is_refused(tables: Tables) -> None:
    with pytest.raises(ValueError, match="sort key"):
        await tables.table(PEOPLE).query("p-1", sort=KeyRange("=", "x"))


@check
async def a_query_on_an_unknown_index_is_refused(tables: Tables) -> None:
    with pytest.raises(ValueError, match="no index 'by-nothing'"):
        await tables.table(EVENTS).query("x", index="by-nothing")


@check
async def paging_a_query_visits_every_item_exactly_once_in_order(tables: Tables) -> None:
    events = tables.table(EVENTS)
    await events.batch_write(puts=[{"user": "u1", "at": f"t{i:04d}"} for i in range(250)])
    await events.put({"user": "u2", "at": "t0000"})

    expected = [f"t{i:04d}" for i in range(250)]
    forward = await query_all(events, "u1", limit=7)
    backward = await query_all(events, "u1", limit=7, forward=False)

    assert [item["at"] for item in forward] == expected
    assert [item["at"] for item in backward] == expected[::-1]


@check
async def paging_a_query_with_a_sort_condition_stays_in_the_range(tables: Tables) -> None:
    numbered = tables.table(NUMBERED)
    await numbered.batch_write(puts=[{"user": "u1", "at": i} for i in range(100)])

    items = await query_all(numbered, "u1", limit=7, sort=KeyRange("between", 10, 49), forward=False)

    assert [item["at"] for item in items] == list(range(49, 9, -1))


@check
async def a_query_page_has_a_cursor_only_when_more_items_follow(tables: Tables) -> None:
    numbered = tables.table(NUMBERED)
    await numbered.batch_write(puts=[{"user": "u1", "at": i} for i in range(4)])

    exact = await numbered.query("u1", limit=4)
    first = await numbered.query("u1", limit=3)
    rest = await numbered.query("u1", limit=3, cursor=first.cursor)

    assert exact.cursor is None
    assert first.cursor is not None
    assert [item["at"] for item in rest.items] == [3]
    assert rest.cursor is None


# secondary indexes -------------------------------------------------------------------------------


@check
async def a_query_by_index_finds_items_by_the_index_keys_in_sort_order(tables: Tables) -> None:
    events = tables.table(EVENTS)
    await events.put({"user": "u1", "at": "1", "kind": "renewal", "day": "2026-01-03"})
    await events.put({"user": "u2", "at": "1", "kind": "renewal", "day": "2026-01-01"})
    await events.put({"user": "u3", "at": "1", "kind": "renewal", "day": "2026-01-02"})
    await events.put({"user": "u4", "at": "1", "kind": "refund", "day": "2026-01-01"})

    page = await events.query("renewal", index="by-kind")
    later = await events.query("renewal", index="by-kind", sort=KeyRange(">=", "2026-01-02"), forward=False)

    assert [item["user"] for item in page.items] == ["u2", "u3", "u1"]
    assert [item["user"] for item in later.items] == ["u1", "u3"]


@check
async def an_index_is_sparse_items_without_its_attributes_are_not_in_it(tables: Tables) -> None:
    events = tables.table(EVENTS)
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


@check
async def an_item_leaves_the_index_when_its_index_attribute_is_removed(tables: Tables) -> None:
    events = tables.table(EVENTS)
    await events.put({"user": "u1", "at": "1", "email": "a@example.org"})

    await events.put({"user": "u1", "at": "1"})

    assert (await events.query("a@example.org", index="by-email")).items == []


@check
async def paging_an_index_with_equal_sort_values_visits_every_item_once(tables: Tables) -> None:
    events = tables.table(EVENTS)
    await events.batch_write(
        puts=[
            {"user": f"u{i % 5}", "at": f"{i:02d}", "kind": "renewal", "day": "2026-01-01"} for i in range(30)
        ]
        + [{"user": "other", "at": "0", "kind": "refund", "day": "2026-01-01"}]
    )

    for forward in (True, False):
        items = await query_all(events, "renewal", index="by-kind", limit=4, forward=forward)

        keys = [(item["user"], item["at"]) for item in items]
        assert len(keys) == 30
        assert set(keys) == {(f"u{i % 5}", f"{i:02d}") for i in range(30)}


# batches and scans -------------------------------------------------------------------------------


@check
async def batch_get_returns_every_existing_item_of_more_than_a_thousand_keys(tables: Tables) -> None:
    numbered = tables.table(NUMBERED)
    await numbered.batch_write(puts=[{"user": f"u{i % 3}", "at": i, "n": i} for i in range(1200)])
    keys = [{"user": f"u{i % 3}", "at": i} for i in range(1500)]  # the last 300 do not exist
    keys += [{"user": "u9", "at": i} for i in range(10)]  # nor do these

    items = await numbered.batch_get(keys)

    assert sorted(item["n"] for item in items) == list(range(1200))


@check
async def batch_get_returns_an_item_once_however_often_its_key_is_asked(tables: Tables) -> None:
    events = tables.table(EVENTS)
    await events.batch_write(puts=[{"user": "u1", "at": "1", "n": 1}, {"user": "u1", "at": "2", "n": 2}])

    items = await events.batch_get(
        [{"user": "u1", "at": "1"}, {"user": "u1", "at": "2"}, {"user": "u1", "at": "1"}]
    )

    assert sorted(item["n"] for item in items) == [1, 2]


@check
async def batch_get_of_no_keys_returns_nothing(tables: Tables) -> None:
    assert await tables.table(EVENTS).batch_get([]) == []


@check
async def batch_write_writes_more_than_a_thousand_puts(tables: Tables) -> None:
    people = tables.table(PEOPLE)
    await people.batch_write(puts=[{"id": f"p-{i:05d}", "n": i} for i in range(1100)])

    found = await people.batch_get([{"id": f"p-{i:05d}"} for i in range(1100)])
    assert sorted(item["n"] for item in found) == list(range(1100))
    assert await people.get({"id": "p-01099"}) == {"id": "p-01099", "n": 1099}


@check
async def batch_write_deletes_and_puts_in_one_call(tables: Tables) -> None:
    numbered = tables.table(NUMBERED)
    await numbered.batch_write(puts=[{"user": "u", "at": i} for i in range(1000)])

    await numbered.batch_write(
        puts=[{"user": "u", "at": i} for i in range(1000, 1500)],
        deletes=[{"user": "u", "at": i} for i in range(900)],
    )

    found = await numbered.batch_get([{"user": "u", "at": i} for i in range(1500)])
    assert sorted(item["at"] for item in found) == list(range(900, 1500))


@check
async def batch_write_with_one_key_twice_keeps_the_last_request(tables: Tables) -> None:
    people = tables.table(PEOPLE)
    await people.batch_write(
        puts=[{"id": "a", "n": 1}, {"id": "a", "n": 2}, {"id": "b"}], deletes=[{"id": "b"}]
    )

    assert await all_items(people) == [{"id": "a", "n": 2}]


async def assert_scan_segments_cover(table: Table, keys: set[tuple[Any, Any]], limit: int) -> None:
    """Write an item for each (hash, sort) pair of ``keys`` to ``table`` (keyed as ``EVENTS``),
    then read four scan segments: every item is in exactly one of them, and none is empty."""
    await table.batch_write(puts=[{"user": user, "at": at} for user, at in keys])

    segments = await scan_segments(table, 4, limit=limit)

    seen = [(item["user"], item["at"]) for items in segments for item in items]
    assert len(seen) == len(keys)
    assert set(seen) == keys
    assert all(len(items) > 0 for items in segments)


@check
async def four_scan_segments_cover_every_item_exactly_once(tables: Tables) -> None:
    await assert_scan_segments_cover(
        tables.table(EVENTS), {(f"u{i % 37}", f"{i:03d}") for i in range(600)}, 50
    )


@check
async def a_scan_segment_outside_the_total_is_refused(tables: Tables) -> None:
    with pytest.raises(ValueError, match="segment"):
        await tables.table(EVENTS).scan(segment=4, total_segments=4)


# snapshot reads (exports) ------------------------------------------------------------------------


@check
async def a_snapshot_reads_every_item_as_json_in_pages(tables: Tables) -> None:
    people = tables.table(PEOPLE)
    await people.batch_write(
        [{"id": f"p{i:02}", "name": "é", "n": i, "x": {"a": [1.5, None]}} for i in range(25)]
    )

    pages = [page async for page in people.read_snapshot(page_size=10)]

    assert [len(page) for page in pages] == [10, 10, 5]
    items = [json.loads(line) for page in pages for line in page]
    assert all(isinstance(line, bytes) for page in pages for line in page)
    assert sorted(item["id"] for item in items) == [f"p{i:02}" for i in range(25)]
    assert {item["name"] for item in items} == {"é"}
    assert {json.dumps(item["x"]) for item in items} == {'{"a": [1.5, null]}'}


@check
async def a_snapshot_of_an_empty_table_has_no_pages(tables: Tables) -> None:
    assert await snapshot_items(tables.table(PEOPLE)) == []


@check
async def a_snapshot_of_an_index_partition_is_in_index_order(tables: Tables) -> None:
    events = tables.table(EVENTS)
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


@check
async def a_snapshot_leaves_out_the_paths_named(tables: Tables) -> None:
    people = tables.table(PEOPLE)
    await people.put({"id": "p", "secret": "s", "payload": {"password": "x", "a": {"receipt": "r", "b": 1}}})

    (page,) = await snapshot_items(people, omit=["secret", "payload.password", "payload.a.receipt", "nope.x"])

    assert page == [{"id": "p", "payload": {"a": {"b": 1}}}]
    assert await people.get({"id": "p"}) == {
        "id": "p",
        "secret": "s",
        "payload": {"password": "x", "a": {"receipt": "r", "b": 1}},
    }


@check
async def a_snapshot_read_may_stop_early(tables: Tables) -> None:
    people = tables.table(PEOPLE)
    await people.batch_write([{"id": f"p{i:02}"} for i in range(30)])
    snapshot = people.read_snapshot(page_size=10)

    first = await anext(snapshot)
    await snapshot.aclose()

    assert len(first) == 10


@check
async def a_snapshot_refuses_an_unknown_index_or_a_partition_without_its_hash(tables: Tables) -> None:
    events = tables.table(EVENTS)
    with pytest.raises(ValueError, match="no index"):
        await snapshot_items(events, index="nope", hash_value="x")
    with pytest.raises(ValueError, match="needs its hash value"):
        await snapshot_items(events, index="by-kind")
    with pytest.raises(ValueError, match="page_size"):
        await snapshot_items(events, page_size=0)
    with pytest.raises(ValueError, match="document path"):
        await snapshot_items(events, omit=["a..b"])
