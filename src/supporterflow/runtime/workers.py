"""Queue consumers: receive, run the handler with bounded concurrency, then acknowledge, retry or
dead-letter according to what the handler raised (``ports.Retry``, ``GiveUp``, ``Ignore``).

Each message is handled under the correlation id it was sent with (a fresh one when it has none),
so the handler's log lines, its store calls, the messages it sends and its outbound requests all
carry the id of the request that started the work."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Literal

import structlog

from supporterflow.declare import QueueDef
from supporterflow.logs import correlation
from supporterflow.ports import GiveUp, Ignore, Queue, Received, Retry
from supporterflow.runtime.metrics import Metrics
from supporterflow.runtime.waiting import backoff_seconds, wait_for_event

log = structlog.get_logger(__name__)

MessageHandler = Callable[[bytes], Awaitable[object]]
#: What became of a message: deleted (``ok``, ``ignored``), moved to the DLQ, or left to come back.
Outcome = Literal["ok", "ignored", "dead_letter", "retry"]

_IDLE_POLL_MIN_S = 0.05
_IDLE_POLL_MAX_S = 1.0


def _reason(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


class QueueWorker:
    """Drains one queue with one handler until ``stop()``; in-flight messages are finished, not
    abandoned, unless they outlive the grace period (then they are cancelled and come back after
    their visibility timeout: never deleted without having been handled)."""

    def __init__(
        self,
        *,
        name: str,
        queue: Queue,
        definition: QueueDef,
        handler: MessageHandler,
        metrics: Metrics,
        concurrency: int,
        batch_size: int,
        backoff_base_s: float,
        backoff_max_s: float,
        wake: asyncio.Event | None = None,
    ) -> None:
        self.name = name
        self._queue = queue
        self._definition = definition
        self._handler = handler
        self._metrics = metrics
        self._concurrency = concurrency
        self._batch_size = batch_size
        self._backoff = (backoff_base_s, backoff_max_s)
        self._wake = wake or asyncio.Event()
        self._stopping = asyncio.Event()
        self._in_flight: set[asyncio.Task[None]] = set()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    def nudge(self) -> None:
        """Poll now instead of at the next idle tick (e.g. after a message became visible)."""
        self._wake.set()

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    async def run(self, *, grace_s: float) -> None:
        idle_s = _IDLE_POLL_MIN_S
        try:
            while not self._stopping.is_set():
                free = self._concurrency - len(self._in_flight)
                if free <= 0:
                    await asyncio.wait(self._in_flight, return_when=asyncio.FIRST_COMPLETED)
                    continue
                self._wake.clear()
                try:
                    batch = await self._queue.receive(
                        min(self._batch_size, free), self._definition.visibility_s
                    )
                except Exception as error:
                    log.error("receive failed", consumer=self.name, error=_reason(error))
                    batch = []
                if not batch:
                    await wait_for_event(self._wake, idle_s)
                    idle_s = min(idle_s * 2, _IDLE_POLL_MAX_S)
                    continue
                idle_s = _IDLE_POLL_MIN_S
                for message in batch:
                    task = asyncio.create_task(self._handle(message))
                    self._in_flight.add(task)
                    task.add_done_callback(self._in_flight.discard)
        finally:
            await self._drain(grace_s)

    async def _drain(self, grace_s: float) -> None:
        if not self._in_flight:
            return
        log.info("finishing in-flight messages", consumer=self.name, count=len(self._in_flight))
        _, pending = await asyncio.wait(self._in_flight, timeout=grace_s)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
            log.warning("in-flight messages left for redelivery", consumer=self.name, count=len(pending))

    async def _handle(self, message: Received) -> None:
        await handle_message(
            message,
            consumer=self.name,
            queue=self._queue,
            definition=self._definition,
            handler=self._handler,
            metrics=self._metrics,
            backoff_base_s=self._backoff[0],
            backoff_max_s=self._backoff[1],
        )


async def handle_message(
    message: Received,
    *,
    consumer: str,
    queue: Queue,
    definition: QueueDef,
    handler: MessageHandler,
    metrics: Metrics,
    backoff_base_s: float,
    backoff_max_s: float,
) -> Outcome:
    """Run ``handler`` on one received message and settle it on ``queue``: handled -> deleted,
    ``Ignore`` -> deleted, ``GiveUp`` -> dead-lettered with its reason, anything else (``Retry``,
    a timeout, a bug) -> visible again after the back-off, or dead-lettered on its last receive.
    The outcome is returned (the Lambda consumer reports ``retry`` as a batch item failure)."""
    with correlation(message.correlation_id):
        started = time.perf_counter()
        bound = log.bind(
            consumer=consumer, message_id=message.message_id, receive_count=message.receive_count
        )
        outcome = await _settle(
            message,
            handler,
            bound,
            queue=queue,
            definition=definition,
            backoff=(backoff_base_s, backoff_max_s),
        )
        metrics.consumer_messages.labels(consumer, outcome).inc()
        metrics.consumer_seconds.labels(consumer).observe(time.perf_counter() - started)
        return outcome


async def _settle(
    message: Received,
    handler: MessageHandler,
    bound: structlog.stdlib.BoundLogger,
    *,
    queue: Queue,
    definition: QueueDef,
    backoff: tuple[float, float],
) -> Outcome:
    # Give up before the visibility timeout runs out, so that no other receiver can get the
    # message while this one is still working on it.
    timeout_s = max(definition.visibility_s * 0.9, definition.visibility_s - 5)
    try:
        async with asyncio.timeout(timeout_s):
            await handler(message.body)
    except Ignore as error:
        bound.warning("message ignored", reason=_reason(error))
        await queue.delete(message)
        return "ignored"
    except GiveUp as error:
        bound.error("message dead-lettered", reason=_reason(error))
        await queue.dead_letter(message, _reason(error))
        return "dead_letter"
    except Exception as error:
        # Retry, timeouts and anything unexpected: deliver again later, then dead-letter.
        return await _retry_or_dead_letter(
            message, error, bound, queue=queue, definition=definition, backoff=backoff
        )
    await queue.delete(message)
    return "ok"


async def _retry_or_dead_letter(
    message: Received,
    error: Exception,
    bound: structlog.stdlib.BoundLogger,
    *,
    queue: Queue,
    definition: QueueDef,
    backoff: tuple[float, float],
) -> Outcome:
    reason = _reason(error)
    if definition.dlq_name and message.receive_count >= definition.max_receives:
        bound.error("message failed for the last time: dead-lettered", reason=reason)
        await queue.dead_letter(message, reason)
        return "dead_letter"
    delay = backoff_seconds(message.receive_count, base_s=backoff[0], max_s=backoff[1])
    if isinstance(error, Retry) and error.after_s is not None:
        # The other side said when to come back: never earlier, and never later than our
        # own ceiling, so one answer cannot park a message for hours.
        delay = max(delay, min(error.after_s, backoff[1]))
    # A Retry is an expected, explained failure: its reason says it all, no traceback needed.
    bound.warning(
        "message failed: will retry",
        reason=reason,
        retry_in_s=round(delay, 3),
        exc_info=None if isinstance(error, Retry) else error,
    )
    await queue.change_visibility(message, max(1, round(delay)))
    return "retry"
