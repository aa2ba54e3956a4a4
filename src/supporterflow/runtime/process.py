"""The local runtime: HTTP server, queue consumers, stream dispatchers and scheduler in one asyncio
process, wired from the topology.

Shutdown on SIGTERM or SIGINT: stop receiving (HTTP stops accepting, consumers stop polling),
finish the work in flight (bounded by ``SF_SHUTDOWN_GRACE_SECONDS``), commit, exit 0. Anything cut
off by the grace period was never acknowledged, so it is delivered again after a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import uuid
from collections.abc import Awaitable, Callable, Generator
from typing import Any

import structlog
import uvicorn

from supporterflow.bootstrap import Container
from supporterflow.declare import Schedule
from supporterflow.runtime.dispatcher import StreamDispatcher, decode_record
from supporterflow.runtime.scheduler import Scheduler
from supporterflow.runtime.workers import QueueWorker

log = structlog.get_logger(__name__)


class _EmbeddedServer(uvicorn.Server):
    """uvicorn inside our loop: the runtime owns the signals, not the server."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def _with_record(handler: Callable[..., Awaitable[object]]) -> Callable[[bytes], Awaitable[object]]:
    """A stream handler as a queue handler, for the subscription's retry queue."""

    async def handle(body: bytes) -> object:
        return await handler(decode_record(body))

    return handle


class Runtime:
    def __init__(self, container: Container, *, http: bool = True, background: bool = True) -> None:
        """``http``: serve the API. ``background``: run stream dispatchers and schedules (``serve``
        does; ``worker`` processes run consumers only)."""
        self.container = container
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._http = http
        self._background = background
        self._stop = asyncio.Event()
        self.server: uvicorn.Server | None = None
        self.workers = self._build_workers()
        self.dispatchers = self._build_dispatchers() if background else []
        self.scheduler = self._build_scheduler() if background else None

    # wiring ------------------------------------------------------------------------------------

    def _build_workers(self) -> list[QueueWorker]:
        c = self.container
        workers = []
        for consumer in c.topology.consumers:
            workers.append(
                QueueWorker(
                    name=consumer.name,
                    queue=c.queues[consumer.queue],
                    definition=c.topology.queue(consumer.queue),
                    handler=c.inject(consumer.handler, leading=1),
                    metrics=c.metrics,
                    concurrency=consumer.concurrency,
                    batch_size=consumer.batch_size,
                    backoff_base_s=consumer.backoff_base_s,
                    backoff_max_s=consumer.backoff_max_s,
                    wake=c.watch_queue(consumer.queue),
                )
            )
        for subscription in c.topology.streams:
            retry = subscription.retry_queue
            workers.append(
                QueueWorker(
                    name=f"{retry.name}:{subscription.handler.__name__}",
                    queue=c.queues[retry.name],
                    definition=retry,
                    handler=_with_record(c.inject(subscription.handler, leading=1)),
                    metrics=c.metrics,
                    concurrency=1,
                    batch_size=1,
                    backoff_base_s=subscription.backoff_base_s,
                    backoff_max_s=subscription.backoff_max_s,
                    wake=c.watch_queue(retry.name),
                )
            )
        return workers

    def _build_dispatchers(self) -> list[StreamDispatcher]:
        c = self.container
        subscriptions = [
            (subscription, c.inject(subscription.handler, leading=1), c.queues[subscription.retry_queue.name])
            for subscription in c.topology.streams
        ]
        return [
            StreamDispatcher(
                subscription=subscription,
                stream=c.stream,
                handler=handler,
                retry_queue=retry_queue,
                coordination=c.coordination,
                owner=self.owner,
                metrics=c.metrics,
                wake=c.watch_stream(),
            )
            for subscription, handler, retry_queue in [*subscriptions, *c.internal_streams]
        ]

    def _build_scheduler(self) -> Scheduler:
        c = self.container
        schedules: list[tuple[Schedule, Callable[[], Awaitable[Any]]]] = [
            (schedule, c.inject(schedule.handler)) for schedule in c.topology.schedules
        ]
        # Housekeeping that DynamoDB does by itself, so it is not in the topology.
        schedules += c.housekeeping
        return Scheduler(
            schedules, coordination=c.coordination, clock=c.clock, owner=self.owner, metrics=c.metrics
        )

    # running -----------------------------------------------------------------------------------

    def request_stop(self) -> None:
        if not self._stop.is_set():
            log.info("shutting down: finishing in-flight work")
            self._stop.set()

    def install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)

    async def run(self, app: Any | None = None) -> None:
        """Run until ``request_stop()``; ``app`` is the ASGI app when serving HTTP."""
        c = self.container
        grace = c.settings.shutdown_grace_seconds
        tasks: list[asyncio.Task[Any]] = []
        if self._http:
            if app is None:
                raise ValueError("an ASGI app is needed to serve HTTP")
            config = uvicorn.Config(
                app,
                host=c.settings.host,
                port=c.settings.port,
                log_config=None,
                access_log=False,
                lifespan="off",
                timeout_graceful_shutdown=int(grace),
                server_header=False,
            )
            self.server = _EmbeddedServer(config)
            tasks.append(asyncio.create_task(self.server.serve(), name="http"))
        tasks += [asyncio.create_task(w.run(grace_s=grace), name=w.name) for w in self.workers]
        tasks += [asyncio.create_task(d.run(), name=d.name) for d in self.dispatchers]
        if self.scheduler is not None:
            tasks.append(asyncio.create_task(self.scheduler.run(), name="scheduler"))
        log.info(
            "runtime started",
            http=f"http://{c.settings.host}:{c.settings.port}" if self._http else None,
            consumers=len(self.workers),
            stream_subscribers=len(self.dispatchers),
            storage=str(c.settings.database) if c.database else f"aws {c.settings.app}-{c.settings.stage}",
        )
        stop_waiter = asyncio.create_task(self._stop.wait())
        done, _ = await asyncio.wait([stop_waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
        failed = [t for t in done if t is not stop_waiter and not t.cancelled() and t.exception() is not None]
        self.request_stop()
        stop_waiter.cancel()
        if self.server is not None:
            self.server.should_exit = True
        for worker in self.workers:
            worker.stop()
        for dispatcher in self.dispatchers:
            dispatcher.stop()
        if self.scheduler is not None:
            self.scheduler.stop()
        await asyncio.gather(*tasks, return_exceptions=True)
        log.info("runtime stopped")
        if failed:
            raise RuntimeError(f"{failed[0].get_name()} stopped unexpectedly") from failed[0].exception()

    @property
    def started(self) -> bool:
        return self.server is None or self.server.started
