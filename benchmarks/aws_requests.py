"""AWS requests per unit of work of the ``aws`` profile, against a moto server.

Why: on AWS the bill is mostly per request (DynamoDB request units, SQS requests, S3 requests,
Lambda invocations). This counts, by service and operation, what the aws profile asks of AWS for
one Apple V1 notification, one Google RTDN, one link and one supporter event, and compares it with
what the original spent on the same work (spec/mobile-purchases.md §5, §6, §8).

How: a ``ThreadedMotoServer`` on loopback, provisioned from the CloudFormation template
(``tests/aws/test_aws_runtime.py``'s ``provisioned``), an aws-profile container with the
in-process store and service emulators (``SF_EMULATORS=on``), its HTTP app in process
(``httpx.ASGITransport``) and ``Runtime(container, http=False)`` running consumers, stream
dispatchers (the outbox relay among them) and schedules. Every boto3 client the container creates
gets two botocore event handlers (``before-parameter-build`` keeps the parameters,
``after-call`` records the call): ``boto3.session.Session.client`` is wrapped while the container
is built. Completion is checked with clients of the benchmark's own, which are not counted.

Each call is classified:

- **work**: a DynamoDB call on the service's tables (and the outbox), an SQS call other than an
  empty ``ReceiveMessage`` or ``GetQueueAttributes``, any S3 call;
- **polling**: what the runtime does for itself and Lambda's event source mappings do unbilled
  on AWS: every DynamoDB Streams call, ``DescribeTable``, the leases and stream-checkpoints
  tables, empty ``ReceiveMessage`` (billed on AWS, but per queue and per second, not per unit).

After one warm-up unit of each flow, the idle runtime is watched for a few seconds (polling per
second), then each flow runs N times, one unit at a time: the request, then the runtime until the
unit's end state is reached (rows, queue depths read with the benchmark's clients) and no work
call came for ``QUIET_S``. Calls made while the request was being answered are the **request**
phase, the others **async**. The runtime is not nudged: it finds the work by its own polling, as
``serve --profile aws`` does. Polling depends on time, not on units: the idle figure (per second)
is the one to read; polling during the flows is shown per unit for completeness.

Write and read units are **estimates**: item sizes are computed from the marshalled attributes
(names + values, DynamoDB's rules approximated), transactional writes count 2 WRU per item and KB,
an ``UpdateItem``/``DeleteItem``/``ConditionCheck`` whose item is not in the request counts as
1 KB, and GSI writes are not included.

    python -m benchmarks.aws_requests [--units N] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import os
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]
import httpx
from moto.server import ThreadedMotoServer
from pydantic import SecretStr
from tests.aws.conftest import REGION
from tests.aws.test_aws_runtime import ACCOUNT, DONATIONS, aws_settings, provisioned
from tests.integration.test_link import TOKEN, FakeTokens

from supporterflow.adapters.aws.leases import leases_table_name
from supporterflow.adapters.aws.streams import checkpoints_table_name
from supporterflow.bootstrap import (
    LOCAL_PUSH_AUDIENCE,
    Container,
    apple_emulator_directory,
    bootstrap,
    google_emulator_directory,
)
from supporterflow.emulators.apple.certificates import CertificateChain
from supporterflow.emulators.apple.sender import notification_body as apple_body
from supporterflow.emulators.apple.signing import AppStoreSigner
from supporterflow.emulators.apple.store import AppleStoreState
from supporterflow.emulators.google.push import PushSigner
from supporterflow.emulators.google.sender import notification_body as google_body
from supporterflow.emulators.google.store import GooglePlayState
from supporterflow.entrypoints.http import create_app
from supporterflow.logs import configure_logging
from supporterflow.runtime.process import Runtime

APP, STAGE = "mobile-purchases", "CODE"
APPLE_SECRET = "bench-apple-pubsub-secret"
APPLE_BUNDLE, APPLE_PRODUCT = "uk.co.guardian.iphone2", "uk.co.guardian.gla.1month"
GOOGLE_PACKAGE, GOOGLE_PRODUCT = "com.guardian", "guardian.month.11.99"
QUIET_S = 0.5  # no work call for this long after the end state: the unit is over
UNIT_TIMEOUT_S = 60.0
IDLE_S = 25.0  # longer than one SQS long poll (20 s)

FLOWS = ("apple", "google", "link", "supporter")

# The original's requests for the same work (spec §5, §6, §8, §4.5-§4.6), by service and operation.
# The SQS ReceiveMessage/DeleteMessage of the consumers are the event source mapping's (billed on
# AWS); the original's functions had BatchSize 1, so one of each per message.
ORIGINAL: dict[str, dict[tuple[str, str], int] | None] = {
    # §5.1: PutItem event + SendMessage {receipt}; §5.5: receive, PutItem subscription, SendMessage
    # historical, delete (one Subscription per receipt here).
    "apple": {
        ("dynamodb", "PutItem"): 2,
        ("sqs", "SendMessage"): 2,
        ("sqs", "ReceiveMessage"): 1,
        ("sqs", "DeleteMessage"): 1,
    },
    # §5.2: the v1 metadata call and the extra each read the S3 token (§4.5: "every Google API call
    # path reads that S3 object afresh"), PutItem event + SendMessage; §5.6: receive, S3 token for
    # the v1 GET and for the extra, PutItem, SendMessage historical, delete.
    "google": {
        ("s3", "GetObject"): 4,
        ("dynamodb", "PutItem"): 2,
        ("sqs", "SendMessage"): 2,
        ("sqs", "ReceiveMessage"): 1,
        ("sqs", "DeleteMessage"): 1,
    },
    # §6.2: BatchWriteItem links, BatchGetItem subscriptions, SendMessageBatch of the unknown one;
    # then §5.5 for that fetch (as apple's consumer half); §8.1: soft-opt-in GetItem of the
    # subscription, then one SendMessage (to the consent setter, or to the SOI DLQ when the fetch
    # has not stored it yet: one request either way); §10.3: the Feast router's GetItem. The SOI
    # DLQ's 30-minute drain (when a link wins the race) is left out on both sides.
    "link": {
        ("dynamodb", "BatchWriteItem"): 1,
        ("dynamodb", "BatchGetItem"): 1,
        ("sqs", "SendMessageBatch"): 1,
        ("sqs", "ReceiveMessage"): 1,
        ("dynamodb", "PutItem"): 1,
        ("sqs", "SendMessage"): 2,
        ("sqs", "DeleteMessage"): 1,
        ("dynamodb", "GetItem"): 2,
    },
    "supporter": None,  # the original supporter event service is not specified
}
ORIGINAL_NOTE = {
    "apple": "spec §5.1 + §5.5",
    "google": "spec §5.2 + §5.6, S3 token reads per §4.5/§4.6",
    "link": "spec §6.2 + §5.5 + §8.1 + §10.3",
    "supporter": "the original supporter event service is unspecified",
}


# --- recording -----------------------------------------------------------------------------------


def _value_size(value: dict[str, Any]) -> int:
    """Approximate DynamoDB size of one attribute value (its name not included)."""
    ((kind, inner),) = value.items()
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        return (len(inner.lstrip("-")) + 1) // 2 + 1
    if kind == "B":
        return len(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(k.encode()) + _value_size(v) + 1 for k, v in inner.items())
    if kind == "L":
        return 3 + sum(_value_size(v) + 1 for v in inner)
    if kind in ("SS", "BS"):
        return sum(len(v if isinstance(v, bytes) else v.encode()) for v in inner)
    if kind == "NS":
        return sum((len(v) + 1) // 2 + 1 for v in inner)
    return 0


def item_size(item: dict[str, Any]) -> int:
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _kb(size: int) -> int:
    return max(1, math.ceil(size / 1024))


def _plain_writes(operation: str, params: dict[str, Any], outbox: str) -> float:
    """Estimated write units of the same rows written without the outbox and without a transaction
    (one ``PutItem``/``UpdateItem`` each, as the original wrote them)."""
    if operation == "TransactWriteItems":
        rows = [e for e in params["TransactItems"] if next(iter(e.values()))["TableName"] != outbox]
        return float(sum(_kb(item_size(e["Put"]["Item"])) if "Put" in e else 1 for e in rows))
    return _units(operation, params, {})[0]


def _units(operation: str, params: dict[str, Any], parsed: dict[str, Any]) -> tuple[float, float]:
    """Estimated (write units, read units) of one DynamoDB call."""
    if operation == "PutItem":
        return _kb(item_size(params["Item"])), 0.0
    if operation in ("UpdateItem", "DeleteItem"):
        return 1.0, 0.0
    if operation == "BatchWriteItem":
        writes = [w for ws in params["RequestItems"].values() for w in ws]
        return sum(_kb(item_size(w["PutRequest"]["Item"])) if "PutRequest" in w else 1 for w in writes), 0.0
    if operation == "TransactWriteItems":
        wru = 0
        for entry in params["TransactItems"]:
            if "Put" in entry:
                wru += 2 * _kb(item_size(entry["Put"]["Item"]))
            else:
                wru += 2
        return float(wru), 0.0
    consistent = 1.0 if params.get("ConsistentRead") else 0.5
    if operation == "GetItem":
        return 0.0, consistent * math.ceil(max(1, item_size(parsed.get("Item", {}))) / 4096)
    if operation == "BatchGetItem":
        items = [i for items in parsed.get("Responses", {}).values() for i in items]
        keys = sum(len(r["Keys"]) for r in params["RequestItems"].values())
        rru = sum(math.ceil(max(1, item_size(i)) / 4096) for i in items) + (keys - len(items))
        consistent = 1.0 if any(r.get("ConsistentRead") for r in params["RequestItems"].values()) else 0.5
        return 0.0, consistent * rru
    if operation in ("Query", "Scan"):
        size = sum(item_size(i) for i in parsed.get("Items", []))
        return 0.0, consistent * max(1, math.ceil(size / 4096))
    return 0.0, 0.0


@dataclass(frozen=True)
class Call:
    service: str
    operation: str
    kind: str  # "work" | "polling"
    phase: str  # "request" | "async" | "idle" | "other"
    target: str  # table or queue
    wru: float
    rru: float
    wru_plain: float


def _tables(params: dict[str, Any]) -> list[str]:
    if "TableName" in params:
        return [params["TableName"]]
    if "RequestItems" in params:
        return list(params["RequestItems"])
    if "TransactItems" in params:
        return [next(iter(entry.values()))["TableName"] for entry in params["TransactItems"]]
    return []


class Recorder:
    """Every call of the clients it is attached to, classified (see the module docstring)."""

    def __init__(self, internal_tables: set[str]) -> None:
        self.calls: list[Call] = []
        self.phase = "other"
        self.last_work = time.monotonic()
        self._internal = internal_tables
        self._lock = threading.Lock()

    def attach(self, client: Any) -> None:
        client.meta.events.register("before-parameter-build.*.*", self._keep_params)
        client.meta.events.register("after-call.*.*", self._record)

    def _keep_params(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["benchmark_params"] = params

    def _record(self, parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        service = str(model.service_model.service_name)
        operation = str(model.name)
        params: dict[str, Any] = context.get("benchmark_params", {})
        target, kind, wru, rru, plain = "", "work", 0.0, 0.0, 0.0
        if service == "dynamodbstreams":
            kind = "polling"
        elif service == "dynamodb":
            tables = _tables(params)
            target = ",".join(sorted({t.removeprefix(f"{APP}-{STAGE}-") for t in tables}))
            if operation == "DescribeTable" or (tables and all(t in self._internal for t in tables)):
                kind = "polling"
            else:
                wru, rru = _units(operation, params, parsed)
                plain = _plain_writes(operation, params, f"{APP}-{STAGE}-outbox")
        elif service == "sqs":
            target = str(params.get("QueueUrl", "")).rsplit("/", 1)[-1].removeprefix(f"{APP}-{STAGE}-")
            if (
                operation == "ReceiveMessage" and not parsed.get("Messages")
            ) or operation == "GetQueueAttributes":
                kind = "polling"
        elif service == "s3":
            target = str(params.get("Key", ""))
        call = Call(service, operation, kind, self.phase, target, wru, rru, plain)
        with self._lock:
            self.calls.append(call)
            if kind == "work":
                self.last_work = time.monotonic()

    def mark(self) -> int:
        with self._lock:
            return len(self.calls)

    def since(self, start: int) -> list[Call]:
        with self._lock:
            return self.calls[start:]


@contextmanager
def recording_clients(recorder: Recorder) -> Iterator[None]:
    """Every boto3 client created meanwhile is recorded (``bootstrap/aws.py`` makes its own session)."""
    original = boto3.session.Session.client

    def client(self: Any, *args: Any, **kwargs: Any) -> Any:
        made = original(self, *args, **kwargs)
        recorder.attach(made)
        return made

    boto3.session.Session.client = client
    try:
        yield
    finally:
        boto3.session.Session.client = original


# --- the service under measurement ----------------------------------------------------------------


@dataclass
class Bench:
    container: Container
    runtime: Runtime
    api: httpx.AsyncClient
    recorder: Recorder
    dynamodb: Any  # the benchmark's own clients: not recorded
    sqs: Any
    urls: dict[str, str]
    apple: AppleStoreState
    apple_signer: AppStoreSigner
    google: GooglePlayState
    push: PushSigner
    counter: int = 0
    expected: Counter[str] = field(default_factory=Counter)

    def table(self, name: str) -> str:
        return f"{APP}-{STAGE}-{name}"

    def queue_total(self, url: str) -> int:
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        attributes = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
        return sum(int(attributes[n]) for n in names)

    def queue(self, name: str) -> int:
        return self.queue_total(self.urls[name])

    def has_row(self, table: str, key: dict[str, str]) -> dict[str, Any] | None:
        item: dict[str, Any] | None = self.dynamodb.get_item(
            TableName=self.table(table), Key={k: {"S": v} for k, v in key.items()}, ConsistentRead=True
        ).get("Item")
        return item


def queue_url(endpoint: str, name: str) -> str:
    return f"{endpoint}/{ACCOUNT}/{name}"


async def run_unit(
    bench: Bench, start: Callable[[], Awaitable[httpx.Response]], done: Callable[[], bool]
) -> None:
    """One unit: the request (phase ``request``), then the runtime until ``done()`` and quiet."""
    bench.recorder.phase = "request"
    response = await start()
    bench.recorder.phase = "async"
    if response.status_code != 200:
        raise RuntimeError(f"the request was answered {response.status_code}: {response.text}")
    deadline = time.monotonic() + UNIT_TIMEOUT_S
    while True:
        await asyncio.sleep(0.02)
        if time.monotonic() > deadline:
            raise RuntimeError("the unit did not complete in time")
        if time.monotonic() - bench.recorder.last_work < QUIET_S:
            continue
        if await asyncio.to_thread(done):
            return


async def apple_unit(bench: Bench) -> None:
    """A V1 notification of a new subscription: event row + fetch, then the fetch consumer."""
    step = bench.apple.subscribe(bundle_id=APPLE_BUNDLE, product_id=APPLE_PRODUCT, environment="Sandbox")
    otid = step.original_transaction_id
    body = apple_body(step, bench.apple, bench.apple_signer, version="v1")
    bench.expected["apple-historical-subscriptions"] += 1
    historical = bench.expected["apple-historical-subscriptions"]

    def done() -> bool:
        return (
            bench.has_row("subscriptions", {"subscriptionId": otid}) is not None
            and bench.queue("apple-subscriptions-to-fetch") == 0
            and bench.queue("apple-historical-subscriptions") >= historical
        )

    await run_unit(
        bench, lambda: bench.api.post("/apple/pubsub", json=body, params={"secret": APPLE_SECRET}), done
    )


async def google_unit(bench: Bench) -> None:
    """An RTDN of a new purchase (push token of the emulator's key): event row + fetch, consumer."""
    step = bench.google.purchase(GOOGLE_PACKAGE, GOOGLE_PRODUCT)
    body = google_body(step, bench.google)
    token = str(step.purchase_token)
    headers = {"Authorization": f"Bearer {bench.push.token(LOCAL_PUSH_AUDIENCE)}"}
    bench.expected["google-historical-subscriptions"] += 1
    historical = bench.expected["google-historical-subscriptions"]

    def done() -> bool:
        return (
            bench.has_row("subscriptions", {"subscriptionId": token}) is not None
            and bench.queue("google-subscriptions-to-fetch") == 0
            and bench.queue("google-historical-subscriptions") >= historical
        )

    await run_unit(bench, lambda: bench.api.post("/google/pubsub", json=body, headers=headers), done)


async def link_unit(bench: Bench) -> None:
    """An ``ios`` link to a purchase not stored yet (the app links right after buying): the link,
    a fetch, the soft opt-in (subscription missing: the SOI DLQ) and the Feast router."""
    step = bench.apple.subscribe(bundle_id=APPLE_BUNDLE, product_id=APPLE_PRODUCT, environment="Sandbox")
    otid = step.original_transaction_id
    body = {
        "platform": "ios",
        "subscriptions": [{"receipt": bench.apple.receipt(otid), "originalTransactionId": otid}],
    }
    bench.expected["apple-historical-subscriptions"] += 1
    bench.expected["soft-opt-in"] += 1
    historical, soi = bench.expected["apple-historical-subscriptions"], bench.expected["soft-opt-in"]

    def done() -> bool:
        sent = bench.queue("soft-opt-in-acquisitions-dlq") + bench.queue_total(bench.urls["consent-setter"])
        return (
            bench.has_row("user-subscriptions", {"userId": "100000001", "subscriptionId": otid}) is not None
            and bench.has_row("subscriptions", {"subscriptionId": otid}) is not None
            and bench.queue("apple-subscriptions-to-fetch") == 0
            and bench.queue("apple-historical-subscriptions") >= historical
            and sent >= soi
        )

    await run_unit(
        bench,
        lambda: bench.api.post(
            "/apple/linkToSubscriptions", content=json.dumps(body), headers={"Authorization": TOKEN}
        ),
        done,
    )


async def supporter_unit(bench: Bench) -> None:
    """A user-service sign-up through ``POST /supporter-events``: row + outbox, consumer, delivered."""
    bench.counter += 1
    signup = {
        "firstName": "Dante",
        "lastName": "Alighieri",
        "identities": [{"kind": "email", "content": f"bench.{bench.counter}@test.sandbox.comicrelief.com"}],
    }
    event_id: list[str] = []

    async def post() -> httpx.Response:
        response = await bench.api.post(
            "/supporter-events", content=json.dumps({"user-service": signup}), headers=DONATIONS
        )
        if response.status_code == 200:
            event_id.append(response.json()["data"]["id"])
        return response

    def done() -> bool:
        row = bench.has_row("supporter-events", {"id": event_id[0]})
        return (
            row is not None
            and row.get("status") == {"S": "delivered"}
            and (bench.queue("supporter-events-to-deliver") == 0)
        )

    await run_unit(bench, post, done)


UNITS: dict[str, Callable[[Bench], Awaitable[None]]] = {
    "apple": apple_unit,
    "google": google_unit,
    "link": link_unit,
    "supporter": supporter_unit,
}


# --- figures -------------------------------------------------------------------------------------


@dataclass
class FlowFigures:
    flow: str
    units: int
    seconds: float
    work: dict[str, float]  # "service operation" -> requests per unit
    by_phase: dict[str, float]  # "request"/"async" -> work requests per unit
    polling: dict[str, float]  # per unit, while the flow ran (inflated by the benchmark's nudges)
    wru: float
    rru: float
    wru_plain: float
    detail: dict[str, float]  # "service operation target (phase)" -> work requests per unit
    original: dict[str, int] | None
    note: str

    @property
    def total(self) -> float:
        return sum(self.work.values())

    @property
    def original_total(self) -> int | None:
        return None if self.original is None else sum(self.original.values())


def per_unit(calls: list[Call], kind: str, units: int) -> dict[str, float]:
    counted = Counter(f"{c.service} {c.operation}" for c in calls if c.kind == kind)
    return {key: counted[key] / units for key in sorted(counted)}


def figures(flow: str, calls: list[Call], units: int, seconds: float) -> FlowFigures:
    work = [c for c in calls if c.kind == "work"]
    phases = Counter(c.phase for c in work)
    original = ORIGINAL[flow]
    return FlowFigures(
        flow=flow,
        units=units,
        seconds=seconds,
        work=per_unit(calls, "work", units),
        by_phase={p: phases[p] / units for p in ("request", "async")},
        polling=per_unit(calls, "polling", units),
        wru=sum(c.wru for c in work) / units,
        rru=sum(c.rru for c in work) / units,
        wru_plain=sum(c.wru_plain for c in work) / units,
        detail={
            k: n / units
            for k, n in sorted(
                Counter(f"{c.service} {c.operation} {c.target} ({c.phase})" for c in work).items()
            )
        },
        original=None if original is None else {f"{s} {o}": n for (s, o), n in sorted(original.items())},
        note=ORIGINAL_NOTE[flow],
    )


def fmt(value: float) -> str:
    return f"{value:g}" if value == int(value) else f"{value:.2f}"


def print_flow(f: FlowFigures) -> None:
    print(f"\n## {f.flow}: {f.units} units in {f.seconds:.1f} s ({f.note})")
    keys = sorted(set(f.work) | set(f.original or {}))
    print(f"{'service operation':<34} {'this/unit':>10} {'original':>9}")
    for key in keys:
        mine = fmt(f.work[key]) if key in f.work else "-"
        theirs = str((f.original or {}).get(key, "-")) if f.original is not None else "n/a"
        print(f"{key:<34} {mine:>10} {theirs:>9}")
    theirs_total = "n/a" if f.original_total is None else str(f.original_total)
    print(f"{'total work':<34} {fmt(f.total):>10} {theirs_total:>9}")
    print(
        f"  work by phase: request {fmt(f.by_phase['request'])}, async {fmt(f.by_phase['async'])}; "
        f"DynamoDB estimate per unit: {fmt(f.wru)} WRU ({fmt(f.wru_plain)} for the same rows as plain "
        f"writes), {fmt(f.rru)} RRU"
    )
    for key, value in f.detail.items():
        print(f"    {key}: {fmt(value)}")
    polling = ", ".join(f"{k} {fmt(v)}" for k, v in f.polling.items()) or "none"
    print(f"  polling while it ran, per unit (time-bound, not per unit of work): {polling}")


def summary_line(f: FlowFigures) -> str:
    if f.original_total is None:
        return (
            f"aws_requests[{f.flow}]: {fmt(f.total)} requests vs original n/a "
            "(the original supporter event service is unspecified: no target)"
        )
    verdict = "met" if f.total <= f.original_total else "missed"
    return (
        f"aws_requests[{f.flow}]: {fmt(f.total)} requests vs original {f.original_total} "
        f"(target <= original: {verdict})"
    )


# --- main ----------------------------------------------------------------------------------------


async def measure(endpoint: str, directory: Path, units: int, wait_s: int) -> dict[str, Any]:
    urls = provisioned(endpoint, STAGE)
    internal = {leases_table_name(APP, STAGE), checkpoints_table_name(APP, STAGE)}
    recorder = Recorder(internal)
    settings = aws_settings(directory, endpoint, STAGE, urls).model_copy(
        update={"apple_pubsub_secret": SecretStr(APPLE_SECRET), "sqs_wait_seconds": wait_s}
    )
    with recording_clients(recorder):
        container = bootstrap(settings)
    container.open()
    container.collaborators["user_tokens"] = FakeTokens()
    own = boto3.session.Session(region_name=REGION)
    all_urls = {q.name: q for q in container.topology.all_queues()}
    queue_urls = {
        name: queue_url(endpoint, q.physical_name(APP, STAGE))
        for name, q in all_urls.items()
        if not q.external
    }
    queue_urls["consent-setter"] = urls["soft-opt-in-consent-setter-queue"]
    apple_dir, google_dir = apple_emulator_directory(settings), google_emulator_directory(settings)
    runtime = Runtime(container, http=False)
    api = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(container)), base_url="http://bench")
    bench = Bench(
        container=container,
        runtime=runtime,
        api=api,
        recorder=recorder,
        dynamodb=own.client("dynamodb", endpoint_url=endpoint),
        sqs=own.client("sqs", endpoint_url=endpoint),
        urls=queue_urls,
        apple=AppleStoreState(apple_dir / "subscriptions.sqlite3"),
        apple_signer=AppStoreSigner(CertificateChain.load(apple_dir)),
        google=GooglePlayState(google_dir / "purchases.sqlite3"),
        push=PushSigner.load_or_create(google_dir),
    )
    task = asyncio.create_task(runtime.run())
    results: dict[str, Any] = {"units": units, "sqs_wait_seconds": wait_s, "flows": {}, "not_measured": {}}
    try:
        for flow in FLOWS:  # warm-up: cold paths (stream lookups, tokens, schedules at start)
            try:
                await UNITS[flow](bench)
            except Exception as error:  # reported, never a made-up figure
                results["not_measured"][flow] = f"warm-up failed: {error!r}"
        await asyncio.sleep(2.0)
        bench.recorder.phase = "idle"
        start, began = recorder.mark(), time.monotonic()
        await asyncio.sleep(IDLE_S)
        idle = recorder.since(start)
        idle_s = time.monotonic() - began
        results["idle_per_s"] = {
            k: v / idle_s for k, v in sorted(Counter(f"{c.service} {c.operation}" for c in idle).items())
        }
        results["idle_work"] = sum(1 for c in idle if c.kind == "work")
        for flow in FLOWS:
            if flow in results["not_measured"]:
                continue
            start, began = recorder.mark(), time.monotonic()
            try:
                for _ in range(units):
                    await UNITS[flow](bench)
            except Exception as error:
                results["not_measured"][flow] = f"failed while measured: {error!r}"
                continue
            results["flows"][flow] = figures(flow, recorder.since(start), units, time.monotonic() - began)
    finally:
        runtime.request_stop()
        await asyncio.wait_for(task, timeout=wait_s + 30)
        await api.aclose()
        bench.apple.close()
        bench.google.store.close()
        await container.aclose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--units", type=int, default=20, help="units of each flow measured (default 20)")
    parser.add_argument(
        "--wait-seconds", type=int, default=20, help="SF_SQS_WAIT_SECONDS, SQS long polling (default 20)"
    )
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    args = parser.parse_args()
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        os.environ[name] = "testing"  # moto's: never a real account
    os.environ["AWS_DEFAULT_REGION"] = REGION
    os.environ.pop("AWS_PROFILE", None)
    os.environ.pop("AWS_ENDPOINT_URL", None)

    configure_logging("warning", "console")  # the service's lines to stderr, warnings and up
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's access log
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    began = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="aws-requests-") as tmp:
            results = asyncio.run(measure(f"http://{host}:{port}", Path(tmp), args.units, args.wait_seconds))
    finally:
        server.stop()

    print(f"# aws_requests: moto server, template-provisioned, {args.units} units per flow after 1 warm-up")
    print(f"# SF_SQS_WAIT_SECONDS={args.wait_seconds}; run took {time.monotonic() - began:.0f} s")
    print("\n## idle runtime: requests per second (all polling; no unit in flight)")
    for key, rate in results["idle_per_s"].items():
        print(f"{key:<40} {rate:8.2f}/s")
    print(f"work calls while idle: {results['idle_work']}")
    flows: dict[str, FlowFigures] = results["flows"]
    for flow in FLOWS:
        if flow in flows:
            print_flow(flows[flow])
    print()
    for flow in FLOWS:
        if flow in flows:
            print(summary_line(flows[flow]))
        else:
            print(f"aws_requests[{flow}]: not measured ({results['not_measured'].get(flow, 'unknown')})")
    if args.json:
        serialisable = {
            **{k: v for k, v in results.items() if k != "flows"},
            "flows": {name: {**f.__dict__, "total": f.total} for name, f in flows.items()},
        }
        args.json.write_text(json.dumps(serialisable, indent=2, default=str))


if __name__ == "__main__":
    main()
