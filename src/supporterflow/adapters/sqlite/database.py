"""One SQLite file in WAL mode: a single writer thread with group commit, and parallel readers.

Why a writer thread: SQLite allows one writer at a time per file. Instead of many connections
fighting for the lock, every write of this process is a *job* handed to one thread, which runs
whatever jobs are waiting inside one transaction (each job in its own savepoint, so one failing
job does not undo its neighbours) and commits once. Under load a single fsync then acknowledges
hundreds of writes: that is group commit. Other processes on the same file (``supporterflow
worker``) have their own writer; SQLite's lock and ``busy_timeout`` serialise them.

Readers use a small pool of connections on worker threads; WAL lets them read a consistent
snapshot while the writer writes.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import queue
import sqlite3
import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import structlog

T = TypeVar("T")

log = structlog.get_logger(__name__)

_MAX_JOBS_PER_COMMIT = 512
_BUSY_TIMEOUT_MS = 30_000

SCHEMA = """
CREATE TABLE IF NOT EXISTS queue_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    body BLOB NOT NULL,
    sent_at REAL NOT NULL,
    visible_at REAL NOT NULL,
    receive_count INTEGER NOT NULL DEFAULT 0,
    receipt TEXT,
    source_queue TEXT,
    reason TEXT,
    correlation_id TEXT
);
CREATE INDEX IF NOT EXISTS queue_messages_ready ON queue_messages (queue, visible_at);

CREATE TABLE IF NOT EXISTS changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    tbl TEXT NOT NULL,
    event TEXT NOT NULL,
    keys TEXT NOT NULL,
    old_image TEXT,
    new_image TEXT,
    principal TEXT,
    committed_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS changes_by_table ON changes (tbl, seq);

CREATE TABLE IF NOT EXISTS stream_checkpoints (
    subscriber TEXT PRIMARY KEY,
    seq INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS leases (
    name TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    expires_at REAL NOT NULL
);

CREATE TABLE IF NOT EXISTS schedule_state (
    name TEXT PRIMARY KEY,
    next_due REAL NOT NULL
);
"""

#: Columns added after a table was first released: (table, column, declaration). A file made by an
#: older version gets them at ``open`` (``ALTER TABLE ... ADD COLUMN``, nullable, so its rows stay
#: valid and older code reading the file ignores them).
ADDED_COLUMNS: tuple[tuple[str, str, str], ...] = (("queue_messages", "correlation_id", "TEXT"),)


def add_missing_columns(conn: sqlite3.Connection) -> None:
    for table, column, declaration in ADDED_COLUMNS:
        present = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        if present and column not in present:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
            log.info("column added to an older database", table=table, column=column)


@dataclass
class Tx:
    """What a write job gets: the writer connection inside an open transaction, and a way to say
    which topics it changed so that in-process waiters wake up after the commit."""

    conn: sqlite3.Connection
    touched: set[str] = field(default_factory=set)

    def touch(self, topic: str) -> None:
        self.touched.add(topic)


@dataclass
class _Job:
    """A write and who waits for it: a coroutine (``loop`` + ``waiter``) or a thread (``future``)."""

    run: Callable[[Tx], Any]
    future: concurrent.futures.Future[Any] | None = None
    loop: asyncio.AbstractEventLoop | None = None
    waiter: asyncio.Future[Any] | None = None

    def start(self) -> bool:
        """False when whoever waits for this write has given up on it already. (The waiter is
        read across threads: a cancellation racing with the commit lets the write happen, as if
        it had come a moment later.)"""
        if self.waiter is not None:
            return not self.waiter.cancelled()
        assert self.future is not None
        return self.future.set_running_or_notify_cancel()


def _settle(outcomes: list[tuple[asyncio.Future[Any], bool, Any]]) -> None:
    """Runs in the waiters' loop: one call per group commit, not one wake-up per write."""
    for waiter, ok, value in outcomes:
        if waiter.cancelled():
            continue
        if ok:
            waiter.set_result(value)
        else:
            waiter.set_exception(value)


_STOP = object()


def _segment(value: Any, total: int) -> int:
    """Stable partition of a key for parallel scans (SQLite has no built-in hash)."""
    return zlib.crc32(repr(value).encode()) % total


def connect(path: Path, *, synchronous: str = "FULL", readonly: bool = False) -> sqlite3.Connection:
    conn = sqlite3.connect(
        path, isolation_level=None, check_same_thread=False, timeout=_BUSY_TIMEOUT_MS / 1000
    )
    conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(f"PRAGMA synchronous = {synchronous}")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.create_function("sf_segment", 2, _segment, deterministic=True)
    if readonly:
        conn.execute("PRAGMA query_only = ON")
    return conn


class Database:
    """The shared SQLite file of one process: ``write`` jobs go to the writer thread, ``read``
    jobs to the reader pool. Start with ``open()``, stop with ``close()``."""

    def __init__(self, path: Path, *, synchronous: str = "FULL", readers: int = 4) -> None:
        self.path = path
        self.synchronous = synchronous
        self._jobs: queue.SimpleQueue[_Job | object] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._readers = concurrent.futures.ThreadPoolExecutor(readers, thread_name_prefix="sqlite-read")
        self._local = threading.local()
        self._reader_conns: list[sqlite3.Connection] = []
        self._reader_lock = threading.Lock()
        self._watchers: dict[str, list[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = {}
        self._watch_lock = threading.Lock()
        self._schema_parts: list[str] = [SCHEMA]

    # lifecycle -------------------------------------------------------------------------------

    def add_schema(self, ddl: str) -> None:
        """DDL run at ``open`` (idempotent ``CREATE ... IF NOT EXISTS``)."""
        self._schema_parts.append(ddl)

    def open(self) -> Database:
        if self._writer is not None:
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = connect(self.path, synchronous=self.synchronous)
        with conn:
            conn.execute("BEGIN IMMEDIATE")
            for ddl in self._schema_parts:
                for statement in ddl.split(";"):
                    if statement.strip():
                        conn.execute(statement)
            add_missing_columns(conn)
            conn.execute("COMMIT")
        self._writer = threading.Thread(
            target=self._write_loop, args=(conn,), name="sqlite-writer", daemon=True
        )
        self._writer.start()
        return self

    def close(self) -> None:
        if self._writer is not None:
            self._jobs.put(_STOP)
            self._writer.join()
            self._writer = None
        self._readers.shutdown(wait=True)
        with self._reader_lock:
            for conn in self._reader_conns:
                conn.close()
            self._reader_conns.clear()

    # writes ----------------------------------------------------------------------------------

    def _submit(self, job: _Job) -> None:
        if self._writer is None:
            raise RuntimeError("database is not open")
        self._jobs.put(job)

    async def write(self, run: Callable[[Tx], T]) -> T:
        """Run ``run(tx)`` in the next group commit; returns after the commit is durable."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[T] = loop.create_future()
        self._submit(_Job(run, loop=loop, waiter=waiter))
        return await waiter

    def write_sync(self, run: Callable[[Tx], T]) -> T:
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._submit(_Job(run, future=future))
        return future.result()

    def _write_loop(self, conn: sqlite3.Connection) -> None:
        try:
            while True:
                first = self._jobs.get()
                if first is _STOP:
                    return
                batch = [first]
                stop = False
                while len(batch) < _MAX_JOBS_PER_COMMIT:
                    try:
                        job = self._jobs.get_nowait()
                    except queue.Empty:
                        break
                    if job is _STOP:
                        stop = True
                        break
                    batch.append(job)
                self._commit([j for j in batch if isinstance(j, _Job)], conn)
                if stop:
                    return
        finally:
            conn.close()

    def _commit(self, batch: list[_Job], conn: sqlite3.Connection) -> None:
        results: list[tuple[_Job, bool, Any]] = []
        tx = Tx(conn)
        try:
            conn.execute("BEGIN IMMEDIATE")
            for job in batch:
                if not job.start():
                    continue
                conn.execute("SAVEPOINT job")
                try:
                    result = job.run(tx)
                except BaseException as error:  # the job's own failure: undo it alone
                    conn.execute("ROLLBACK TO job")
                    conn.execute("RELEASE job")
                    results.append((job, False, error))
                else:
                    conn.execute("RELEASE job")
                    results.append((job, True, result))
            conn.execute("COMMIT")
        except BaseException as error:
            # The transaction as a whole failed (disk full, I/O error): nothing of it is durable,
            # so every job in it fails, including the ones that ran.
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            log.error("sqlite commit failed", error=repr(error), jobs=len(batch))
            self._deliver([(job, False, error) for job in batch])
            return
        self._deliver(results)
        self._wake(tx.touched)

    @staticmethod
    def _deliver(results: list[tuple[_Job, bool, Any]]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], bool, Any]]] = {}
        for job, ok, value in results:
            if job.waiter is not None and job.loop is not None:
                by_loop.setdefault(job.loop, []).append((job.waiter, ok, value))
            elif job.future is not None and not job.future.done():
                if ok:
                    job.future.set_result(value)
                else:
                    job.future.set_exception(value)
        for loop, outcomes in by_loop.items():
            if not loop.is_closed():
                loop.call_soon_threadsafe(_settle, outcomes)

    # reads -----------------------------------------------------------------------------------

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path, synchronous=self.synchronous, readonly=True)
            self._local.conn = conn
            with self._reader_lock:
                self._reader_conns.append(conn)
        return conn

    def _run_read(self, run: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._reader()
        # One read transaction per job: every statement of ``run`` sees the same snapshot.
        conn.execute("BEGIN")
        try:
            return run(conn)
        finally:
            conn.execute("COMMIT")

    async def read(self, run: Callable[[sqlite3.Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, self._run_read, run)

    def read_sync(self, run: Callable[[sqlite3.Connection], T]) -> T:
        return self._readers.submit(self._run_read, run).result()

    # wake-ups --------------------------------------------------------------------------------

    def watch(self, topic: str) -> asyncio.Event:
        """An event set after each commit that touched ``topic`` in this process. Other processes'
        commits are not seen: waiters also poll."""
        event = asyncio.Event()
        with self._watch_lock:
            self._watchers.setdefault(topic, []).append((asyncio.get_running_loop(), event))
        return event

    def _wake(self, topics: set[str]) -> None:
        if not topics:
            return
        with self._watch_lock:
            targets = [w for topic in topics for w in self._watchers.get(topic, ())]
        for loop, event in targets:
            if not loop.is_closed():
                loop.call_soon_threadsafe(event.set)
