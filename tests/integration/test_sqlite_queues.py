"""SQS-shaped queues on SQLite: visibility timeouts, receive counts, redrive to a dead-letter queue
and back, batches, operator listings, and two processes sharing one file."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
from datetime import timedelta
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import pytest

from supporterflow.adapters.clock import FrozenClock, SystemClock
from supporterflow.adapters.sqlite.database import Database
from supporterflow.adapters.sqlite.queues import SqliteQueue
from supporterflow.declare import QueueDef
from supporterflow.ports import QueueDepth, StoredMessage

from .conftest import OpenStore, Store

JOBS = QueueDef("jobs", visibility_s=30, max_receives=3)
OTHER = QueueDef("other", dlq=False)


@pytest.fixture
def store(open_store: OpenStore) -> Store:
    return open_store(JOBS, OTHER)


@pytest.fixture
def jobs(store: Store) -> SqliteQueue:
    return store.queue("jobs")


@pytest.fixture
def dlq(store: Store) -> SqliteQueue:
    return store.queue("jobs-dlq")


@pytest.fixture
def other(store: Store) -> SqliteQueue:
    return store.queue("other")


async def listed(queue: SqliteQueue) -> list[StoredMessage]:
    """Every message of a queue, through the paginated listing."""
    messages: list[StoredMessage] = []
    cursor: str | None = None
    while True:
        page = await queue.list(limit=100, cursor=cursor)
        messages.extend(page.messages)
        cursor = page.cursor
        if cursor is None:
            return messages


# sending and receiving ---------------------------------------------------------------------------


async def test_a_sent_message_is_received_with_its_body_and_send_time(
    jobs: SqliteQueue, clock: FrozenClock
) -> None:
    message_id = await jobs.send(b"hello")

    (received,) = await jobs.receive(10, 30)

    assert received.message_id == message_id
    assert received.body == b"hello"
    assert received.receive_count == 1
    assert received.sent_at == clock.now()


async def test_receive_returns_at_most_max_messages_oldest_first(jobs: SqliteQueue) -> None:
    await jobs.send_batch([b"1", b"2", b"3", b"4", b"5"])

    first = await jobs.receive(3, 30)
    second = await jobs.receive(3, 30)

    assert [r.body for r in first] == [b"1", b"2", b"3"]
    assert [r.body for r in second] == [b"4", b"5"]


async def test_receiving_from_an_empty_queue_returns_nothing(jobs: SqliteQueue) -> None:
    assert await jobs.receive(10, 30) == []


async def test_a_message_body_must_be_bytes(jobs: SqliteQueue) -> None:
    with pytest.raises(TypeError):
        await jobs.send_batch([b"ok", "text"])  # type: ignore[list-item]

    assert await listed(jobs) == []


async def test_a_received_message_is_invisible_until_its_visibility_timeout(
    jobs: SqliteQueue, clock: FrozenClock
) -> None:
    message_id = await jobs.send(b"work")
    await jobs.receive(10, 30)

    assert await jobs.receive(10, 30) == []
    clock.advance(29)
    assert await jobs.receive(10, 30) == []
    clock.advance(1)
    (again,) = await jobs.receive(10, 30)

    assert again.message_id == message_id
    assert again.body == b"work"


async def test_the_receive_count_grows_with_each_receive(jobs: SqliteQueue, clock: FrozenClock) -> None:
    await jobs.send(b"work")

    counts = []
    for _ in range(3):
        (received,) = await jobs.receive(1, 30)
        counts.append(received.receive_count)
        clock.advance(30)

    assert counts == [1, 2, 3]


async def test_each_receive_issues_a_new_receipt(jobs: SqliteQueue, clock: FrozenClock) -> None:
    await jobs.send(b"work")

    (first,) = await jobs.receive(1, 30)
    clock.advance(30)
    (second,) = await jobs.receive(1, 30)

    assert first.message_id == second.message_id
    assert first.receipt != second.receipt


async def test_a_visibility_outside_its_bounds_is_refused(jobs: SqliteQueue) -> None:
    await jobs.send(b"work")

    with pytest.raises(ValueError, match="visibility_s"):
        await jobs.receive(1, 0)
    with pytest.raises(ValueError, match="visibility_s"):
        await jobs.receive(1, 12 * 60 * 60 + 1)
    (received,) = await jobs.receive(1, 30)
    with pytest.raises(ValueError, match="visibility_s"):
        await jobs.change_visibility(received, -1)


# acknowledging -----------------------------------------------------------------------------------


async def test_deleting_with_the_current_receipt_removes_the_message(
    jobs: SqliteQueue, clock: FrozenClock
) -> None:
    await jobs.send(b"work")
    (received,) = await jobs.receive(1, 30)

    await jobs.delete(received)

    clock.advance(3600)
    assert await jobs.receive(10, 30) == []
    assert (await jobs.depth()).total == 0


async def test_a_stale_receipt_cannot_delete_the_message_from_its_newer_holder(
    jobs: SqliteQueue, clock: FrozenClock
) -> None:
    message_id = await jobs.send(b"work")
    (stale,) = await jobs.receive(1, 30)
    clock.advance(30)
    (current,) = await jobs.receive(1, 30)

    await jobs.delete(stale)

    assert [m.message_id for m in await listed(jobs)] == [message_id]
    assert await jobs.depth() == QueueDepth(visible=0, in_flight=1, delayed=0)
    await jobs.delete(current)
    assert await listed(jobs) == []


async def test_delete_batch_acknowledges_25_messages_in_one_write(
    jobs: SqliteQueue, other: SqliteQueue, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = await jobs.send_batch([f"m{i}".encode() for i in range(30)])
    await other.send(b"not touched")
    received = await jobs.receive(25, 30)
    writes = 0
    write = store.db.write

    async def counted(run: Any) -> Any:
        nonlocal writes
        writes += 1
        return await write(run)

    monkeypatch.setattr(store.db, "write", counted)

    await jobs.delete_batch(received)

    assert writes == 1
    assert [m.message_id for m in await listed(jobs)] == ids[25:]
    assert await jobs.depth() == QueueDepth(visible=5, in_flight=0, delayed=0)
    assert [m.body for m in await listed(other)] == [b"not touched"]
    await jobs.delete_batch([])
    assert writes == 1  # nothing to delete: no write


async def test_delete_batch_ignores_stale_receipts_and_deletes_the_rest(
    jobs: SqliteQueue, clock: FrozenClock
) -> None:
    slow_id, *_ = await jobs.send_batch([b"slow", b"a", b"b"])
    (stale,) = await jobs.receive(1, 30)
    clock.advance(30)
    held = await jobs.receive(3, 30)
    assert sorted(r.message_id for r in held) == sorted(m.message_id for m in await listed(jobs))
    current = next(r for r in held if r.message_id == slow_id)
    others = [r for r in held if r.message_id != slow_id]

    await jobs.delete_batch([stale, *others])

    assert [m.message_id for m in await listed(jobs)] == [slow_id]
    assert await jobs.depth() == QueueDepth(visible=0, in_flight=1, delayed=0)
    await jobs.delete_batch([current, *others])  # already deleted: ignored too
    assert await listed(jobs) == []


async def test_a_stale_receipt_cannot_change_the_visibility_or_dead_letter(
    jobs: SqliteQueue, dlq: SqliteQueue, clock: FrozenClock
) -> None:
    await jobs.send(b"work")
    (stale,) = await jobs.receive(1, 30)
    clock.advance(30)
    await jobs.receive(1, 30)

    await jobs.change_visibility(stale, 0)
    await jobs.dead_letter(stale, "from the stale holder")

    assert await jobs.receive(1, 30) == []
    assert await listed(dlq) == []
    assert (await jobs.depth()).in_flight == 1


async def test_change_visibility_to_zero_makes_a_message_visible_at_once(jobs: SqliteQueue) -> None:
    message_id = await jobs.send(b"work")
    (received,) = await jobs.receive(1, 300)

    await jobs.change_visibility(received, 0)

    (again,) = await jobs.receive(1, 30)
    assert again.message_id == message_id
    assert again.receive_count == 2


async def test_change_visibility_extends_the_hold_from_now(jobs: SqliteQueue, clock: FrozenClock) -> None:
    await jobs.send(b"work")
    (received,) = await jobs.receive(1, 30)
    clock.advance(20)

    await jobs.change_visibility(received, 60)

    clock.advance(59)
    assert await jobs.receive(1, 30) == []
    clock.advance(1)
    assert [r.body for r in await jobs.receive(1, 30)] == [b"work"]


# delays and depth --------------------------------------------------------------------------------


async def test_a_delayed_message_is_not_received_before_its_delay(
    jobs: SqliteQueue, clock: FrozenClock
) -> None:
    await jobs.send(b"later", delay_s=120)
    await jobs.send_batch([b"batch-later"], delay_s=60)

    assert await jobs.receive(10, 30) == []
    clock.advance(60)
    assert [r.body for r in await jobs.receive(10, 300)] == [b"batch-later"]
    clock.advance(59)
    assert await jobs.receive(10, 30) == []
    clock.advance(1)
    assert [r.body for r in await jobs.receive(10, 30)] == [b"later"]


async def test_depth_counts_visible_in_flight_and_delayed_messages(
    jobs: SqliteQueue, other: SqliteQueue, clock: FrozenClock
) -> None:
    await jobs.send_batch([b"a", b"b", b"c"])
    await jobs.send(b"d", delay_s=100)
    await other.send(b"not counted")
    await jobs.receive(1, 50)

    assert await jobs.depth() == QueueDepth(visible=2, in_flight=1, delayed=1)
    assert (await jobs.depth()).total == 4
    clock.advance(50)
    assert await jobs.depth() == QueueDepth(visible=3, in_flight=0, delayed=1)
    clock.advance(50)
    assert await jobs.depth() == QueueDepth(visible=4, in_flight=0, delayed=0)


# dead letters ------------------------------------------------------------------------------------


async def test_after_max_receives_a_message_moves_to_the_dlq_with_a_reason(
    jobs: SqliteQueue, dlq: SqliteQueue, clock: FrozenClock
) -> None:
    message_id = await jobs.send(b"poison")
    for _ in range(JOBS.max_receives):
        assert [r.message_id for r in await jobs.receive(1, 30)] == [message_id]
        assert await listed(dlq) == []
        clock.advance(30)

    assert await jobs.receive(1, 30) == []

    (dead,) = await listed(dlq)
    assert dead.message_id == message_id
    assert dead.body == b"poison"
    assert dead.source_queue == "jobs"
    assert dead.reason == "received 3 times without being acknowledged"
    assert dead.receive_count == 3
    assert (await jobs.depth()).total == 0
    assert await dlq.depth() == QueueDepth(visible=1, in_flight=0, delayed=0)


async def test_a_message_is_not_dead_lettered_while_its_last_holder_still_has_it(
    jobs: SqliteQueue, dlq: SqliteQueue, clock: FrozenClock
) -> None:
    await jobs.send(b"slow")
    for _ in range(JOBS.max_receives - 1):
        await jobs.receive(1, 30)
        clock.advance(30)
    (last,) = await jobs.receive(1, 30)

    assert await jobs.receive(1, 30) == []  # a receive while it is held moves nothing
    assert await listed(dlq) == []
    await jobs.delete(last)
    assert await listed(jobs) == []


async def test_dead_letter_moves_a_held_message_at_once_and_the_listing_shows_why(
    jobs: SqliteQueue, dlq: SqliteQueue
) -> None:
    message_id = await jobs.send(b"bad")
    (received,) = await jobs.receive(1, 30)

    await jobs.dead_letter(received, "GiveUp: unknown product id 42")

    assert await listed(jobs) == []
    (dead,) = await listed(dlq)
    assert (dead.message_id, dead.body, dead.source_queue, dead.reason, dead.receive_count) == (
        message_id,
        b"bad",
        "jobs",
        "GiveUp: unknown product id 42",
        1,
    )


async def test_a_queue_without_a_dlq_cannot_dead_letter(other: SqliteQueue) -> None:
    await other.send(b"x")
    (received,) = await other.receive(1, 30)

    with pytest.raises(RuntimeError, match="no dead-letter queue"):
        await other.dead_letter(received, "why")

    assert [m.body for m in await listed(other)] == [b"x"]


async def test_replay_returns_dead_letters_to_their_source_queue_with_receive_count_reset(
    jobs: SqliteQueue, dlq: SqliteQueue, clock: FrozenClock
) -> None:
    message_id = await jobs.send(b"poison")
    for _ in range(JOBS.max_receives):
        await jobs.receive(1, 30)
        clock.advance(30)
    await jobs.receive(1, 30)  # moves it
    assert len(await listed(dlq)) == 1

    moved = await dlq.replay()

    assert moved == 1
    assert await listed(dlq) == []
    (back,) = await listed(jobs)
    assert (back.message_id, back.receive_count, back.source_queue, back.reason) == (
        message_id,
        0,
        None,
        None,
    )
    (received,) = await jobs.receive(1, 30)
    assert received.message_id == message_id
    assert received.receive_count == 1


async def test_replay_with_message_ids_moves_only_those(jobs: SqliteQueue, dlq: SqliteQueue) -> None:
    ids = await jobs.send_batch([b"a", b"b", b"c"])
    for received in await jobs.receive(3, 30):
        await jobs.dead_letter(received, f"failed {received.body.decode()}")

    moved = await dlq.replay(message_ids=[ids[0], ids[2]])

    assert moved == 2
    assert [(m.message_id, m.reason) for m in await listed(dlq)] == [(ids[1], "failed b")]
    assert sorted(m.message_id for m in await listed(jobs)) == sorted([ids[0], ids[2]])
    assert sorted(r.body for r in await jobs.receive(10, 30)) == [b"a", b"c"]


async def test_replay_on_a_queue_that_is_not_a_dlq_moves_nothing(jobs: SqliteQueue) -> None:
    await jobs.send(b"a")

    assert await jobs.replay() == 0
    assert [m.body for m in await listed(jobs)] == [b"a"]


# batches -----------------------------------------------------------------------------------------


async def test_a_batch_of_25_sends_all_25(jobs: SqliteQueue) -> None:
    bodies = [f"m{i}".encode() for i in range(25)]

    ids = await jobs.send_batch(bodies)

    assert len(set(ids)) == 25
    received = await jobs.receive(25, 30)
    assert [r.body for r in received] == bodies
    assert [r.message_id for r in received] == ids


async def test_a_send_batch_of_2500_messages_sends_them_all(jobs: SqliteQueue) -> None:
    bodies = [f"m{i}".encode() for i in range(2500)]

    ids = await jobs.send_batch(bodies)

    assert len(set(ids)) == 2500
    assert await jobs.depth() == QueueDepth(visible=2500, in_flight=0, delayed=0)
    listing = await listed(jobs)
    assert [m.body for m in listing] == bodies
    assert [m.message_id for m in listing] == ids


async def test_sending_an_empty_batch_sends_nothing(jobs: SqliteQueue) -> None:
    assert await jobs.send_batch([]) == []
    assert (await jobs.depth()).total == 0


async def test_message_ids_are_never_reused(jobs: SqliteQueue) -> None:
    first = await jobs.send(b"first")
    (received,) = await jobs.receive(1, 30)
    await jobs.delete(received)

    second = await jobs.send(b"second")

    assert second != first


# operators ---------------------------------------------------------------------------------------


async def test_list_paginates_over_every_message_once_without_receiving_them(jobs: SqliteQueue) -> None:
    ids = await jobs.send_batch([f"m{i}".encode() for i in range(23)])

    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        page = await jobs.list(limit=5, cursor=cursor)
        pages.append([m.message_id for m in page.messages])
        cursor = page.cursor
        if cursor is None:
            break

    assert [len(p) for p in pages] == [5, 5, 5, 5, 3]
    assert [i for p in pages for i in p] == ids
    assert await jobs.depth() == QueueDepth(visible=23, in_flight=0, delayed=0)


async def test_list_shows_receive_count_and_when_a_message_becomes_visible(
    jobs: SqliteQueue, clock: FrozenClock
) -> None:
    await jobs.send(b"a")
    sent_at = clock.now()
    await jobs.receive(1, 45)

    (message,) = await listed(jobs)

    assert message.receive_count == 1
    assert message.sent_at == sent_at
    assert message.visible_at == sent_at + timedelta(seconds=45)


async def test_purge_empties_only_that_queue(jobs: SqliteQueue, dlq: SqliteQueue, other: SqliteQueue) -> None:
    await jobs.send_batch([b"a", b"b", b"c"])
    await jobs.send(b"delayed", delay_s=100)
    await jobs.receive(1, 30)
    await other.send_batch([b"x", b"y"])
    (to_dlq,) = await jobs.receive(1, 30)
    await jobs.dead_letter(to_dlq, "kept")

    purged = await jobs.purge()

    assert purged == 3
    assert await listed(jobs) == []
    assert [m.body for m in await listed(other)] == [b"x", b"y"]
    assert [m.body for m in await listed(dlq)] == [b"b"]


# two processes on one file -----------------------------------------------------------------------

MESSAGES = 2_000


def _drain_in_a_process(db_path: str, result_path: str, start: Barrier) -> None:
    """A worker process: its own Database on the shared file, receiving and acknowledging one
    message at a time until the queue is empty, then writing the ids it got to ``result_path``."""
    asyncio.run(_drain(Path(db_path), Path(result_path), start))


async def _drain(db_path: Path, result_path: Path, start: Barrier) -> None:
    db = Database(db_path)
    queue = SqliteQueue(db, QueueDef("shared"), SystemClock())
    db.open()
    got: list[str] = []
    try:
        start.wait(timeout=60)
        while batch := await queue.receive(1, 300):
            for received in batch:
                got.append(received.message_id)
                await queue.delete(received)
    finally:
        db.close()
    result_path.write_text(json.dumps(got))


async def _depth_of(db_path: Path) -> QueueDepth:
    db = Database(db_path).open()
    try:
        return await SqliteQueue(db, QueueDef("shared"), SystemClock()).depth()
    finally:
        db.close()


@pytest.mark.slow
def test_two_worker_processes_never_hold_the_same_message_at_once(tmp_path: Path) -> None:
    db_path = tmp_path / "shared.sqlite"
    db = Database(db_path)
    queue = SqliteQueue(db, QueueDef("shared"), SystemClock())
    db.open()
    try:
        ids = asyncio.run(queue.send_batch([f"m{i}".encode() for i in range(MESSAGES)]))
    finally:
        db.close()
    assert len(set(ids)) == MESSAGES

    context = multiprocessing.get_context("spawn")
    start = context.Barrier(2)
    results = [tmp_path / "worker-0.json", tmp_path / "worker-1.json"]
    workers = [
        context.Process(target=_drain_in_a_process, args=(str(db_path), str(result), start))
        for result in results
    ]
    for worker in workers:
        worker.start()
    try:
        for worker in workers:
            worker.join(timeout=120)
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.kill()
                worker.join(timeout=10)
    assert [worker.exitcode for worker in workers] == [0, 0]

    first, second = (json.loads(result.read_text()) for result in results)
    assert len(first) == len(set(first))
    assert len(second) == len(set(second))
    assert set(first).isdisjoint(second)
    assert set(first) | set(second) == set(ids)
    # Both took part: the sets are disjoint because they competed, not because one ran alone.
    assert first
    assert second
    assert asyncio.run(_depth_of(db_path)).total == 0  # every message was acknowledged by its holder
