"""Delivers change records to stream subscribers in commit order, with a checkpoint per subscriber.

A record is handed to the subscriber's handler; the checkpoint moves after each batch, so a crash
re-delivers at most the batch in progress (at-least-once, as DynamoDB Streams do). A record that
keeps failing goes to the subscription's retry queue after ``max_attempts`` and the stream moves
on. Only the holder of the ``stream:<name>`` lease dispatches, so several processes on one file
do not deliver the same record twice in parallel.

Each record is delivered under a correlation id of its own (a change record does not say which
request made the write: DynamoDB Streams carry only the images), bound for its log lines, the
messages its handler sends and its outbound requests; a record sent to the retry queue keeps it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import structlog

from supporterflow.declare import OnChange
from supporterflow.logs import correlation
from supporterflow.ports import ChangeRecord, ChangeStream, Leases, Queue
from supporterflow.runtime.metrics import Metrics
from supporterflow.runtime.waiting import backoff_seconds, wait_for_event

log = structlog.get_logger(__name__)

RecordHandler = Callable[[ChangeRecord], Awaitable[object]]

LEASE_S = 30.0
_IDLE_WAIT_S = 1.0


def encode_record(record: ChangeRecord) -> bytes:
    """A change record as a queue message body (for the retry queue)."""
    fields = dataclasses.asdict(record)
    fields["committed_at"] = record.committed_at.isoformat()
    return json.dumps(fields, separators=(",", ":")).encode()


def decode_record(body: bytes) -> ChangeRecord:
    fields: dict[str, Any] = json.loads(body)
    fields["committed_at"] = datetime.fromisoformat(fields["committed_at"])
    return ChangeRecord(**fields)


class StreamDispatcher:
    def __init__(
        self,
        *,
        subscription: OnChange,
        stream: ChangeStream,
        handler: RecordHandler,
        retry_queue: Queue,
        coordination: Leases,
        owner: str,
        metrics: Metrics,
        wake: asyncio.Event | None = None,
    ) -> None:
        self.subscription = subscription
        self._stream = stream
        self._handler = handler
        self._retry_queue = retry_queue
        self._coordination = coordination
        self._owner = owner
        self._metrics = metrics
        self._wake = wake or asyncio.Event()
        self._stopping = asyncio.Event()

    @property
    def name(self) -> str:
        return self.subscription.name

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    def nudge(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        lease = f"stream:{self.name}"
        try:
            while not self._stopping.is_set():
                self._wake.clear()
                if not await self._coordination.acquire(lease, self._owner, LEASE_S):
                    await wait_for_event(self._wake, LEASE_S / 3)
                    continue
                if not await self.dispatch_once():
                    await wait_for_event(self._wake, _IDLE_WAIT_S)
        finally:
            await self._coordination.release(lease, self._owner)

    async def dispatch_once(self) -> int:
        """Deliver one batch; returns how many records it read (0: caught up)."""
        s = self.subscription
        records = await self._stream.read(s.name, tables=[s.table], limit=s.batch_size)
        for record in records:
            if record.event_name in s.events and not await self._deliver(record):
                return len(records)  # stopping: the checkpoint stays before this record
        if records:
            await self._stream.checkpoint(s.name, records[-1].sequence)
        return len(records)

    async def _deliver(self, record: ChangeRecord) -> bool:
        return await deliver_record(
            record,
            subscription=self.subscription,
            handler=self._handler,
            retry_queue=self._retry_queue,
            metrics=self._metrics,
            stopping=self._stopping,
        )


async def deliver_record(
    record: ChangeRecord,
    *,
    subscription: OnChange,
    handler: RecordHandler,
    retry_queue: Queue,
    metrics: Metrics,
    stopping: asyncio.Event | None = None,
) -> bool:
    """Hand one record to ``handler``: up to ``max_attempts`` tries with back-off, then the record
    goes to ``retry_queue`` (``encode_record``). False when ``stopping`` was set during a back-off
    (the record is neither handled nor queued); a failing send to the retry queue raises."""
    with correlation(None):
        return await _deliver_record(
            record,
            subscription=subscription,
            handler=handler,
            retry_queue=retry_queue,
            metrics=metrics,
            stopping=stopping,
        )


async def _deliver_record(
    record: ChangeRecord,
    *,
    subscription: OnChange,
    handler: RecordHandler,
    retry_queue: Queue,
    metrics: Metrics,
    stopping: asyncio.Event | None,
) -> bool:
    s = subscription
    bound = log.bind(subscriber=s.name, sequence=record.sequence, event_name=record.event_name)
    for attempt in range(1, s.max_attempts + 1):
        try:
            await handler(record)
        except Exception as error:
            metrics.stream_records.labels(s.name, "retry").inc()
            bound.warning("change record failed", attempt=attempt, error=repr(error), exc_info=error)
            if attempt == s.max_attempts:
                break
            delay = backoff_seconds(attempt, base_s=s.backoff_base_s, max_s=s.backoff_max_s)
            if stopping is None:
                await asyncio.sleep(delay)
            elif await wait_for_event(stopping, delay):
                return False
        else:
            metrics.stream_records.labels(s.name, "ok").inc()
            return True
    await retry_queue.send(encode_record(record))
    metrics.stream_records.labels(s.name, "to_retry_queue").inc()
    bound.error("change record sent to the retry queue", queue=retry_queue.name)
    return True
