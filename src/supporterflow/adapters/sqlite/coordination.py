"""Leases and schedule state, so that several processes on one file agree on who dispatches the
change stream and runs the schedules, and a restart knows which scheduled runs it missed."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

from supporterflow.adapters.sqlite.database import Database, Tx
from supporterflow.ports import Clock


class SqliteCoordination:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def acquire(self, name: str, owner: str, ttl_s: float) -> bool:
        """Take or renew the lease ``name`` for ``ttl_s`` seconds; False while another owner holds it."""
        now = self._clock.now().timestamp()

        def run(tx: Tx) -> bool:
            row = tx.conn.execute(
                "INSERT INTO leases (name, owner, expires_at) VALUES (?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at "
                "WHERE leases.owner = excluded.owner OR leases.expires_at < ? RETURNING owner",
                (name, owner, now + ttl_s, now),
            ).fetchone()
            return row is not None

        return await self._db.write(run)

    async def release(self, name: str, owner: str) -> None:
        await self._db.write(
            lambda tx: tx.conn.execute("DELETE FROM leases WHERE name = ? AND owner = ?", (name, owner))
        )

    async def next_due(self, schedule: str) -> datetime | None:
        def run(conn: sqlite3.Connection) -> datetime | None:
            row = conn.execute("SELECT next_due FROM schedule_state WHERE name = ?", (schedule,)).fetchone()
            return None if row is None else datetime.fromtimestamp(row[0], UTC)

        return await self._db.read(run)

    async def set_next_due(self, schedule: str, due: datetime) -> None:
        await self._db.write(
            lambda tx: tx.conn.execute(
                "INSERT INTO schedule_state (name, next_due) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET next_due = excluded.next_due",
                (schedule, due.timestamp()),
            )
        )
