"""JSON documents in named collections, for the emulators' state.

One implementation serves both modes: without a path the documents live in an SQLite ``:memory:``
database, with a path in a file. So the in-memory default and the persistent mode run the same
code, and a persisted emulator killed with SIGKILL keeps every write that was answered (each write
is committed before the response is sent; WAL with ``synchronous=NORMAL`` survives a process
crash, which is what the restart tests do).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

Document = dict[str, Any]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    collection TEXT NOT NULL,
    key TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (collection, key)
)
"""


class DocumentStore:
    """Documents keyed by ``(collection, key)``, listed in insertion order.

    Safe to share between threads (a test thread reading what a server thread wrote): every call
    holds one re-entrant lock, and :meth:`transaction` holds it across several calls so that a
    multi-step change is atomic both for readers and on disk."""

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self._lock = threading.RLock()
        self._depth = 0
        self._db = sqlite3.connect(
            str(self.path) if self.path else ":memory:", isolation_level=None, check_same_thread=False
        )
        if self.path is not None:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(_SCHEMA)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group the calls made inside into one transaction; nested uses join the outer one."""
        with self._lock:
            if self._depth == 0:
                self._db.execute("BEGIN IMMEDIATE")
            self._depth += 1
            try:
                yield
            except BaseException:
                self._depth -= 1
                if self._depth == 0:
                    self._db.execute("ROLLBACK")
                raise
            self._depth -= 1
            if self._depth == 0:
                self._db.execute("COMMIT")

    def get(self, collection: str, key: str) -> Document | None:
        with self._lock:
            row = self._db.execute(
                "SELECT body FROM documents WHERE collection = ? AND key = ?", (collection, key)
            ).fetchone()
        return None if row is None else _decode(row[0])

    def put(self, collection: str, key: str, document: Document) -> None:
        """Insert or replace; a replaced document keeps its place in the listing order."""
        with self.transaction():
            self._db.execute(
                "INSERT INTO documents (collection, key, body) VALUES (?, ?, ?) "
                "ON CONFLICT (collection, key) DO UPDATE SET body = excluded.body",
                (collection, key, json.dumps(document)),
            )

    def delete(self, collection: str, key: str) -> bool:
        with self.transaction():
            cursor = self._db.execute(
                "DELETE FROM documents WHERE collection = ? AND key = ?", (collection, key)
            )
        return cursor.rowcount > 0

    def documents(self, collection: str) -> list[Document]:
        with self._lock:
            rows = self._db.execute(
                "SELECT body FROM documents WHERE collection = ? ORDER BY rowid", (collection,)
            ).fetchall()
        return [_decode(body) for (body,) in rows]

    def collections(self) -> list[str]:
        with self._lock:
            rows = self._db.execute(
                "SELECT collection FROM documents GROUP BY collection ORDER BY MIN(rowid)"
            ).fetchall()
        return [name for (name,) in rows]

    def clear(self) -> None:
        with self.transaction():
            self._db.execute("DELETE FROM documents")

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _decode(body: str) -> Document:
    document: Document = json.loads(body)
    return document
