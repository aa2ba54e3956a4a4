"""The outbox change stream: change records written by table writes, read in commit order.

Sequence numbers are assigned inside the writer's transaction, and SQLite admits one writer at a
time per file, so sequence order is commit order and a reader never sees a later record before an
earlier one has committed (no gaps to wait for, unlike databases with concurrent writers).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from supporterflow.adapters.sqlite.database import Database, Tx
from supporterflow.ports import ChangeEvent, ChangeRecord, Clock, Item, Key

STREAM_TOPIC = "stream"


def record_change(
    tx: Tx,
    table: str,
    event: ChangeEvent,
    keys: Key,
    old: Item | None,
    new: Item | None,
    principal: str | None,
    now: datetime,
) -> None:
    tx.conn.execute(
        "INSERT INTO changes (tbl, event, keys, old_image, new_image, principal, committed_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            table,
            event,
            json.dumps(keys),
            None if old is None else json.dumps(old),
            None if new is None else json.dumps(new),
            principal,
            now.timestamp(),
        ),
    )
    tx.touch(STREAM_TOPIC)


def _in(tables: Sequence[str]) -> str:
    return ", ".join("?" * len(tables))


class SqliteChangeStream:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    @staticmethod
    def _checkpoint_of(conn: sqlite3.Connection, subscriber: str) -> int:
        row = conn.execute(
            "SELECT seq FROM stream_checkpoints WHERE subscriber = ?", (subscriber,)
        ).fetchone()
        return 0 if row is None else int(row[0])

    async def read(self, subscriber: str, *, tables: Sequence[str], limit: int) -> list[ChangeRecord]:
        def run(conn: sqlite3.Connection) -> list[ChangeRecord]:
            after = self._checkpoint_of(conn, subscriber)
            rows = conn.execute(
                "SELECT seq, tbl, event, keys, old_image, new_image, principal, committed_at FROM changes "
                f"WHERE seq > ? AND tbl IN ({_in(tables)}) ORDER BY seq LIMIT ?",
                (after, *tables, limit),
            ).fetchall()
            return [
                ChangeRecord(
                    sequence=row[0],
                    table=row[1],
                    event_name=row[2],
                    keys=json.loads(row[3]),
                    old_image=None if row[4] is None else json.loads(row[4]),
                    new_image=None if row[5] is None else json.loads(row[5]),
                    principal=row[6],
                    committed_at=datetime.fromtimestamp(row[7], UTC),
                )
                for row in rows
            ]

        return await self._db.read(run)

    async def checkpoint(self, subscriber: str, sequence: int) -> None:
        await self._db.write(
            lambda tx: tx.conn.execute(
                "INSERT INTO stream_checkpoints (subscriber, seq) VALUES (?, ?) "
                "ON CONFLICT (subscriber) DO UPDATE SET seq = MAX(seq, excluded.seq)",
                (subscriber, sequence),
            )
        )

    async def lag(self, subscriber: str, *, tables: Sequence[str]) -> int:
        def run(conn: sqlite3.Connection) -> int:
            after = self._checkpoint_of(conn, subscriber)
            row = conn.execute(
                f"SELECT COUNT(*) FROM changes WHERE seq > ? AND tbl IN ({_in(tables)})", (after, *tables)
            ).fetchone()
            return int(row[0])

        return await self._db.read(run)

    async def prune(self, subscribers: Sequence[str], *, retention: timedelta = timedelta(hours=24)) -> int:
        """Delete records that every subscriber has checkpointed and that are older than
        ``retention`` (kept that long for operators, as DynamoDB Streams keep 24 hours)."""
        cutoff = (self._clock.now() - retention).timestamp()

        def run(tx: Tx) -> int:
            done = min((self._checkpoint_of(tx.conn, s) for s in subscribers), default=None)
            if done is None:
                done = tx.conn.execute("SELECT COALESCE(MAX(seq), 0) FROM changes").fetchone()[0]
            return tx.conn.execute(
                "DELETE FROM changes WHERE seq <= ? AND committed_at < ?", (done, cutoff)
            ).rowcount

        return await self._db.write(run)
