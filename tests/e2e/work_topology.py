"""Topologies the end-to-end tests run the real server with (``SF_TOPOLOGY``): a queue of work
items whose consumer records each item it handled in a table, so a test can tell handled from
lost."""

from __future__ import annotations

import asyncio

from supporterflow.declare import Consumer, QueueDef, TableDef, Topology
from supporterflow.ports import Table

PROCESSED = TableDef("processed", hash_key="id")
WORK = QueueDef("work", visibility_s=3, max_receives=5)
SLOW_WORK = QueueDef("work", visibility_s=10, max_receives=5)


async def record_processed(body: bytes, *, processed: Table) -> None:
    await processed.put({"id": body.decode()})


async def record_slowly(body: bytes, *, processed: Table) -> None:
    await asyncio.sleep(0.05)
    await processed.put({"id": body.decode()})


FAST = Topology(
    tables=(PROCESSED,), queues=(WORK,), consumers=(Consumer("work", record_processed, concurrency=32),)
)
SLOW = Topology(
    tables=(PROCESSED,), queues=(SLOW_WORK,), consumers=(Consumer("work", record_slowly, concurrency=16),)
)
