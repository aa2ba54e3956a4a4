"""Correlation ids on the SQLite queues: stamped from the logging context when a message is sent
(alone or with a row write), kept through the dead-letter queue and back, and a database made
before the column existed opens and keeps working."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from supporterflow.adapters.clock import FrozenClock
from supporterflow.adapters.sqlite.database import Database
from supporterflow.adapters.sqlite.queues import SqliteQueue
from supporterflow.declare import QueueDef, TableDef
from supporterflow.logs import correlation
from supporterflow.ports import Outgoing

from .conftest import OpenStore

JOBS = QueueDef("jobs", visibility_s=30, max_receives=2)
ROWS = TableDef("rows", hash_key="id")


async def test_a_message_sent_under_a_correlation_id_is_received_with_it(open_store: OpenStore) -> None:
    jobs = open_store(JOBS).queue("jobs")
    with correlation("req-1"):
        await jobs.send(b"one")
    with correlation("req-2"):
        await jobs.send_batch([b"two", b"three"])
    await jobs.send(b"outside any work")

    received = await jobs.receive(10, 30)

    assert [(m.body, m.correlation_id) for m in received] == [
        (b"one", "req-1"),
        (b"two", "req-2"),
        (b"three", "req-2"),
        (b"outside any work", None),
    ]


async def test_messages_written_with_a_row_carry_the_writers_correlation_id(open_store: OpenStore) -> None:
    store = open_store(ROWS, JOBS)
    jobs = store.queue("jobs")
    with correlation("req-7"):
        await store.table("rows").put({"id": "a"}, then_send=[Outgoing(jobs, b"stamped")])
        await store.table("rows").put(
            {"id": "b"}, then_send=[Outgoing(jobs, b"its own", correlation_id="earlier")]
        )
        await store.table("rows").delete({"id": "a"}, then_send=[Outgoing(jobs, b"on delete")])

    received = await jobs.receive(10, 30)

    assert [(m.body, m.correlation_id) for m in received] == [
        (b"stamped", "req-7"),
        (b"its own", "earlier"),
        (b"on delete", "req-7"),
    ]


async def test_dead_letters_keep_the_correlation_id_and_so_does_a_replay(
    open_store: OpenStore, clock: FrozenClock
) -> None:
    store = open_store(JOBS)
    jobs, dlq = store.queue("jobs"), store.queue("jobs-dlq")
    with correlation("given-up"):
        await jobs.send(b"a")
    with correlation("redriven"):
        await jobs.send(b"b")
    given_up, _ = await jobs.receive(10, 30)
    await jobs.dead_letter(given_up, "GiveUp: no")
    clock.advance(31)
    await jobs.receive(10, 30)  # b: second receive
    clock.advance(31)
    assert await jobs.receive(10, 30) == []  # b: past maxReceiveCount, redriven to the DLQ

    dead = (await dlq.list()).messages
    assert {(m.body, m.correlation_id) for m in dead} == {(b"a", "given-up"), (b"b", "redriven")}

    assert await dlq.replay() == 2
    again = await jobs.receive(10, 30)
    assert {(m.body, m.correlation_id) for m in again} == {(b"a", "given-up"), (b"b", "redriven")}


def _old_schema_database(path: Path) -> None:
    """A file as the previous release left it: ``queue_messages`` without ``correlation_id``, and a
    message waiting in it."""
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        CREATE TABLE queue_messages (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            queue TEXT NOT NULL,
            body BLOB NOT NULL,
            sent_at REAL NOT NULL,
            visible_at REAL NOT NULL,
            receive_count INTEGER NOT NULL DEFAULT 0,
            receipt TEXT,
            source_queue TEXT,
            reason TEXT
        );
        INSERT INTO queue_messages (queue, body, sent_at, visible_at) VALUES ('jobs', x'6f6c64', 0, 0);
        """
    )
    conn.close()


async def test_a_database_made_before_correlation_ids_opens_and_keeps_its_messages(
    tmp_path: Path, clock: FrozenClock
) -> None:
    path = tmp_path / "old.sqlite"
    _old_schema_database(path)
    db = Database(path).open()
    try:
        jobs = SqliteQueue(db, JOBS, clock)
        with correlation("after-upgrade"):
            await jobs.send(b"new")

        received = await jobs.receive(10, 30)

        assert [(m.body, m.correlation_id) for m in received] == [(b"old", None), (b"new", "after-upgrade")]
    finally:
        db.close()
    reopened = Database(path).open()  # the column is there now: opening again changes nothing
    reopened.close()
