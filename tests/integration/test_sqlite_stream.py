"""The outbox change stream: records written with each row change, read in commit order, with a
checkpoint per subscriber."""

from __future__ import annotations

from datetime import timedelta

import pytest

from supporterflow.adapters.clock import FrozenClock
from supporterflow.adapters.sqlite.stream import SqliteChangeStream
from supporterflow.adapters.sqlite.tables import SqliteTable
from supporterflow.declare import TableDef
from supporterflow.ports import TTL_PRINCIPAL, Absent, ChangeRecord, ConditionFailed

from .conftest import OpenStore, Store

ORDERS = TableDef("orders", hash_key="id", ttl_attribute="expires_at", stream=True)
PAYMENTS = TableDef("payments", hash_key="id", sort_key="at", stream=True)
NOTES = TableDef("notes", hash_key="id")  # no stream


@pytest.fixture
def store(open_store: OpenStore) -> Store:
    return open_store(ORDERS, PAYMENTS, NOTES)


@pytest.fixture
def orders(store: Store) -> SqliteTable:
    return store.table("orders")


@pytest.fixture
def payments(store: Store) -> SqliteTable:
    return store.table("payments")


@pytest.fixture
def stream(store: Store) -> SqliteChangeStream:
    return store.stream


def summary(records: list[ChangeRecord]) -> list[tuple[str, str, object]]:
    return [(r.table, r.event_name, r.keys) for r in records]


async def test_insert_modify_and_remove_arrive_in_commit_order_with_old_and_new_images(
    orders: SqliteTable, stream: SqliteChangeStream, clock: FrozenClock
) -> None:
    await orders.put({"id": "o-1", "status": "new"})
    clock.advance(1)
    await orders.put({"id": "o-1", "status": "paid"})
    clock.advance(1)
    await orders.delete({"id": "o-1"})

    records = await stream.read("sub", tables=["orders"], limit=10)

    assert [(r.event_name, r.keys, r.old_image, r.new_image) for r in records] == [
        ("INSERT", {"id": "o-1"}, None, {"id": "o-1", "status": "new"}),
        ("MODIFY", {"id": "o-1"}, {"id": "o-1", "status": "new"}, {"id": "o-1", "status": "paid"}),
        ("REMOVE", {"id": "o-1"}, {"id": "o-1", "status": "paid"}, None),
    ]
    sequences = [r.sequence for r in records]
    assert sequences == sorted(sequences)
    assert len(set(sequences)) == 3
    assert [r.committed_at - records[0].committed_at for r in records] == [
        timedelta(0),
        timedelta(seconds=1),
        timedelta(seconds=2),
    ]
    assert all(r.principal is None for r in records)


async def test_records_of_several_tables_interleave_in_commit_order(
    orders: SqliteTable, payments: SqliteTable, stream: SqliteChangeStream
) -> None:
    await orders.put({"id": "o-1"})
    await payments.put({"id": "o-1", "at": 1, "amount": 5})
    await orders.put({"id": "o-2"})

    both = await stream.read("sub", tables=["orders", "payments"], limit=10)
    only_payments = await stream.read("sub", tables=["payments"], limit=10)

    assert summary(both) == [
        ("orders", "INSERT", {"id": "o-1"}),
        ("payments", "INSERT", {"id": "o-1", "at": 1}),
        ("orders", "INSERT", {"id": "o-2"}),
    ]
    assert summary(only_payments) == [("payments", "INSERT", {"id": "o-1", "at": 1})]


async def test_read_returns_at_most_limit_records(orders: SqliteTable, stream: SqliteChangeStream) -> None:
    for i in range(5):
        await orders.put({"id": f"o-{i}"})

    records = await stream.read("sub", tables=["orders"], limit=3)

    assert [r.keys["id"] for r in records] == ["o-0", "o-1", "o-2"]


async def test_a_put_that_changes_nothing_writes_no_record(
    orders: SqliteTable, stream: SqliteChangeStream
) -> None:
    await orders.put({"id": "o-1", "status": "new", "lines": [1, 2]})

    await orders.put({"id": "o-1", "lines": [1, 2], "status": "new"})

    records = await stream.read("sub", tables=["orders"], limit=10)
    assert [r.event_name for r in records] == ["INSERT"]


async def test_a_failed_conditional_write_writes_no_record(
    orders: SqliteTable, stream: SqliteChangeStream
) -> None:
    await orders.put({"id": "o-1"}, condition=Absent())

    with pytest.raises(ConditionFailed):
        await orders.put({"id": "o-1", "again": True}, condition=Absent())

    assert [r.event_name for r in await stream.read("sub", tables=["orders"], limit=10)] == ["INSERT"]


async def test_deleting_a_missing_item_writes_no_record(
    orders: SqliteTable, stream: SqliteChangeStream
) -> None:
    await orders.delete({"id": "nobody"})

    assert await stream.read("sub", tables=["orders"], limit=10) == []


async def test_batch_writes_write_a_record_per_changed_row(
    orders: SqliteTable, stream: SqliteChangeStream
) -> None:
    await orders.put({"id": "o-0"})

    await orders.batch_write(puts=[{"id": f"o-{i}"} for i in range(1, 4)], deletes=[{"id": "o-0"}])

    records = await stream.read("sub", tables=["orders"], limit=10)
    assert sorted((r.event_name, r.keys["id"]) for r in records) == [
        ("INSERT", "o-0"),
        ("INSERT", "o-1"),
        ("INSERT", "o-2"),
        ("INSERT", "o-3"),
        ("REMOVE", "o-0"),
    ]


async def test_a_ttl_deletion_carries_principal_ttl_and_a_normal_delete_none(
    orders: SqliteTable, stream: SqliteChangeStream, clock: FrozenClock
) -> None:
    expires_at = clock.now().timestamp() + 60
    await orders.put({"id": "expiring", "expires_at": expires_at})
    await orders.put({"id": "deleted"})
    await orders.delete({"id": "deleted"})
    clock.advance(61)

    assert await orders.sweep_expired() == 1

    removals = [
        (r.keys["id"], r.principal, r.old_image)
        for r in await stream.read("sub", tables=["orders"], limit=10)
        if r.event_name == "REMOVE"
    ]
    assert removals == [
        ("deleted", None, {"id": "deleted"}),
        ("expiring", TTL_PRINCIPAL, {"id": "expiring", "expires_at": expires_at}),
    ]
    assert TTL_PRINCIPAL == "ttl"


async def test_tables_without_stream_write_no_records(store: Store, stream: SqliteChangeStream) -> None:
    notes = store.table("notes")

    await notes.put({"id": "n-1", "text": "a"})
    await notes.put({"id": "n-1", "text": "b"})
    await notes.batch_write(puts=[{"id": "n-2"}])
    await notes.delete({"id": "n-1"})

    assert await stream.read("sub", tables=["notes"], limit=10) == []
    assert await stream.lag("sub", tables=["notes"]) == 0
    assert await notes.get({"id": "n-2"}) == {"id": "n-2"}


async def test_read_after_a_checkpoint_resumes_after_it(
    orders: SqliteTable, stream: SqliteChangeStream
) -> None:
    for i in range(5):
        await orders.put({"id": f"o-{i}"})
    first = await stream.read("sub", tables=["orders"], limit=2)

    await stream.checkpoint("sub", first[-1].sequence)

    rest = await stream.read("sub", tables=["orders"], limit=10)
    assert [r.keys["id"] for r in rest] == ["o-2", "o-3", "o-4"]
    other = await stream.read("another", tables=["orders"], limit=10)
    assert len(other) == 5  # checkpoints are per subscriber


async def test_a_subscriber_that_crashes_mid_batch_resumes_from_its_checkpoint_and_misses_nothing(
    store: Store, orders: SqliteTable, clock: FrozenClock
) -> None:
    for i in range(25):
        await orders.put({"id": f"o-{i:02d}"})
    processed: list[str] = []

    reader = SqliteChangeStream(store.db, clock)
    batch = await reader.read("mailer", tables=["orders"], limit=10)
    assert len(batch) == 10
    for position, record in enumerate(batch[:5]):
        processed.append(record.keys["id"])
        if position == 2:
            await reader.checkpoint("mailer", record.sequence)
    del reader  # crash: the 4th and 5th were handled but never checkpointed

    restarted = SqliteChangeStream(store.db, clock)
    while records := await restarted.read("mailer", tables=["orders"], limit=10):
        for record in records:
            processed.append(record.keys["id"])
        await restarted.checkpoint("mailer", records[-1].sequence)

    expected = [f"o-{i:02d}" for i in range(25)]
    assert processed == expected[:5] + expected[3:]  # at least once: the uncheckpointed two come again
    assert set(processed) == set(expected)
    assert await restarted.lag("mailer", tables=["orders"]) == 0


async def test_a_checkpoint_never_moves_backwards(orders: SqliteTable, stream: SqliteChangeStream) -> None:
    for i in range(4):
        await orders.put({"id": f"o-{i}"})
    records = await stream.read("sub", tables=["orders"], limit=10)

    await stream.checkpoint("sub", records[2].sequence)
    await stream.checkpoint("sub", records[0].sequence)

    assert [r.keys["id"] for r in await stream.read("sub", tables=["orders"], limit=10)] == ["o-3"]


async def test_lag_counts_the_records_not_yet_checkpointed(
    orders: SqliteTable, payments: SqliteTable, stream: SqliteChangeStream
) -> None:
    assert await stream.lag("sub", tables=["orders"]) == 0
    for i in range(6):
        await orders.put({"id": f"o-{i}"})
    await payments.put({"id": "p", "at": 1})
    records = await stream.read("sub", tables=["orders"], limit=10)

    assert await stream.lag("sub", tables=["orders"]) == 6
    assert await stream.lag("sub", tables=["orders", "payments"]) == 7
    await stream.checkpoint("sub", records[3].sequence)
    assert await stream.lag("sub", tables=["orders"]) == 2
    assert await stream.lag("sub", tables=["orders", "payments"]) == 3


async def test_prune_deletes_only_checkpointed_records_older_than_retention(
    orders: SqliteTable, stream: SqliteChangeStream, clock: FrozenClock
) -> None:
    for i in range(4):
        await orders.put({"id": f"old-{i}"})
    clock.advance(hours=23)
    await orders.put({"id": "recent"})
    everything = await stream.read("sub", tables=["orders"], limit=10)
    await stream.checkpoint("sub", everything[-1].sequence)  # all five done...
    await stream.checkpoint("slow", everything[1].sequence)  # ...but "slow" only the first two
    clock.advance(hours=2)  # the first four are 25 h old, "recent" 2 h

    pruned = await stream.prune(["sub", "slow"], retention=timedelta(hours=24))

    assert pruned == 2
    remaining = await stream.read("fresh-reader", tables=["orders"], limit=10)
    assert [r.keys["id"] for r in remaining] == ["old-2", "old-3", "recent"]


async def test_prune_keeps_everything_a_subscriber_has_never_checkpointed(
    orders: SqliteTable, stream: SqliteChangeStream, clock: FrozenClock
) -> None:
    await orders.put({"id": "o-1"})
    records = await stream.read("sub", tables=["orders"], limit=10)
    await stream.checkpoint("sub", records[-1].sequence)
    clock.advance(hours=48)

    assert await stream.prune(["sub", "never-ran"]) == 0
    assert await stream.prune(["sub"]) == 1
    assert await stream.read("fresh-reader", tables=["orders"], limit=10) == []
