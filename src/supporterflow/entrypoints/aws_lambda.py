"""The AWS Lambda entry points: one per kind of function of the template
(``deploy/cloudformation.py``), each dispatching on ``SF_FUNCTION``.

- ``http``: the HTTP app behind Mangum (an HTTP API v2 event in, its response out);
- ``consumer``: an SQS batch for a ``Consumer`` (``SF_FUNCTION`` = ``Consumer.name``) or for a
  stream subscription's retry queue (``<retry queue>:<handler>``, the local runtime's name);
- ``stream``: a DynamoDB Streams batch for an ``OnChange`` (``SF_FUNCTION`` = its name). The template
  also triggers this function with the subscription's retry queue: an SQS batch handed to it is
  consumed as by the retry-queue consumer;
- ``schedule``: one run of a schedule (``SF_FUNCTION`` = ``Schedule.name``);
- ``outbox_relay``: the outbox table's stream -> SQS (``adapters/aws/outbox.py``).

The outcome of each message and record is decided exactly as in the local runtime
(``runtime.workers.handle_message``, ``runtime.dispatcher.deliver_record``): the handler settles
ok / ignored / dead-lettered messages on the queue itself, and reports as batch item failures only
what must come back (a message to retry, whose visibility it has set to the back-off; a stream
record whose delivery failed unexpectedly, with every record after it).

State per execution environment: the settings are read once (``SF_SSM_PREFIX``: the SSM
parameters under it fill the ``SF_*`` variables that are not set, see ``load_ssm_parameters``), the
container is built and opened at the first invocation that needs one, and one asyncio event loop
runs every invocation (Lambda handlers are synchronous), so the container's connections and the
change stream's state outlive an invocation. ``reset`` drops all of it (tests).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
from collections.abc import Awaitable, Callable, Coroutine, Mapping, MutableMapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

import structlog

from supporterflow.adapters.aws.lambda_events import batch_response, change_records, sqs_messages
from supporterflow.adapters.aws.outbox import relay
from supporterflow.bootstrap import Container, bootstrap
from supporterflow.config import ConfigurationError, Settings, load_settings
from supporterflow.declare import Consumer, OnChange, QueueDef, Schedule, TableDef
from supporterflow.logs import configure_logging, correlation
from supporterflow.ports import ChangeRecord, GiveUp, Queue
from supporterflow.runtime.dispatcher import decode_record, deliver_record
from supporterflow.runtime.workers import MessageHandler, handle_message

__all__ = [
    "FUNCTION_VARIABLE",
    "SSM_PREFIX_VARIABLE",
    "adopt",
    "consumer",
    "http",
    "load_ssm_parameters",
    "outbox_relay",
    "reset",
    "schedule",
    "stream",
]

log = structlog.get_logger(__name__)

FUNCTION_VARIABLE = "SF_FUNCTION"
SSM_PREFIX_VARIABLE = "SF_SSM_PREFIX"
OUTBOX_RELAY = "outbox-relay"

T = TypeVar("T")
Event = Mapping[str, Any]
BatchResponse = dict[str, list[dict[str, str]]]


# --- settings from SSM -------------------------------------------------------------------------


def ssm_variable(parameter_name: str) -> str:
    """``/mobile-purchases/CODE/identity-hash-key`` -> ``SF_IDENTITY_HASH_KEY``."""
    return "SF_" + parameter_name.rstrip("/").rsplit("/", 1)[-1].upper().replace("-", "_")


def load_ssm_parameters(
    prefix: str, *, client: Any = None, environ: MutableMapping[str, str] | None = None
) -> list[str]:
    """Set ``SF_<NAME>`` in ``environ`` (``os.environ``) for every SSM parameter under ``prefix``
    (recursively, SecureStrings decrypted), ``<NAME>`` being the last segment of the parameter's
    name upper-cased with ``-`` -> ``_``. A variable already set wins (a function's own
    environment overrides the shared parameters). Returns the variables set."""
    environ = os.environ if environ is None else environ
    if client is None:
        client = _ssm_client(environ)
    path = prefix.rstrip("/") or "/"
    found: dict[str, str] = {}
    for page in client.get_paginator("get_parameters_by_path").paginate(
        Path=path, Recursive=True, WithDecryption=True
    ):
        for parameter in page.get("Parameters", []):
            found.setdefault(ssm_variable(parameter["Name"]), parameter["Value"])
    added = sorted(name for name in found if name not in environ)
    for name in added:
        environ[name] = found[name]
    return added


def _ssm_client(environ: Mapping[str, str]) -> Any:
    import boto3  # type: ignore[import-untyped]  # the aws extra

    endpoint = environ.get("SF_AWS_ENDPOINT_URL")
    region = environ.get("SF_AWS_REGION") or environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION")
    return boto3.session.Session(region_name=region).client(
        "ssm", **({"endpoint_url": endpoint} if endpoint else {})
    )


# --- the execution environment -----------------------------------------------------------------


@dataclass
class _Environment:
    loop: asyncio.AbstractEventLoop | None = None
    settings: Settings | None = None
    container: Container | None = None
    sqs: Any = None  # the outbox relay's client
    app: Any = None  # the Mangum handler
    targets: dict[tuple[str, str], Any] = field(default_factory=dict)  # (kind, name) -> bound target
    owned: bool = True  # the container was built here (not handed over by ``adopt``): close it


_ENV = _Environment()


def _loop() -> asyncio.AbstractEventLoop:
    if _ENV.loop is None or _ENV.loop.is_closed():
        _ENV.loop = asyncio.new_event_loop()
    # Mangum runs the app on the current event loop: make it ours.
    asyncio.set_event_loop(_ENV.loop)
    return _ENV.loop


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    return _loop().run_until_complete(coroutine)


def _settings() -> Settings:
    if _ENV.settings is None:
        prefix = os.environ.get(SSM_PREFIX_VARIABLE)
        if prefix:
            load_ssm_parameters(prefix)
        settings = load_settings()
        configure_logging(settings.log_level, settings.log_format)
        _ENV.settings = settings
    return _ENV.settings


def _container() -> Container:
    if _ENV.container is None:
        container = bootstrap(_settings())
        _ENV.container = container.open()
        log.info(
            "lambda environment started",
            function=os.environ.get(FUNCTION_VARIABLE),
            storage=f"{container.settings.profile} {container.settings.app}-{container.settings.stage}",
        )
    return _ENV.container


def adopt(container: Container) -> None:
    """Use ``container`` (opened, its collaborators in place) and its settings as this execution
    environment's, instead of building one at the first invocation: how the scenario suites run
    the handlers on a container of their own (a frozen clock, emulators they look into). The
    caller keeps it: ``reset`` does not close it."""
    reset()
    _ENV.settings = container.settings
    _ENV.container = container
    _ENV.owned = False


def reset() -> None:
    """Close the container (unless adopted) and the loop and forget the settings: the next
    invocation starts as a cold one (tests; Lambda simply discards the environment)."""
    global _ENV
    container, loop = (_ENV.container if _ENV.owned else None), _ENV.loop
    if container is not None and loop is not None and not loop.is_closed():
        loop.run_until_complete(container.aclose())
    elif container is not None:
        container.close()
    if loop is not None and not loop.is_closed():
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
    asyncio.set_event_loop(None)
    _ENV = _Environment()


def _function_name(kind: str, known: list[str]) -> str:
    name = os.environ.get(FUNCTION_VARIABLE)
    if not name:
        raise ConfigurationError(
            f"{FUNCTION_VARIABLE} is not set: the {kind} handler runs one of {', '.join(known) or 'none'}"
        )
    if name not in known:
        raise ConfigurationError(
            f"{FUNCTION_VARIABLE}={name} names no {kind}; the {kind}s are {', '.join(known) or 'none'}"
        )
    return name


def _target(kind: str, build: Callable[[Container], dict[str, Callable[[], T]]]) -> T:
    """The bound target ``SF_FUNCTION`` names among those ``build`` offers (bound once)."""
    container = _container()
    offered = build(container)
    name = _function_name(kind, list(offered))
    key = (kind, name)
    if key not in _ENV.targets:
        _ENV.targets[key] = offered[name]()
    target: T = _ENV.targets[key]
    return target


# --- http --------------------------------------------------------------------------------------


def http(event: Event, context: Any) -> dict[str, Any]:
    """An API Gateway (HTTP API v2 or REST) event through the HTTP app."""
    if _ENV.app is None:
        from mangum import Mangum

        from supporterflow.entrypoints.http import create_app

        _ENV.app = Mangum(create_app(_container()), lifespan="off")
    _loop()
    response: dict[str, Any] = _ENV.app(event, context)
    return response


# --- consumers ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _QueueConsumer:
    name: str
    queue: Queue
    definition: QueueDef
    handler: MessageHandler
    backoff_base_s: float
    backoff_max_s: float


def _with_record(handler: Callable[[ChangeRecord], Awaitable[object]]) -> MessageHandler:
    """A stream handler as a queue handler, for the subscription's retry queue."""

    async def handle(body: bytes) -> object:
        return await handler(_retried_record(body))

    return handle


def _retried_record(body: bytes) -> ChangeRecord:
    """A record the stream handler sent to the retry queue. What the event source mapping sends
    there itself, when an invocation failed on every attempt (the stream handler could not even
    reach the retry queue), is the batch's position in the stream, not its records: it goes to
    the DLQ at once with that position, for an operator (the records stay readable in the stream
    for 24 hours), instead of failing as unreadable until its receives run out."""
    try:
        document = json.loads(body)
    except ValueError:
        raise GiveUp("not a change record: the body is not JSON") from None
    batch = document.get("DDBStreamBatchInfo") if isinstance(document, dict) else None
    if batch is not None:
        raise GiveUp(
            "a stream batch the event source mapping gave up on: shard "
            f"{batch.get('shardId')}, sequence numbers {batch.get('startSequenceNumber')}.."
            f"{batch.get('endSequenceNumber')} of {batch.get('streamArn')}"
        )
    try:
        return decode_record(body)
    except (KeyError, TypeError, ValueError) as error:
        raise GiveUp(f"not a change record: {error!r}") from None


def _retry_consumer_name(subscription: OnChange) -> str:
    return f"{subscription.retry_queue.name}:{subscription.handler.__name__}"


def _retry_consumer(container: Container, subscription: OnChange) -> _QueueConsumer:
    retry = subscription.retry_queue
    return _QueueConsumer(
        name=_retry_consumer_name(subscription),
        queue=container.queues[retry.name],
        definition=retry,
        handler=_with_record(container.inject(subscription.handler, leading=1)),
        backoff_base_s=subscription.backoff_base_s,
        backoff_max_s=subscription.backoff_max_s,
    )


def _consumers(container: Container) -> dict[str, Callable[[], _QueueConsumer]]:
    def declared(c: Consumer) -> _QueueConsumer:
        return _QueueConsumer(
            name=c.name,
            queue=container.queues[c.queue],
            definition=container.topology.queue(c.queue),
            handler=container.inject(c.handler, leading=1),
            backoff_base_s=c.backoff_base_s,
            backoff_max_s=c.backoff_max_s,
        )

    offered: dict[str, Callable[[], _QueueConsumer]] = {
        c.name: partial(declared, c) for c in container.topology.consumers
    }
    for s in container.topology.streams:
        offered[_retry_consumer_name(s)] = partial(_retry_consumer, container, s)
    return offered


async def _consume(event: Event, target: _QueueConsumer, container: Container) -> BatchResponse:
    messages = sqs_messages(event)
    outcomes = await asyncio.gather(
        *(
            handle_message(
                message,
                consumer=target.name,
                queue=target.queue,
                definition=target.definition,
                handler=target.handler,
                metrics=container.metrics,
                backoff_base_s=target.backoff_base_s,
                backoff_max_s=target.backoff_max_s,
            )
            for message in messages
        ),
        return_exceptions=True,
    )
    failed: list[str] = []
    for message, outcome in zip(messages, outcomes, strict=True):
        if isinstance(outcome, BaseException):
            # Settling the message failed (the delete, the DLQ send): it comes back by itself.
            log.error(
                "message not settled",
                consumer=target.name,
                message_id=message.message_id,
                correlation_id=message.correlation_id,
                error=repr(outcome),
            )
            failed.append(message.message_id)
        elif outcome == "retry":
            failed.append(message.message_id)
    return batch_response(failed)


def consumer(event: Event, context: Any) -> BatchResponse:
    """An SQS batch: each message's outcome as in the local runtime; the messages to retry (their
    visibility set to the back-off) are the batch item failures."""
    target = _target("consumer", _consumers)
    return _run(_consume(event, target, _container()))


# --- streams -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Subscription:
    subscription: OnChange
    handler: Callable[[ChangeRecord], Awaitable[object]]
    retry_queue: Queue
    tables: dict[str, TableDef]  # physical name -> declaration
    retry_consumer: _QueueConsumer


def _subscriptions(container: Container) -> dict[str, Callable[[], _Subscription]]:
    settings = container.settings
    tables = {t.physical_name(settings.app, settings.stage): t for t in container.topology.tables}

    def bound(subscription: OnChange) -> _Subscription:
        return _Subscription(
            subscription=subscription,
            handler=container.inject(subscription.handler, leading=1),
            retry_queue=container.queues[subscription.retry_queue.name],
            tables=tables,
            retry_consumer=_retry_consumer(container, subscription),
        )

    return {s.name: partial(bound, s) for s in container.topology.streams}


async def _deliver(event: Event, target: _Subscription, container: Container) -> BatchResponse:
    raw = list(event.get("Records", []))
    records = change_records(event, target.tables)
    s = target.subscription
    for index, record in enumerate(records):
        if record.event_name not in s.events:
            continue
        try:
            await deliver_record(
                record,
                subscription=s,
                handler=target.handler,
                retry_queue=target.retry_queue,
                metrics=container.metrics,
            )
        except Exception as error:
            # Not even the retry queue took it: this record and every later one are retried by
            # the event source mapping (in order), from this one.
            log.error(
                "change record not delivered: the batch is retried from it",
                subscriber=s.name,
                sequence=record.sequence,
                error=repr(error),
            )
            return batch_response(str(r["dynamodb"]["SequenceNumber"]) for r in raw[index:])
    return batch_response([])


def _is_sqs(event: Event) -> bool:
    records = event.get("Records") or []
    return bool(records) and records[0].get("eventSource") == "aws:sqs"


def stream(event: Event, context: Any) -> BatchResponse:
    """A DynamoDB Streams batch of the subscription's table, in order: each record delivered as by
    the local dispatcher (attempts with back-off, then the retry queue). An SQS batch (the template
    also triggers this function with the subscription's retry queue) is consumed as by the
    retry-queue consumer."""
    target = _target("stream subscription", _subscriptions)
    container = _container()
    if _is_sqs(event):
        return _run(_consume(event, target.retry_consumer, container))
    return _run(_deliver(event, target, container))


# --- schedules ---------------------------------------------------------------------------------


def _schedules(container: Container) -> dict[str, Callable[[], tuple[Schedule, Callable[[], Any]]]]:
    def bound(schedule: Schedule) -> tuple[Schedule, Callable[[], Any]]:
        return schedule, container.inject(schedule.handler)

    return {s.name: partial(bound, s) for s in container.topology.schedules}


def _json_safe(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    return json.loads(json.dumps(value, default=str))


def schedule(event: Event, context: Any) -> dict[str, Any]:
    """One run of the schedule (EventBridge calls at its times); a failure fails the invocation."""
    scheduled, run = _target("schedule", _schedules)
    with correlation(None):  # the run's task copies this context: its lines and messages carry it
        result = _run(run())
        log.info("scheduled run finished", schedule=scheduled.name)
    return {"schedule": scheduled.name, "result": _json_safe(result)}


# --- the outbox relay --------------------------------------------------------------------------


def _sqs_client() -> Any:
    """The relay needs no container: a boto3 SQS client of the settings' region and endpoint."""
    if _ENV.sqs is None:
        import boto3

        settings = _settings()
        endpoint = {"endpoint_url": settings.aws_endpoint_url} if settings.aws_endpoint_url else {}
        _ENV.sqs = boto3.session.Session(region_name=settings.aws_region).client("sqs", **endpoint)
    return _ENV.sqs


def outbox_relay(event: Event, context: Any) -> BatchResponse:
    """The outbox table's stream batch -> SQS; the records not sent are the batch item failures."""
    client = _sqs_client()
    return batch_response(_run(relay(list(event.get("Records", [])), client)))
