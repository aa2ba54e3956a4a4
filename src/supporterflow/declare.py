"""The vocabulary ``topology.py`` is written in: tables, queues, consumers, stream subscriptions and
schedules as plain data.

The local runtime and the AWS template generator both read these declarations; nothing else wires a
consumer to a queue. Handlers are referenced directly so that a reader can jump from the topology to
the flow; their collaborators are injected by parameter name (see ``bootstrap.inject``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from croniter import croniter

from supporterflow.ports import ChangeEvent

Handler = Callable[..., Any]

_NAME = re.compile(r"^[a-z][a-z0-9-]*[a-z0-9]$")


def python_name(name: str) -> str:
    """The name a handler parameter uses for a resource: ``apple-subscriptions-to-fetch`` ->
    ``apple_subscriptions_to_fetch``."""
    return name.replace("-", "_")


@dataclass(frozen=True)
class Index:
    """A secondary index. ``projection``: the non-key attributes it carries (DynamoDB's
    ``INCLUDE``); ``None`` carries them all (``ALL``). On DynamoDB a query on an ``INCLUDE`` index
    returns only those attributes and the keys, so no flow queries one (the only one is the
    original's, kept for adoption)."""

    hash_key: str
    sort_key: str | None = None
    projection: tuple[str, ...] | None = None


@dataclass(frozen=True)
class TableDef:
    """A logical table, keyed as in DynamoDB. ``stream`` turns on change records (old and new
    images) for it; ``ttl_attribute`` names the epoch-seconds attribute after which a row expires."""

    name: str
    hash_key: str
    sort_key: str | None = None
    indexes: dict[str, Index] = field(default_factory=dict)
    ttl_attribute: str | None = None
    stream: bool = False
    # On AWS: the original's table name when it is not ``<app>-<stage>-<name>`` (``{app}`` and
    # ``{stage}`` are filled in), so that an existing deployment's tables are used as they are.
    physical: str | None = None
    # Attributes the original's data-mapper declares as strings (spec §1.2): ``''`` is written to
    # DynamoDB as NULL and read back as ``''``. Anywhere else (top-level "Any" attributes, inside
    # maps and lists) ``''`` is written as NULL too and read back as null.
    strings: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        _check_name("table", self.name)

    def physical_name(self, app: str, stage: str) -> str:
        return physical_name(self.name, self.physical, app, stage)


@dataclass(frozen=True)
class QueueDef:
    """An SQS-shaped queue. With ``dlq`` a message received ``max_receives`` times without being
    acknowledged moves to ``<name>-dlq``."""

    name: str
    visibility_s: int = 30
    max_receives: int = 5
    dlq: bool = True
    # On AWS: the original's queue name when it is not ``<app>-<stage>-<name>`` (``{app}`` and
    # ``{stage}`` are filled in), and the same for its DLQ.
    physical: str | None = None
    dlq_physical: str | None = None
    # A queue of another account (the membership and comms accounts' queues): on AWS its URL is
    # configured, never created here; locally it is an ordinary queue that nothing consumes.
    external: bool = False

    def __post_init__(self) -> None:
        _check_name("queue", self.name)
        if self.visibility_s <= 0 or self.max_receives <= 0:
            raise ValueError(f"queue {self.name}: visibility_s and max_receives must be positive")

    @property
    def dlq_name(self) -> str | None:
        return f"{self.name}-dlq" if self.dlq else None

    def physical_name(self, app: str, stage: str) -> str:
        return physical_name(self.name, self.physical, app, stage)


@dataclass(frozen=True)
class Consumer:
    """Run ``handler(body, **collaborators)`` for each message of ``queue``.

    ``concurrency`` messages are handled at once per process (the work waits on store APIs, not
    on the CPU); ``batch_size`` is how many are received per poll. Back-off after a failure is
    exponential with full jitter between ``backoff_base_s`` and ``backoff_max_s``."""

    queue: str
    handler: Handler
    concurrency: int = 8
    batch_size: int = 10
    backoff_base_s: float = 1.0
    backoff_max_s: float = 300.0

    @property
    def name(self) -> str:
        return f"{self.queue}:{self.handler.__name__}"


@dataclass(frozen=True)
class OnChange:
    """Run ``handler(record, **collaborators)`` for each change of ``table`` whose event is in
    ``events``, one record at a time in commit order.

    After ``max_attempts`` failures in a row the record is sent to the queue ``<name>-retry`` and the
    subscriber moves on, so one poisonous record cannot stall the stream. That queue is consumed
    with the same handler like any other queue: back-off, then its DLQ, replayable by operators.
    A retried record is therefore handled out of order, as with DynamoDB Streams' on-failure
    destinations."""

    table: str
    events: frozenset[ChangeEvent]
    handler: Handler
    batch_size: int = 100
    max_attempts: int = 5
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0

    @property
    def name(self) -> str:
        return f"{self.table}-{python_name(self.handler.__name__).replace('_', '-')}"

    @property
    def retry_queue(self) -> QueueDef:
        return QueueDef(f"{self.name}-retry", visibility_s=60, max_receives=5, dlq=True)


@dataclass(frozen=True)
class Every:
    """Run ``handler(**collaborators)`` every ``seconds``."""

    seconds: float
    handler: Handler

    @property
    def name(self) -> str:
        return self.handler.__name__


@dataclass(frozen=True)
class Cron:
    """Run ``handler(**collaborators)`` on a five-field cron expression, in UTC."""

    expression: str
    handler: Handler

    def __post_init__(self) -> None:
        if not croniter.is_valid(self.expression):
            raise ValueError(f"not a cron expression: {self.expression!r}")

    @property
    def name(self) -> str:
        return self.handler.__name__


Schedule = Every | Cron


@dataclass(frozen=True)
class Topology:
    tables: tuple[TableDef, ...] = ()
    queues: tuple[QueueDef, ...] = ()
    consumers: tuple[Consumer, ...] = ()
    streams: tuple[OnChange, ...] = ()
    schedules: tuple[Schedule, ...] = ()

    def __post_init__(self) -> None:
        queues = {q.name for q in self.queues}
        _unique("table", [t.name for t in self.tables])
        _unique("schedule", [s.name for s in self.schedules])
        # Before the queues: each subscription has a retry queue named after it.
        _unique("stream subscription", [s.name for s in self.streams])
        _unique("queue", [q.name for q in self.all_queues()])
        for consumer in self.consumers:
            if consumer.queue not in queues:
                raise ValueError(f"consumer {consumer.name}: no queue named {consumer.queue}")
        for subscription in self.streams:
            table = next((t for t in self.tables if t.name == subscription.table), None)
            if table is None or not table.stream:
                raise ValueError(f"{subscription.name}: table {subscription.table} has no stream")

    def all_queues(self) -> list[QueueDef]:
        """Declared queues, each stream subscription's retry queue, and their DLQs."""
        queues: list[QueueDef] = []
        for q in [*self.queues, *(s.retry_queue for s in self.streams)]:
            queues.append(q)
            if q.dlq_name:
                queues.append(
                    QueueDef(q.dlq_name, visibility_s=q.visibility_s, dlq=False, physical=q.dlq_physical)
                )
        return queues

    def queue(self, name: str) -> QueueDef:
        for q in self.all_queues():
            if q.name == name:
                return q
        raise KeyError(f"no queue named {name}")


def physical_name(name: str, physical: str | None, app: str, stage: str) -> str:
    """The AWS name of a table or queue: ``<app>-<stage>-<name>`` as the original names most of
    them, or its own pattern."""
    return (physical or "{app}-{stage}-" + name).format(app=app, stage=stage)


def _check_name(kind: str, name: str) -> None:
    if not _NAME.match(name):
        raise ValueError(f"{kind} name {name!r}: use lower-case letters, digits and dashes")


def _unique(kind: str, names: list[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValueError(f"two {kind}s are named {name}")
        seen.add(name)
