"""DynamoDB-shaped tables on SQLite.

Each logical table is one SQLite table ``(pk, sk, item JSON, ttl)`` with its primary key on
``(pk, sk)``. Secondary indexes are expression indexes on ``json_extract`` of the item, so they are
sparse like DynamoDB's: an item without the index attributes is not in the index. Every write of a
table with a stream also writes its change record in the same transaction (the outbox).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncGenerator, Sequence
from datetime import datetime
from typing import Any

from supporterflow.adapters import cursors
from supporterflow.adapters.conditions import holds, same
from supporterflow.adapters.sqlite.database import Database, Tx, connect
from supporterflow.adapters.sqlite.queues import SqliteQueue
from supporterflow.adapters.sqlite.stream import record_change
from supporterflow.declare import TableDef
from supporterflow.logs import current_correlation_id
from supporterflow.ports import (
    TTL_PRINCIPAL,
    Absent,
    ChangeEvent,
    Clock,
    Condition,
    ConditionFailed,
    Item,
    Key,
    KeyRange,
    Outgoing,
    Page,
    Scalar,
)

_NO_SORT_KEY = ""
_CHUNK = 400  # keys per statement: well under SQLite's 32,766 bound parameters


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _attr(name: str) -> str:
    """The SQL expression of an item attribute; indexes and queries must spell it identically."""
    return "json_extract(item, '$.\"" + name.replace("'", "''").replace('"', '\\"') + "\"')"


def _dump(item: Item) -> str:
    # NaN is not JSON: SQLite's JSON functions would reject the row inside the write
    # transaction; refusing it here says which value is wrong (DynamoDB refuses it too).
    return json.dumps(item, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _key_value(item: Item, attribute: str, table: str) -> Scalar:
    value = item.get(attribute)
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"{table}: key attribute {attribute!r} must be a string or a number, got {value!r}")
    return value


class SqliteTable:
    def __init__(self, db: Database, definition: TableDef, clock: Clock) -> None:
        self.definition = definition
        self.name = definition.name
        self._db = db
        self._clock = clock
        self._base_name = "t_" + definition.name.replace("-", "_")
        self._sql_name = _ident(self._base_name)
        db.add_schema(self._ddl())

    def _ddl(self) -> str:
        t = self._sql_name
        # A rowid table, not WITHOUT ROWID: items are JSON documents of a kilobyte or more, and
        # SQLite keeps such rows out of the key's B-tree far more cheaply (puts measured 60% faster).
        statements = [
            f"CREATE TABLE IF NOT EXISTS {t} (pk NOT NULL, sk NOT NULL, item TEXT NOT NULL, ttl REAL, "
            "PRIMARY KEY (pk, sk))",
            f"CREATE INDEX IF NOT EXISTS {_ident(self._base_name + '__ttl')} ON {t} (ttl) "
            "WHERE ttl IS NOT NULL",
        ]
        for index_name, index in self.definition.indexes.items():
            columns = [_attr(index.hash_key)] + ([_attr(index.sort_key)] if index.sort_key else [])
            statements.append(
                f"CREATE INDEX IF NOT EXISTS {_ident(self._base_name + '__' + index_name)} "
                f"ON {t} ({', '.join(columns)})"
            )
        return ";\n".join(statements)

    # keys ------------------------------------------------------------------------------------

    def _pk_sk(self, key: Key) -> tuple[Scalar, Scalar]:
        d = self.definition
        pk = _key_value(key, d.hash_key, d.name)
        sk = _key_value(key, d.sort_key, d.name) if d.sort_key else _NO_SORT_KEY
        return pk, sk

    def _keys_of(self, item: Item) -> Key:
        d = self.definition
        keys = {d.hash_key: item[d.hash_key]}
        if d.sort_key:
            keys[d.sort_key] = item[d.sort_key]
        return keys

    def _ttl_of(self, item: Item) -> float | None:
        attribute = self.definition.ttl_attribute
        value = item.get(attribute) if attribute else None
        # DynamoDB ignores a TTL attribute that is not a number.
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return float(value)

    # writes ----------------------------------------------------------------------------------

    def _current(self, conn: sqlite3.Connection, pk: Scalar, sk: Scalar) -> Item | None:
        row = conn.execute(f"SELECT item FROM {self._sql_name} WHERE pk = ? AND sk = ?", (pk, sk)).fetchone()
        return None if row is None else json.loads(row[0])

    def _put_in(self, tx: Tx, item: Item, now: datetime, condition: Condition | None = None) -> bool:
        pk, sk = self._pk_sk(item)
        if isinstance(condition, Absent) and not self.definition.stream:
            # Insert-once on a table without change records: no need to read the old row.
            inserted = tx.conn.execute(
                f"INSERT INTO {self._sql_name} (pk, sk, item, ttl) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (pk, sk) DO NOTHING",
                (pk, sk, _dump(item), self._ttl_of(item)),
            ).rowcount
            if not inserted:
                raise ConditionFailed(f"{self.name}: condition {condition!r} does not hold")
            return True
        old = self._current(tx.conn, pk, sk)
        if not holds(condition, old):
            raise ConditionFailed(f"{self.name}: condition {condition!r} does not hold")
        if old is not None and same(old, item):
            # DynamoDB writes no stream record for a write that changes nothing.
            return False
        tx.conn.execute(
            f"INSERT INTO {self._sql_name} (pk, sk, item, ttl) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (pk, sk) DO UPDATE SET item = excluded.item, ttl = excluded.ttl",
            (pk, sk, _dump(item), self._ttl_of(item)),
        )
        if self.definition.stream:
            event: ChangeEvent = "INSERT" if old is None else "MODIFY"
            record_change(tx, self.name, event, self._keys_of(item), old, item, None, now)
        return True

    def _delete_in(
        self,
        tx: Tx,
        key: Key,
        now: datetime,
        condition: Condition | None = None,
        principal: str | None = None,
    ) -> Item | None:
        pk, sk = self._pk_sk(key)
        old = self._current(tx.conn, pk, sk)
        if not holds(condition, old):
            raise ConditionFailed(f"{self.name}: condition {condition!r} does not hold")
        if old is None:
            return None
        tx.conn.execute(f"DELETE FROM {self._sql_name} WHERE pk = ? AND sk = ?", (pk, sk))
        if self.definition.stream:
            record_change(tx, self.name, "REMOVE", self._keys_of(old), old, None, principal, now)
        return old

    async def put(
        self, item: Item, *, condition: Condition | None = None, then_send: Sequence[Outgoing] = ()
    ) -> None:
        self._pk_sk(item)  # a bad key fails here, in the caller, not in the writer thread
        now = self._clock.now()
        correlation_id = current_correlation_id()  # the writer thread does not have the context

        def run(tx: Tx) -> None:
            self._put_in(tx, item, now, condition)
            _send_in(tx, then_send, now, self._db, correlation_id)

        await self._db.write(run)

    async def delete(
        self, key: Key, *, condition: Condition | None = None, then_send: Sequence[Outgoing] = ()
    ) -> Item | None:
        self._pk_sk(key)
        now = self._clock.now()
        correlation_id = current_correlation_id()

        def run(tx: Tx) -> Item | None:
            old = self._delete_in(tx, key, now, condition)
            _send_in(tx, then_send, now, self._db, correlation_id)
            return old

        return await self._db.write(run)

    async def batch_write(self, puts: Sequence[Item] = (), deletes: Sequence[Key] = ()) -> None:
        for item in puts:
            self._pk_sk(item)
        for key in deletes:
            self._pk_sk(key)
        now = self._clock.now()

        def run_chunk(chunk_puts: Sequence[Item], chunk_deletes: Sequence[Key]) -> Any:
            def run(tx: Tx) -> None:
                for item in chunk_puts:
                    self._put_in(tx, item, now)
                for key in chunk_deletes:
                    self._delete_in(tx, key, now)

            return run

        for start in range(0, max(len(puts), len(deletes)), _CHUNK):
            await self._db.write(run_chunk(puts[start : start + _CHUNK], deletes[start : start + _CHUNK]))

    async def sweep_expired(self, *, limit: int = 500) -> int:
        """Delete up to ``limit`` rows whose TTL has passed, as principal ``ttl``; returns how many."""
        if not self.definition.ttl_attribute:
            return 0
        now = self._clock.now()

        def run(tx: Tx) -> int:
            rows = tx.conn.execute(
                f"SELECT item FROM {self._sql_name} WHERE ttl IS NOT NULL AND ttl < ? LIMIT ?",
                (now.timestamp(), limit),
            ).fetchall()
            for (text,) in rows:
                self._delete_in(tx, self._keys_of(json.loads(text)), now, principal=TTL_PRINCIPAL)
            return len(rows)

        return await self._db.write(run)

    # reads -----------------------------------------------------------------------------------

    async def get(self, key: Key) -> Item | None:
        pk, sk = self._pk_sk(key)
        return await self._db.read(lambda conn: self._current(conn, pk, sk))

    async def batch_get(self, keys: Sequence[Key]) -> list[Item]:
        # Each key once: the join below would return a row once per repetition of its key.
        pairs = list(dict.fromkeys(self._pk_sk(key) for key in keys))

        def run(conn: sqlite3.Connection) -> list[Item]:
            found: list[Item] = []
            for start in range(0, len(pairs), _CHUNK):
                chunk = pairs[start : start + _CHUNK]
                values = ", ".join("(?, ?)" for _ in chunk)
                # A join on the key, not "(pk, sk) IN (VALUES ...)": SQLite plans that as a
                # scan of the whole table once there are two keys or more.
                rows = conn.execute(
                    f"SELECT t.item FROM (VALUES {values}) AS k "
                    f"JOIN {self._sql_name} AS t ON t.pk = k.column1 AND t.sk = k.column2",
                    [v for pair in chunk for v in pair],
                ).fetchall()
                found.extend(json.loads(text) for (text,) in rows)
            return found

        return await self._db.read(run)

    async def query(
        self,
        hash_value: Scalar,
        *,
        sort: KeyRange | None = None,
        index: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
        forward: bool = True,
    ) -> Page:
        if limit <= 0:
            raise ValueError("limit must be positive")
        if index is None:
            hash_expr, sort_expr = "pk", ("sk" if self.definition.sort_key else None)
            order = ["sk"]
        else:
            try:
                spec = self.definition.indexes[index]
            except KeyError:
                raise ValueError(f"{self.name} has no index {index!r}") from None
            hash_expr = _attr(spec.hash_key)
            sort_expr = _attr(spec.sort_key) if spec.sort_key else None
            # Index entries sharing a sort value are ordered by the table key, so pages are stable.
            order = ([sort_expr] if sort_expr else []) + ["pk", "sk"]

        where = [f"{hash_expr} = ?"]
        params: list[Any] = [hash_value]
        if sort is not None:
            if sort_expr is None:
                raise ValueError(f"{self.name}: a sort condition needs a sort key")
            where.append(_sort_clause(sort_expr, sort, params))
        elif sort_expr is not None and index is not None:
            where.append(f"{sort_expr} IS NOT NULL")
        if cursor is not None:
            position = cursors.decode(cursor, len(order))
            where.append(f"({', '.join(order)}) {'>' if forward else '<'} ({', '.join('?' * len(order))})")
            params.extend(position)
        direction = "ASC" if forward else "DESC"
        sql = (
            f"SELECT item, {', '.join(order)} FROM {self._sql_name} WHERE {' AND '.join(where)} "
            f"ORDER BY {', '.join(f'{column} {direction}' for column in order)} LIMIT ?"
        )
        params.append(limit + 1)
        return await self._db.read(lambda conn: _page(conn.execute(sql, params).fetchall(), limit))

    async def scan(
        self, *, segment: int = 0, total_segments: int = 1, limit: int = 1000, cursor: str | None = None
    ) -> Page:
        if not 0 <= segment < total_segments:
            raise ValueError("segment must be in [0, total_segments)")
        where = ["sf_segment(pk, ?) = ?"]
        params: list[Any] = [total_segments, segment]
        if cursor is not None:
            where.append("(pk, sk) > (?, ?)")
            params.extend(cursors.decode(cursor, 2))
        sql = f"SELECT item, pk, sk FROM {self._sql_name} WHERE {' AND '.join(where)} ORDER BY pk, sk LIMIT ?"
        params.append(limit + 1)
        return await self._db.read(lambda conn: _page(conn.execute(sql, params).fetchall(), limit))

    async def read_snapshot(
        self,
        *,
        index: str | None = None,
        hash_value: Scalar | None = None,
        omit: Sequence[str] = (),
        page_size: int = 1000,
    ) -> AsyncGenerator[list[bytes], None]:
        if page_size <= 0:
            raise ValueError("page_size must be positive")
        sql, params = self._snapshot_query(index, hash_value, omit)
        # A connection of its own, holding one read transaction from the first page to the last:
        # WAL gives it the snapshot of that moment while the writer goes on. Pages are fetched
        # one ahead on a worker thread, so reading overlaps with whatever the caller does.
        conn = await asyncio.to_thread(
            connect, self._db.path, synchronous=self._db.synchronous, readonly=True
        )
        # The stored UTF-8 as it is: no decoding into str objects only to encode them again.
        conn.text_factory = bytes
        pending: asyncio.Future[list[bytes]] | None = None
        try:
            await asyncio.to_thread(conn.execute, "BEGIN")
            cursor = await asyncio.to_thread(conn.execute, sql, params)

            def fetch() -> list[bytes]:
                return [row[0] for row in cursor.fetchmany(page_size)]

            pending = asyncio.ensure_future(asyncio.to_thread(fetch))
            while page := await pending:
                pending = asyncio.ensure_future(asyncio.to_thread(fetch))
                yield page
        finally:
            if pending is not None and not pending.done():
                # The connection may not be closed while a worker thread still reads from it.
                await asyncio.wait([pending])
            conn.close()

    def _snapshot_query(
        self, index: str | None, hash_value: Scalar | None, omit: Sequence[str]
    ) -> tuple[str, list[Any]]:
        # Left out in SQLite, on the reading thread, outside the GIL: decoding each row in Python
        # to drop a field would cost more than the rest of an export.
        document = "item"
        if omit:
            paths = ", ".join("'" + _json_path(path) + "'" for path in omit)
            document = f"json_remove(item, {paths})"
        if index is None:
            if hash_value is None:
                # Storage order: the cheapest full read, and an export needs no order.
                return f"SELECT {document} FROM {self._sql_name}", []
            return f"SELECT {document} FROM {self._sql_name} WHERE pk = ? ORDER BY sk", [hash_value]
        try:
            spec = self.definition.indexes[index]
        except KeyError:
            raise ValueError(f"{self.name} has no index {index!r}") from None
        if hash_value is None:
            raise ValueError("reading an index partition needs its hash value")
        where = f"{_attr(spec.hash_key)} = ?"
        if spec.sort_key is None:
            return f"SELECT {document} FROM {self._sql_name} WHERE {where}", [hash_value]
        # The index holds (hash, sort): this walks it in order without sorting.
        sort = _attr(spec.sort_key)
        return (
            f"SELECT {document} FROM {self._sql_name} WHERE {where} AND {sort} IS NOT NULL ORDER BY {sort}",
            [hash_value],
        )


def _json_path(path: str) -> str:
    """``applePayload.unified_receipt.latest_receipt`` -> ``$."applePayload"."unified_receipt"...``
    (as SQL string content: quotes doubled)."""
    labels = path.split(".")
    if not path or any(not label for label in labels):
        raise ValueError(f"not a document path: {path!r}")
    return ("$" + "".join('."' + label.replace('"', '\\"') + '"' for label in labels)).replace("'", "''")


def _sort_clause(expr: str, sort: KeyRange, params: list[Any]) -> str:
    if sort.op == "between":
        if sort.upper is None:
            raise ValueError("between needs an upper bound")
        params.extend([sort.value, sort.upper])
        return f"{expr} BETWEEN ? AND ?"
    if sort.op == "begins_with":
        if not isinstance(sort.value, str):
            raise ValueError("begins_with needs a string")
        # A range instead of LIKE: it is case-sensitive and can use the index.
        params.extend([sort.value, sort.value + "\U0010ffff"])
        return f"{expr} >= ? AND {expr} < ?"
    params.append(sort.value)
    return f"{expr} {sort.op} ?"


def _page(rows: list[Any], limit: int) -> Page:
    items = [json.loads(row[0]) for row in rows[:limit]]
    cursor = cursors.encode(list(rows[limit - 1][1:])) if len(rows) > limit else None
    return Page(items, cursor)


def _send_in(
    tx: Tx, outgoing: Sequence[Outgoing], now: datetime, db: Database, correlation_id: str | None
) -> None:
    for message in outgoing:
        if not (isinstance(message.queue, SqliteQueue) and message.queue.database is db):
            raise TypeError(
                f"{message.queue.name} is not a queue of this database: it cannot share the commit"
            )
        message.queue.send_in(
            tx, [message.body], now, message.delay_s, message.correlation_id or correlation_id
        )
