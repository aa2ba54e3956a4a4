"""Fixtures for the adapters on a real SQLite file: a frozen clock and a way to open a database
with the tables and queues a test declares."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from supporterflow.adapters.clock import FrozenClock
from supporterflow.adapters.sqlite.database import Database
from supporterflow.adapters.sqlite.queues import SqliteQueue
from supporterflow.adapters.sqlite.stream import SqliteChangeStream
from supporterflow.adapters.sqlite.tables import SqliteTable
from supporterflow.declare import QueueDef, TableDef


@dataclass
class Store:
    """An open database and the adapters built on it, looked up by name."""

    db: Database
    path: Path
    stream: SqliteChangeStream
    tables: dict[str, SqliteTable] = field(default_factory=dict)
    queues: dict[str, SqliteQueue] = field(default_factory=dict)

    def table(self, name: str) -> SqliteTable:
        return self.tables[name]

    def queue(self, name: str) -> SqliteQueue:
        return self.queues[name]


OpenStore = Callable[..., Store]


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock("2026-01-01T00:00:00+00:00")


@pytest.fixture
def open_store(tmp_path: Path, clock: FrozenClock) -> Iterator[OpenStore]:
    """``open_store(TableDef(...), QueueDef(...), ...)`` builds every adapter (a queue with a DLQ
    gets its ``<name>-dlq`` queue too), then opens the database; all are closed after the test."""
    opened: list[Database] = []

    def build(*definitions: TableDef | QueueDef, path: Path | None = None) -> Store:
        db_path = path or tmp_path / f"store-{len(opened)}.sqlite"
        db = Database(db_path)
        store = Store(db=db, path=db_path, stream=SqliteChangeStream(db, clock))
        for definition in definitions:
            if isinstance(definition, TableDef):
                store.tables[definition.name] = SqliteTable(db, definition, clock)
            else:
                store.queues[definition.name] = SqliteQueue(db, definition, clock)
                if definition.dlq_name:
                    dlq = QueueDef(definition.dlq_name, dlq=False)
                    store.queues[dlq.name] = SqliteQueue(db, dlq, clock)
        db.open()
        opened.append(db)
        return store

    yield build
    for db in opened:
        db.close()
