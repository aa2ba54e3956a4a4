"""SQS-shaped queues on SQLite: one table of messages for every queue of the file.

A receive is a write (it moves ``visible_at`` forward and issues a new receipt) made inside the
writer's ``BEGIN IMMEDIATE`` transaction, so two receivers, in this process or another one on the
same file, can never hold the same message at once. Receipts are random per receive: an
acknowledgement from a holder whose visibility ran out cannot delete the message from its newer
holder.

Each message keeps the correlation id of the work that sent it (column ``correlation_id``): stamped
at send time from the logging context, and kept through redrive, ``dead_letter`` and ``replay``,
which move a row without rewriting it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime

from supporterflow.adapters import cursors
from supporterflow.adapters.sqlite.database import Database, Tx
from supporterflow.declare import QueueDef
from supporterflow.logs import current_correlation_id
from supporterflow.ports import Clock, MessagePage, QueueDepth, Received, StoredMessage

_MAX_VISIBILITY_S = 12 * 60 * 60  # SQS's limit


def queue_topic(name: str) -> str:
    return "queue:" + name


class SqliteQueue:
    def __init__(self, db: Database, definition: QueueDef, clock: Clock) -> None:
        self.definition = definition
        self.name = definition.name
        self._db = db
        self._clock = clock

    @property
    def database(self) -> Database:
        return self._db

    # sending ---------------------------------------------------------------------------------

    def send_in(
        self,
        tx: Tx,
        bodies: Sequence[bytes],
        now: datetime,
        delay_s: int = 0,
        correlation_id: str | None = None,
    ) -> list[str]:
        """Insert messages inside a transaction that is already open (used by table writes with
        ``then_send``, so that the row and its messages commit together). This runs on the writer
        thread, where the caller's logging context is not: the caller passes ``correlation_id``."""
        sent_at = now.timestamp()
        visible_at = sent_at + delay_s
        tx.conn.executemany(
            "INSERT INTO queue_messages (queue, body, sent_at, visible_at, correlation_id) "
            "VALUES (?, ?, ?, ?, ?)",
            [(self.name, body, sent_at, visible_at, correlation_id) for body in bodies],
        )
        # AUTOINCREMENT numbers rows one by one and never reuses a number; the write lock is held,
        # so this statement's rows are the last len(bodies) numbers.
        last = tx.conn.execute("SELECT last_insert_rowid()").fetchone()[0]
        tx.touch(queue_topic(self.name))
        return [str(n) for n in range(last - len(bodies) + 1, last + 1)]

    async def send(self, body: bytes, *, delay_s: int = 0) -> str:
        (message_id,) = await self.send_batch([body], delay_s=delay_s)
        return message_id

    async def send_batch(self, bodies: Sequence[bytes], *, delay_s: int = 0) -> list[str]:
        if not bodies:
            return []
        for body in bodies:
            if not isinstance(body, bytes):
                raise TypeError("message bodies are bytes")
        now = self._clock.now()
        correlation_id = current_correlation_id()
        return await self._db.write(lambda tx: self.send_in(tx, bodies, now, delay_s, correlation_id))

    # receiving -------------------------------------------------------------------------------

    async def receive(self, max_messages: int, visibility_s: int) -> list[Received]:
        if not 0 < visibility_s <= _MAX_VISIBILITY_S:
            raise ValueError(f"visibility_s must be in (0, {_MAX_VISIBILITY_S}]")
        now = self._clock.now().timestamp()
        definition = self.definition

        def run(tx: Tx) -> list[Received]:
            # Only the oldest visible messages are looked at, so a receive costs the same at any
            # depth. Among them, the ones already received max_receives times go to the DLQ
            # instead of being delivered again (SQS's redrive).
            candidates = tx.conn.execute(
                "SELECT id, receive_count FROM queue_messages WHERE queue = ? AND visible_at <= ? "
                "ORDER BY visible_at, id LIMIT ?",
                (self.name, now, max_messages),
            ).fetchall()
            exhausted = [
                row[0] for row in candidates if definition.dlq_name and row[1] >= definition.max_receives
            ]
            if exhausted and definition.dlq_name:
                tx.conn.execute(
                    "UPDATE queue_messages SET queue = ?, source_queue = queue, receipt = NULL, "
                    f"visible_at = ?, reason = ? WHERE id IN ({', '.join('?' * len(exhausted))})",
                    (
                        definition.dlq_name,
                        now,
                        f"received {definition.max_receives} times without being acknowledged",
                        *exhausted,
                    ),
                )
                tx.touch(queue_topic(definition.dlq_name))
            deliver = [row[0] for row in candidates if row[0] not in exhausted]
            if not deliver:
                return []
            rows = tx.conn.execute(
                "UPDATE queue_messages SET visible_at = ?, receive_count = receive_count + 1, "
                "receipt = lower(hex(randomblob(8))) "
                f"WHERE id IN ({', '.join('?' * len(deliver))}) "
                "RETURNING id, body, receipt, receive_count, sent_at, correlation_id",
                (now + visibility_s, *deliver),
            ).fetchall()
            rows.sort(key=lambda row: int(row[0]))
            return [
                Received(str(row[0]), row[1], row[2], row[3], datetime.fromtimestamp(row[4], UTC), row[5])
                for row in rows
            ]

        return await self._db.write(run)

    def _held(self, received: Received) -> tuple[int, str, str]:
        return int(received.message_id), received.receipt, self.name

    async def delete(self, received: Received) -> None:
        await self.delete_batch([received])

    async def delete_batch(self, received: Sequence[Received]) -> None:
        """One write job, so one transaction, whatever the number. A message goes only if its
        receipt is still current: the same condition as every other acknowledgement."""
        held = [self._held(r) for r in received]  # bad ids fail here, not in the writer thread
        if not held:
            return
        await self._db.write(
            lambda tx: tx.conn.executemany(
                "DELETE FROM queue_messages WHERE id = ? AND receipt = ? AND queue = ?", held
            )
        )

    async def change_visibility(self, received: Received, visibility_s: int) -> None:
        if not 0 <= visibility_s <= _MAX_VISIBILITY_S:
            raise ValueError(f"visibility_s must be in [0, {_MAX_VISIBILITY_S}]")
        visible_at = self._clock.now().timestamp() + visibility_s
        held = self._held(received)

        def run(tx: Tx) -> None:
            tx.conn.execute(
                "UPDATE queue_messages SET visible_at = ? WHERE id = ? AND receipt = ? AND queue = ?",
                (visible_at, *held),
            )
            if visibility_s == 0:
                tx.touch(queue_topic(self.name))

        await self._db.write(run)

    async def dead_letter(self, received: Received, reason: str) -> None:
        dlq = self.definition.dlq_name
        if dlq is None:
            raise RuntimeError(f"queue {self.name} has no dead-letter queue")
        now = self._clock.now().timestamp()
        held = self._held(received)

        def run(tx: Tx) -> None:
            tx.conn.execute(
                "UPDATE queue_messages SET queue = ?, source_queue = queue, receipt = NULL, visible_at = ?, "
                "reason = ? WHERE id = ? AND receipt = ? AND queue = ?",
                (dlq, now, reason[:2000], *held),
            )
            tx.touch(queue_topic(dlq))

        await self._db.write(run)

    # operators -------------------------------------------------------------------------------

    async def depth(self) -> QueueDepth:
        now = self._clock.now().timestamp()

        def run(conn: sqlite3.Connection) -> QueueDepth:
            visible, in_flight, delayed = conn.execute(
                "SELECT COALESCE(SUM(visible_at <= ?), 0), "
                "COALESCE(SUM(visible_at > ? AND receive_count > 0), 0), "
                "COALESCE(SUM(visible_at > ? AND receive_count = 0), 0) "
                "FROM queue_messages WHERE queue = ?",
                (now, now, now, self.name),
            ).fetchone()
            return QueueDepth(visible, in_flight, delayed)

        return await self._db.read(run)

    async def list(self, *, limit: int = 100, cursor: str | None = None) -> MessagePage:
        after = int(cursors.decode(cursor, 1)[0]) if cursor else 0

        def run(conn: sqlite3.Connection) -> MessagePage:
            rows = conn.execute(
                "SELECT id, body, receive_count, sent_at, visible_at, source_queue, reason, correlation_id "
                "FROM queue_messages WHERE queue = ? AND id > ? ORDER BY id LIMIT ?",
                (self.name, after, limit + 1),
            ).fetchall()
            messages = [
                StoredMessage(
                    message_id=str(row[0]),
                    body=row[1],
                    receive_count=row[2],
                    sent_at=datetime.fromtimestamp(row[3], UTC),
                    visible_at=datetime.fromtimestamp(row[4], UTC),
                    source_queue=row[5],
                    reason=row[6],
                    correlation_id=row[7],
                )
                for row in rows[:limit]
            ]
            next_cursor = cursors.encode([rows[limit - 1][0]]) if len(rows) > limit else None
            return MessagePage(messages, next_cursor)

        return await self._db.read(run)

    async def replay(self, *, message_ids: Sequence[str] | None = None) -> int:
        now = self._clock.now().timestamp()
        ids = None if message_ids is None else [int(m) for m in message_ids]

        def run(tx: Tx) -> int:
            sql = (
                "UPDATE queue_messages SET queue = source_queue, source_queue = NULL, reason = NULL, "
                "receive_count = 0, receipt = NULL, visible_at = ? "
                "WHERE queue = ? AND source_queue IS NOT NULL"
            )
            sources: set[str] = set()
            moved = 0
            for chunk in [None] if ids is None else [ids[i : i + 400] for i in range(0, len(ids), 400)]:
                params: list[object] = [now, self.name]
                chunk_sql = sql
                if chunk is not None:
                    chunk_sql += f" AND id IN ({', '.join('?' * len(chunk))})"
                    params.extend(chunk)
                rows = tx.conn.execute(chunk_sql + " RETURNING queue", params).fetchall()
                moved += len(rows)
                sources.update(row[0] for row in rows)
            for source in sources:
                tx.touch(queue_topic(source))
            return moved

        return await self._db.write(run)

    async def purge(self) -> int:
        return await self._db.write(
            lambda tx: tx.conn.execute("DELETE FROM queue_messages WHERE queue = ?", (self.name,)).rowcount
        )

    async def remove(self, message_ids: Sequence[str]) -> int:
        ids = [int(m) for m in message_ids]

        def run(tx: Tx) -> int:
            removed = 0
            for start in range(0, len(ids), 400):
                chunk = ids[start : start + 400]
                removed += tx.conn.execute(
                    f"DELETE FROM queue_messages WHERE queue = ? AND id IN ({', '.join('?' * len(chunk))})",
                    (self.name, *chunk),
                ).rowcount
            return removed

        return await self._db.write(run) if ids else 0
