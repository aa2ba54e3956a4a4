"""The composition root: settings -> adapters -> functions. The only module that builds adapters.

Handlers declare their collaborators as parameters named after the resource (``subscriptions``,
``apple_subscriptions_to_fetch``, ``clock``, ``settings``...); ``inject`` binds them once at start, so
a missing collaborator is a start-up error, never a failure on the first message.

This module builds the container; ``downstream`` the clients of the authorities (user service,
ERPNext, Braze), ``stores`` those of the App Store and Google Play, ``parts`` what they share.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import inspect
import os
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from typing import Any

import structlog

from supporterflow.adapters.clock import SystemClock
from supporterflow.adapters.export_targets import UrlExportTargets
from supporterflow.adapters.objects import DirectoryObjectStore
from supporterflow.adapters.outbound import Transport
from supporterflow.adapters.sqlite.coordination import SqliteCoordination
from supporterflow.adapters.sqlite.database import Database
from supporterflow.adapters.sqlite.queues import SqliteQueue, queue_topic
from supporterflow.adapters.sqlite.stream import STREAM_TOPIC, SqliteChangeStream
from supporterflow.adapters.sqlite.tables import SqliteTable
from supporterflow.bootstrap.downstream import downstream_clients
from supporterflow.bootstrap.parts import NotConfigured
from supporterflow.bootstrap.stores import (
    EMULATED_TOKEN_URI,
    LOCAL_PUSH_AUDIENCE,
    apple_emulator_directory,
    google_emulator_directory,
)
from supporterflow.config import ConfigurationError, Settings, load_settings
from supporterflow.declare import Every, OnChange, Schedule, Topology, python_name
from supporterflow.ports import (
    ChangeRecord,
    ChangeStream,
    Clock,
    Coordination,
    ObjectStore,
    Queue,
    QueueDepth,
    Table,
)
from supporterflow.runtime.metrics import Metrics

log = structlog.get_logger(__name__)

# Change records every subscriber has seen are kept this long (DynamoDB Streams keep 24 hours).
_CHANGE_RETENTION = timedelta(hours=24)

__all__ = [
    "EMULATED_TOKEN_URI",
    "LOCAL_PUSH_AUDIENCE",
    "Container",
    "NotConfigured",
    "QueueSummary",
    "apple_emulator_directory",
    "bootstrap",
    "google_emulator_directory",
    "identity_key",
    "load_topology",
]


def identity_key(settings: Settings) -> bytes:
    """The identity-hash key: configured, or (local profile) made up once and kept beside the
    database, so hashes stay the same across restarts. Losing it breaks every stored hash."""
    if settings.identity_hash_key is not None:
        return settings.identity_hash_key.get_secret_value().encode()
    path = settings.database.parent / "identity-hash.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            pass  # another process made it first: use that one
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(32))
    return path.read_text().strip().encode()


def load_topology(reference: str) -> Topology:
    """``module:attribute`` -> the Topology it names."""
    module_name, _, attribute = reference.partition(":")
    try:
        topology = getattr(importlib.import_module(module_name), attribute or "TOPOLOGY")
    except (ImportError, AttributeError) as error:
        raise ConfigurationError(f"SF_TOPOLOGY={reference}: {error}") from None
    if not isinstance(topology, Topology):
        raise ConfigurationError(f"SF_TOPOLOGY={reference} is not a Topology")
    return topology


@dataclass(frozen=True)
class QueueSummary:
    name: str
    depth: QueueDepth
    dead_letters: int | None  # None: the queue has no DLQ


@dataclass
class Container:
    """Everything one process runs on, built from the settings."""

    settings: Settings
    topology: Topology
    clock: Clock
    tables: dict[str, Table]
    queues: dict[str, Queue]
    stream: ChangeStream
    coordination: Coordination
    objects: ObjectStore
    database: Database | None = None  # the local profile's SQLite file
    # What the store does by itself on AWS and the runtime does locally (TTL sweeps, pruning).
    housekeeping: list[tuple[Schedule, Callable[[], Awaitable[Any]]]] = field(default_factory=list)
    # Stream subscriptions of the storage itself (the AWS outbox relay): subscription, handler,
    # where a record goes after its attempts.
    internal_streams: list[tuple[OnChange, Callable[[ChangeRecord], Awaitable[None]], Queue]] = field(
        default_factory=list
    )
    collaborators: dict[str, Any] = field(default_factory=dict)  # downstream clients, keys
    unavailable: dict[str, str] = field(default_factory=dict)  # collaborator -> how to provide it
    transports: list[Transport] = field(default_factory=list)
    closers: list[Callable[[], None]] = field(default_factory=list)  # in-process emulators' state
    admin_keys: list[str] = field(default_factory=list)
    generated_admin_key: str | None = None  # set when the local profile made one up: print it
    producer_keys: dict[str, str] = field(default_factory=dict)  # x-api-key -> producer name
    generated_producer_key: str | None = None  # the local profile's "local" producer, to print
    metrics: Metrics = field(default_factory=Metrics)

    def dependencies(self) -> dict[str, Any]:
        """What a handler may ask for, by parameter name."""
        provided: dict[str, Any] = {
            "clock": self.clock,
            "settings": self.settings,
            "objects": self.objects,
            "metrics": self.metrics,
            "leases": self.coordination,
            "export_targets": UrlExportTargets(self.settings.export_out, self.settings.export_destinations),
        }
        provided.update({python_name(name): table for name, table in self.tables.items()})
        provided.update({python_name(name): queue for name, queue in self.queues.items()})
        provided.update(self.collaborators)
        return provided

    def inject(self, handler: Callable[..., Any], *, leading: int = 0) -> Callable[..., Any]:
        """Bind every parameter of ``handler`` after the first ``leading`` ones (the message, the
        change record) to the collaborator of the same name."""
        provided = self.dependencies()
        parameters = list(inspect.signature(handler).parameters.values())[leading:]
        missing = [p.name for p in parameters if p.name not in provided and p.default is p.empty]
        if missing:
            hints = "".join(
                f" ({name}: {self.unavailable[name]})" for name in missing if name in self.unavailable
            )
            raise ConfigurationError(
                f"{handler.__module__}.{handler.__qualname__} needs {', '.join(missing)}, "
                f"which this process does not provide{hints}"
            )
        return functools.partial(
            handler, **{p.name: provided[p.name] for p in parameters if p.name in provided}
        )

    def watch_queue(self, name: str) -> asyncio.Event:
        """Set when this process commits a message to ``name`` (consumers also poll, for others;
        on AWS they only poll, SQS long-polling does the waiting)."""
        return self.database.watch(queue_topic(name)) if self.database else asyncio.Event()

    def watch_stream(self) -> asyncio.Event:
        return self.database.watch(STREAM_TOPIC) if self.database else asyncio.Event()

    def open(self) -> Container:
        if self.database is not None:
            self.database.open()
        return self

    def close(self) -> None:
        for close in self.closers:
            close()
        if self.database is not None:
            self.database.close()

    async def aclose(self) -> None:
        """Close the downstream connections too (``close`` alone leaves them to the process end)."""
        for transport in self.transports:
            await transport.aclose()
        self.close()

    def dead_letter_queue(self, name: str) -> Queue:
        """The DLQ named, or the DLQ of the queue named; ``LookupError`` says why there is none."""
        try:
            definition = self.topology.queue(name)
        except KeyError:
            raise LookupError(f"no queue named {name}") from None
        dlq_name = definition.dlq_name or name
        if dlq_name not in self.dead_letter_queue_names():
            raise LookupError(f"{name} has no dead-letter queue")
        return self.queues[dlq_name]

    def dead_letter_queue_names(self) -> set[str]:
        return {q.dlq_name for q in self.topology.all_queues() if q.dlq_name}

    async def queue_summaries(self) -> list[QueueSummary]:
        """Every queue that is not itself a DLQ, with its depth and how many dead letters it has."""
        summaries = []
        for q in self.topology.all_queues():
            if q.name in self.dead_letter_queue_names():
                continue
            depth = await self.queues[q.name].depth()
            dead = (await self.queues[q.dlq_name].depth()).total if q.dlq_name else None
            summaries.append(QueueSummary(q.name, depth, dead))
        return summaries

    async def refresh_metrics(self) -> None:
        """Read queue depths and stream lags into the gauges (called before each scrape)."""
        dlqs = self.dead_letter_queue_names()
        for name, queue in self.queues.items():
            depth = await queue.depth()
            if name in dlqs:
                self.metrics.dlq_messages.labels(name).set(depth.total)
            for state in ("visible", "in_flight", "delayed"):
                self.metrics.queue_messages.labels(name, state).set(getattr(depth, state))
        for subscription in self.topology.streams:
            lag = await self.stream.lag(subscription.name, tables=[subscription.table])
            self.metrics.stream_lag.labels(subscription.name).set(lag)


def bootstrap(
    settings: Settings | None = None, *, clock: Clock | None = None, topology: Topology | None = None
) -> Container:
    """Build (not open) the container of the configured profile."""
    settings = settings or load_settings()
    topology = topology or load_topology(settings.topology)
    clock = clock or SystemClock()
    metrics = Metrics()
    downstream = downstream_clients(settings, metrics)
    admin_keys = [key.get_secret_value() for key in settings.admin_api_keys]
    # Only the local profile gets here without keys (the aws profile requires them).
    generated = None if admin_keys else secrets.token_urlsafe(24)
    if generated:
        admin_keys = [generated]
    producer_keys = settings.producer_keys_by_name
    generated_producer = None if producer_keys else secrets.token_urlsafe(24)
    if generated_producer:
        producer_keys = {generated_producer: "local"}
    storage = _aws_storage(settings, topology, clock) if settings.profile == "aws" else None
    database = None if storage else Database(settings.database, synchronous=settings.sqlite_synchronous)
    if storage is not None:
        parts: dict[str, Any] = {
            "tables": storage.tables,
            "queues": storage.queues,
            "stream": storage.stream,
            "coordination": storage.coordination,
            "objects": storage.objects,
            "internal_streams": [storage.relay] if storage.relay else [],
        }
    else:
        assert database is not None
        tables = {t.name: SqliteTable(database, t, clock) for t in topology.tables}
        stream = SqliteChangeStream(database, clock)
        parts = {
            "tables": dict(tables),
            "queues": {q.name: SqliteQueue(database, q, clock) for q in topology.all_queues()},
            "stream": stream,
            "coordination": SqliteCoordination(database, clock),
            "objects": DirectoryObjectStore(settings.object_store_dir),
            "database": database,
            "housekeeping": [
                (Every(settings.ttl_sweep_seconds, sweep_expired_rows), partial(sweep_expired_rows, tables)),
                (
                    Every(3600, prune_change_stream),
                    partial(prune_change_stream, stream, [s.name for s in topology.streams]),
                ),
            ],
        }
    return Container(
        **parts,
        producer_keys=producer_keys,
        generated_producer_key=generated_producer,
        collaborators={"identity_key": identity_key(settings), **downstream.clients},
        unavailable=downstream.unavailable,
        transports=downstream.transports,
        closers=downstream.closers,
        metrics=metrics,
        admin_keys=admin_keys,
        generated_admin_key=generated,
        settings=settings,
        topology=topology,
        clock=clock,
    )


def _aws_storage(settings: Settings, topology: Topology, clock: Clock) -> Any:
    # Imported here: the local profile runs without boto3 installed.
    from supporterflow.bootstrap.aws import aws_storage

    return aws_storage(settings, topology, clock)


async def sweep_expired_rows(tables: dict[str, SqliteTable]) -> int:
    """Delete rows whose TTL has passed, as principal ``ttl`` (what DynamoDB TTL does on AWS)."""
    removed = 0
    for table in tables.values():
        while (count := await table.sweep_expired()) > 0:
            removed += count
    if removed:
        log.info("expired rows deleted", rows=removed)
    return removed


async def prune_change_stream(stream: SqliteChangeStream, subscribers: list[str]) -> int:
    """Drop change records that every subscriber has seen and that are older than a day."""
    return await stream.prune(subscribers, retention=_CHANGE_RETENTION)
