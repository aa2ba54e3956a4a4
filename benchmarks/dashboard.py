"""p99 latency of the operator dashboard's overview and timeline pages, 1,000,000 events stored.

Why: operators open ``/admin`` (the overview: queue depths with trends, the 20 newest store
notifications and supporter events) and follow a search to one subscription's timeline
(``/admin/subscriptions/{ref}``) while the service holds months of notifications. Both pages must
stay quick however many events are stored (issue 10: p99 under 100 ms with 1,000,000 subscription
events).

The database is written before the server starts, straight into SQLite with the adapter's own
schema and row format (``SqliteTable`` creates the tables of the whole topology; rows are inserted
as ``(pk, sk, item JSON, ttl)`` like ``SqliteTable`` stores them, without change records: nothing
subscribes to them here):

* N subscription events (``benchmarks.export``'s rows: half App Store V1 with a 4 kB receipt,
  half Google), one distinct subscription each, their timestamps spread evenly over the
  ``SPREAD_DAYS`` days ending now, so the overview's date-index query (today back 7 days,
  newest first) finds today's and yesterday's partitions full;
* one App Store subscription with a long history: ``HISTORY`` notifications over two years, its
  ``subscriptions`` row with ``fetchedAt`` and ``LINKS`` links in ``user-subscriptions``;
* ``SUPPORTER_EVENTS`` supporter events (delivered, queued, failed), received over the same days.

Then the real ``supporterflow serve`` (local profile, ``SF_EMULATORS=off``,
``benchmarks.topologies:INGEST_ONLY``: every table and queue of the service, no consumer, stream
subscriber or schedule running beside the pages) on a loopback port. One httpx client in this
process, one keep-alive connection, ``x-api-key``: a search (``POST /admin/search``, 303 to the
timeline's reference), a warm-up, then R sequential requests to each page, timed from sending the
request to reading the whole answer. Every answer must be 200, the overview must list 20
notifications and 20 supporter events and the timeline ``HISTORY + LINKS + 1`` entries (the
fetch), so an error page is never what is measured.

    python -m benchmarks.dashboard [--rows N] [--quick] [--requests N] [--json PATH]
"""

from __future__ import annotations

import argparse
import math
import os
import random
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from benchmarks.export import _events
from benchmarks.ingest_runner import write_json
from benchmarks.servers import HOST, cpu_seconds, free_port, running
from supporterflow.adapters.clock import SystemClock
from supporterflow.adapters.sqlite.database import Database
from supporterflow.adapters.sqlite.tables import SqliteTable, _dump
from supporterflow.domain.supporters.mocks import producer_requests
from supporterflow.topology import TOPOLOGY

TARGET_MS = 100.0
ROWS = 1_000_000
QUICK_ROWS = 100_000
REQUESTS = 500
QUICK_REQUESTS = 100
SPREAD_DAYS = 3
HISTORY = 300  # notifications of the subscription on the timeline, over two years
HISTORY_DAYS = 730
LINKS = 2
SUPPORTER_EVENTS = 10_000
RECENT = 20  # rows of each "recent" list on the overview (pages.RECENT)
TIMELINE_ID = "250000000000042"  # not among benchmarks.export's ids (1000000000000xx)
ADMIN_KEY = "bench-admin-key"
IDENTITY_KEY = "bench-identity-key"
DATABASE = "dashboard.sqlite3"
_INSERT_BATCH = 20_000


def _iso(moment: datetime) -> str:
    """``toISOString()``: milliseconds and ``Z``, as the store events are stored."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def recent_events(count: int, now: datetime) -> Iterator[dict[str, Any]]:
    """``benchmarks.export``'s rows, re-dated: evenly spread over the ``SPREAD_DAYS`` days
    before ``now``, oldest first (the last one a second before ``now``)."""
    span = timedelta(days=SPREAD_DAYS)
    start = now - span - timedelta(seconds=1)
    step = span / max(count, 1)
    for i, item in enumerate(_events(count)):
        at = start + step * (i + 1)
        iso = _iso(at)
        item["timestamp"] = iso
        item["date"] = iso[:10]
        item["timestampAndType"] = f"{iso}|{item['eventType']}"
        yield item


def history(now: datetime) -> list[dict[str, Any]]:
    """``HISTORY`` App Store V1 notifications of ``TIMELINE_ID`` over ``HISTORY_DAYS`` days,
    the newest a day before ``now``: a purchase, then renewals, now and then a change of the
    renewal status or a failed renewal."""
    template = next(item for item in _events(2) if item.get("platform") == "ios")
    first = now - timedelta(days=HISTORY_DAYS + 1)
    step = timedelta(days=HISTORY_DAYS) / (HISTORY - 1)
    events = []
    for k in range(HISTORY):
        if k == 0:
            kind = "INITIAL_BUY"
        elif k % 25 == 0:
            kind = "DID_CHANGE_RENEWAL_STATUS"
        elif k % 40 == 0:
            kind = "DID_FAIL_TO_RENEW"
        else:
            kind = "DID_RENEW"
        iso = _iso(first + step * k)
        events.append(
            {
                **template,
                "subscriptionId": TIMELINE_ID,
                "eventType": kind,
                "timestamp": iso,
                "date": iso[:10],
                "timestampAndType": f"{iso}|{kind}",
                "messageId": f"history-{k}",
                "ttl": int((now + timedelta(days=900)).timestamp()),
            }
        )
    return events


def subscription_row(now: datetime) -> dict[str, Any]:
    """``TIMELINE_ID``'s row as ``apple_update`` leaves it: the last fetch an hour ago."""
    start = now - timedelta(days=5)
    return {
        "subscriptionId": TIMELINE_ID,
        "startTimestamp": _iso(start),
        "endTimestamp": _iso(start + timedelta(days=30)),
        "autoRenewing": True,
        "productId": "uk.co.guardian.gla.1month",
        "platform": "ios",
        "freeTrial": False,
        "billingPeriod": "P1M",
        "receipt": "MIIT" + "A" * 4000,
        "googlePayload": None,
        "applePayload": {
            "status": 0,
            "environment": "Production",
            "latest_receipt_info": [
                {
                    "original_transaction_id": TIMELINE_ID,
                    "transaction_id": f"{int(TIMELINE_ID) + k}",
                    "product_id": "uk.co.guardian.gla.1month",
                    "purchase_date_ms": str(int((start - timedelta(days=30 * k)).timestamp() * 1000)),
                }
                for k in range(24)
            ],
        },
        "status": "active",
        "fetchedAt": _iso(now - timedelta(hours=1)),
        "ttl": int((now + timedelta(days=900)).timestamp()),
    }


def links(now: datetime) -> list[dict[str, Any]]:
    return [
        {
            "userId": f"{300000000 + n}",
            "subscriptionId": TIMELINE_ID,
            "creationTimestamp": _iso(now - timedelta(days=HISTORY_DAYS - 100 * n)),
        }
        for n in range(LINKS)
    ]


def supporter_events(count: int, now: datetime) -> Iterator[dict[str, Any]]:
    """``count`` supporter events as ``supporter_produce`` stores them and the consumer updates
    them: 90% delivered, 5% queued, 5% failed, received over the ``SPREAD_DAYS`` days before now."""
    rng = random.Random(10)
    request = producer_requests()["DEFAULT"]
    span = timedelta(days=SPREAD_DAYS)
    for i in range(count):
        event_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        received = now - span + span * (i + 1) / (count + 1)
        roll = i % 20
        status = "queued" if roll == 0 else "failed" if roll == 1 else "delivered"
        row: dict[str, Any] = {
            "id": event_id,
            "status": status,
            "producer": ("donations", "newsletters", "shop")[i % 3],
            "receivedAt": received.isoformat(),
            "fingerprint": None,
            "request": request,
            "answer": {"data": {"id": event_id, "identities": []}, "message": "success"},
            "responses": [] if status == "queued" else [{"service": "user-service", "call": "signup"}],
            "ttl": int((now + timedelta(days=30)).timestamp()),
        }
        if status != "queued":
            row["updatedAt"] = (received + timedelta(seconds=2)).isoformat()
        if status == "failed":
            row["reason"] = "ERPNext answered 417: document refused"
        yield row


@dataclass(frozen=True)
class Built:
    events: int
    today: int  # of them in today's date partition (the overview's first query)
    history: int
    links: int
    supporter_events: int
    seconds: float
    megabytes: float


def build(path: Path, count: int, now: datetime) -> Built:
    """The database of ``path``: the service's whole schema (``SqliteTable`` of every table of
    the topology), the rows inserted in the adapter's own row format in one transaction."""
    started = time.perf_counter()
    database = Database(path, synchronous="NORMAL")
    tables = {d.name: SqliteTable(database, d, SystemClock()) for d in TOPOLOGY.tables}
    database.open().close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("BEGIN")

    def insert(table: str, items: Iterator[dict[str, Any]] | list[dict[str, Any]]) -> int:
        adapter = tables[table]
        sql = f"INSERT INTO t_{table.replace('-', '_')} (pk, sk, item, ttl) VALUES (?, ?, ?, ?)"
        rows: list[tuple[Any, ...]] = []
        done = 0
        for item in items:
            pk, sk = adapter._pk_sk(item)
            rows.append((pk, sk, _dump(item), adapter._ttl_of(item)))
            if len(rows) == _INSERT_BATCH:
                conn.executemany(sql, rows)
                done += len(rows)
                rows.clear()
        conn.executemany(sql, rows)
        return done + len(rows)

    events = insert("subscription-events", recent_events(count, now))
    old = insert("subscription-events", history(now))
    insert("subscriptions", [subscription_row(now)])
    linked = insert("user-subscriptions", links(now))
    supporters = insert("supporter-events", supporter_events(SUPPORTER_EVENTS, now))
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    (today,) = conn.execute(
        "SELECT count(*) FROM t_subscription_events WHERE json_extract(item, '$.\"date\"') = ?",
        (_iso(now)[:10],),
    ).fetchone()
    conn.close()
    return Built(
        events, today, old, linked, supporters, time.perf_counter() - started, path.stat().st_size / 1e6
    )


@dataclass(frozen=True)
class Latency:
    page: str
    requests: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float
    bytes: int  # of the last answer
    server_cpu_ms: float | None  # server CPU per request


def _percentile(ordered: list[float], fraction: float) -> float:
    """Nearest rank: the smallest value with at least ``fraction`` of the values at or below."""
    return ordered[max(math.ceil(fraction * len(ordered)) - 1, 0)]


def check_overview(html: str) -> None:
    notifications = html.count('href="/admin/subscriptions/')
    supporters = html.count('href="/admin/supporter-events/')
    assert notifications == RECENT, f"overview lists {notifications} notifications, not {RECENT}"
    assert supporters == RECENT, f"overview lists {supporters} supporter events, not {RECENT}"


def check_timeline(html: str) -> None:
    found = {kind: html.count(f'<li class="{kind}">') for kind in ("notification", "link", "fetch")}
    expected = {"notification": HISTORY, "link": LINKS, "fetch": 1}
    assert found == expected, f"timeline shows {found}, not {expected}"


def measure(
    client: httpx.Client, pid: int, page: str, path: str, requests: int, warmup: int, check: Any
) -> Latency:
    for _ in range(warmup):
        answer = client.get(path)
        assert answer.status_code == 200, (page, answer.status_code, answer.text[:500])
    check(answer.text)
    seconds: list[float] = []
    cpu_before = cpu_seconds(pid)
    for _ in range(requests):
        started = time.perf_counter()
        answer = client.get(path)
        body = answer.content
        seconds.append(time.perf_counter() - started)
        assert answer.status_code == 200, (page, answer.status_code, answer.text[:500])
    cpu_after = cpu_seconds(pid)
    check(answer.text)
    ordered = sorted(s * 1000 for s in seconds)
    cpu = None
    if cpu_before is not None and cpu_after is not None:
        cpu = (cpu_after - cpu_before) / requests * 1000
    return Latency(
        page,
        requests,
        _percentile(ordered, 0.50),
        _percentile(ordered, 0.95),
        _percentile(ordered, 0.99),
        ordered[-1],
        sum(ordered) / len(ordered),
        len(body),
        cpu,
    )


def serve_and_measure(directory: Path, requests: int, warmup: int) -> tuple[list[Latency], str]:
    port = free_port()
    env = {
        "SF_PROFILE": "local",
        "SF_DATABASE": str(directory / DATABASE),
        "SF_OBJECT_STORE_DIR": str(directory / "objects"),
        "SF_PORT": str(port),
        "SF_HOST": HOST,
        "SF_TOPOLOGY": "benchmarks.topologies:INGEST_ONLY",
        "SF_EMULATORS": "off",
        "SF_IDENTITY_HASH_KEY": IDENTITY_KEY,
        "SF_ADMIN_API_KEYS": ADMIN_KEY,
    }
    command = [sys.executable, "-m", "supporterflow.entrypoints.cli", "serve"]
    with (
        running(command, port, "/healthcheck", env) as pid,
        httpx.Client(
            base_url=f"http://{HOST}:{port}", headers={"x-api-key": ADMIN_KEY}, timeout=30.0
        ) as client,
    ):
        found = client.post("/admin/search", data={"q": TIMELINE_ID})
        assert found.status_code == 303, (found.status_code, found.text[:500])
        timeline = found.headers["location"]
        assert timeline.startswith("/admin/subscriptions/"), timeline
        results = [
            measure(client, pid, "overview", "/admin", requests, warmup, check_overview),
            measure(client, pid, "timeline", timeline, requests, warmup, check_timeline),
        ]
    return results, timeline


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.dashboard", description=__doc__)
    parser.add_argument("--rows", type=int, default=ROWS, help="subscription events stored")
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"{QUICK_ROWS:,} rows and {QUICK_REQUESTS} requests per page",
    )
    parser.add_argument("--requests", type=int, help=f"measured requests per page (default {REQUESTS})")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    rows = QUICK_ROWS if args.quick else args.rows
    requests = args.requests or (QUICK_REQUESTS if args.quick else REQUESTS)
    warmup = max(requests // 10, 10)
    print(
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}, {rows:,} subscription events "
        f"over the {SPREAD_DAYS} days before now, {requests} sequential requests per page after "
        f"{warmup} of warm-up (one keep-alive connection)"
    )
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="sf-bench-dashboard-", dir="/tmp") as name:
        directory = Path(name)
        built = build(directory / DATABASE, rows, now)
        print(
            f"built {built.megabytes:,.0f} MB of SQLite in {built.seconds:.1f} s: {built.events:,} "
            f"subscription events ({built.today:,} dated today, {_iso(now)[:10]}), + {built.history} "
            f"of the timeline's subscription over {HISTORY_DAYS} days, 1 subscription row, "
            f"{built.links} links, {built.supporter_events:,} supporter events"
        )
        results, _ = serve_and_measure(directory, requests, warmup)
    for result in results:
        print(
            f"GET {result.page:<9}: p50 {result.p50_ms:6.2f} ms, p95 {result.p95_ms:6.2f} ms, "
            f"p99 {result.p99_ms:6.2f} ms, max {result.max_ms:6.2f} ms, mean {result.mean_ms:6.2f} ms "
            f"({result.requests} requests, {result.bytes / 1000:,.0f} kB answer, server cpu "
            + ("n/a" if result.server_cpu_ms is None else f"{result.server_cpu_ms:.2f} ms/request")
            + ")"
        )
    print(
        f"checked: every answer 200; overview lists {RECENT} notifications and {RECENT} supporter "
        f"events; timeline shows {HISTORY} notifications + {LINKS} links + 1 fetch"
    )
    for result in results:
        verdict = "met" if result.p99_ms < TARGET_MS else "MISSED"
        print(
            f"dashboard[{result.page}]: p99 {result.p99_ms:.1f} ms with {rows:,} events stored "
            f"(target < {TARGET_MS:g} ms: {verdict})"
        )
    write_json(
        args.json,
        {"rows": rows, "built": asdict(built), "pages": [asdict(r) for r in results], "target_ms": TARGET_MS},
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
