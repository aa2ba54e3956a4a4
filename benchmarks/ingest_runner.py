"""What the store-notification ingest benchmarks (``apple_ingest``, ``google_ingest``) share.

Each sends N distinct, valid notifications once (a bodies file, ``benchmarks.loadgen``) to the
real ``supporterflow serve`` running with the in-process emulators (``SF_EMULATORS=on``) and
without consumers (``benchmarks.topologies:INGEST_ONLY``), after a few single requests that
check the route refuses a forgery and answers a retry without storing it twice; then reads the
server's SQLite to check that every 200 stored one event row and queued one fetch. This module
runs that and prints the lines both benchmarks print; each benchmark makes its own bodies and its
own in-process figure.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import sqlite3
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks.http_baseline import ServerRun
from benchmarks.http_baseline import measure as measure_baseline
from benchmarks.loadgen import LoadResult, run_load_in_subprocess
from benchmarks.servers import HOST, cpu_seconds, free_port, running

JSON_HEADERS = {"content-type": "application/json"}
# What a check before the load sends: a body and its headers.
Check = tuple[bytes, Mapping[str, str]]


@dataclass(frozen=True)
class IngestOptions:
    quick: bool
    json: Path | None
    connections: int
    count: int  # distinct notifications written to the bodies file
    duration_s: float
    warmup_s: float


def parse_options(
    prog: str,
    description: str | None,
    argv: list[str] | None,
    counts: tuple[int, int] = (12000, 3000),
) -> IngestOptions:
    """The command line both ingest benchmarks take; ``counts`` are the default numbers of
    notifications of a full and of a ``--quick`` run (enough for the window at the route's rate)."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--quick", action="store_true", help="3 s of load instead of 10 s")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures as JSON")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument(
        "--notifications",
        type=int,
        help=f"distinct notifications signed for the run (default {counts[0]:,}; --quick {counts[1]:,}); "
        "the run stops early if they are all accepted before its end",
    )
    args = parser.parse_args(argv)
    duration_s, warmup_s = (3.0, 1.0) if args.quick else (10.0, 1.0)
    count = args.notifications or (counts[1] if args.quick else counts[0])
    return IngestOptions(args.quick, args.json, args.connections, count, duration_s, warmup_s)


def print_header(count: int) -> None:
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}, {count:,} notifications")


def measure_bare_route(options: IngestOptions) -> ServerRun:
    """``benchmarks.http_baseline`` with uvicorn, under the same load as the route."""
    return measure_baseline("uvicorn", options.duration_s, options.warmup_s, options.connections)


def post(port: int, route: str, body: bytes, headers: Mapping[str, str]) -> int:
    """The status of one ``POST route`` on its own connection."""
    connection = http.client.HTTPConnection(HOST, port, timeout=10.0)
    try:
        connection.request("POST", route, body=body, headers=dict(headers))
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


@dataclass(frozen=True)
class IngestRun:
    load: LoadResult
    server_cpu: float | None  # cores, over warm-up plus the measured window
    checks: dict[str, int]  # status of each request sent before the load
    stored_events: int
    distinct_subscriptions: int
    queued_fetches: int


def _stored(database: Path, to_fetch: str) -> tuple[int, int, int]:
    """(event rows, distinct subscriptions among them, queued fetch references), read from the
    server's SQLite once it has stopped."""
    with contextlib.closing(sqlite3.connect(database)) as connection:
        events, distinct = connection.execute(
            "SELECT COUNT(*), COUNT(DISTINCT pk) FROM t_subscription_events"
        ).fetchone()
        (queued,) = connection.execute(
            "SELECT COUNT(*) FROM queue_messages WHERE queue = ?", (to_fetch,)
        ).fetchone()
    return int(events), int(distinct), int(queued)


def measure_ingest(
    directory: Path,
    route: str,
    to_fetch: str,
    bodies_file: Path,
    headers: Mapping[str, str],
    checks: Mapping[str, Check],
    options: IngestOptions,
) -> IngestRun:
    """Serve from a fresh database in ``directory`` (where the emulators' keys already are), send
    ``checks`` one by one, then the bodies of ``bodies_file`` with ``headers``; what was stored in
    the ``to_fetch`` queue and the events table once the server stopped."""
    port = free_port()
    database = directory / "bench.sqlite3"
    env = {
        "SF_DATABASE": str(database),
        "SF_OBJECT_STORE_DIR": str(directory / "objects"),
        "SF_PORT": str(port),
        "SF_TOPOLOGY": "benchmarks.topologies:INGEST_ONLY",
        "SF_EMULATORS": "on",
        "SF_IDENTITY_HASH_KEY": "bench-identity-key",
        "SF_ADMIN_API_KEYS": "bench-admin",
    }
    command = [sys.executable, "-m", "supporterflow.entrypoints.cli", "serve"]
    with running(command, port, "/healthcheck", env) as pid:
        statuses = {check: post(port, route, body, sent) for check, (body, sent) in checks.items()}
        cpu_before = cpu_seconds(pid)
        load = run_load_in_subprocess(
            HOST,
            port,
            "POST",
            route,
            headers=headers,
            connections=options.connections,
            duration_s=options.duration_s,
            warmup_s=options.warmup_s,
            bodies_file=bodies_file,
        )
        cpu_after = cpu_seconds(pid)
    server_cpu = None
    if cpu_before is not None and cpu_after is not None:
        server_cpu = (cpu_after - cpu_before) / (options.warmup_s + load.seconds)
    events, distinct, queued = _stored(database, to_fetch)
    return IngestRun(load, server_cpu, statuses, events, distinct, queued)


def cores(cpu: float | None) -> str:
    return "n/a" if cpu is None else f"{cpu:.2f}"


def print_http(
    name: str,
    label: str,
    baseline: ServerRun,
    run: IngestRun,
    options: IngestOptions,
    expected_checks: Mapping[str, int],
    subscriptions: str = "subscriptions",
) -> int:
    """The lines of the HTTP part (baseline, route, checks, what was stored); how many
    notifications were answered 200 (the load's and the valid check's)."""
    load = baseline.load
    print(
        f"{'baseline GET /':<25}: {load.rps:,.0f} req/s, p50 {load.p50_ms:.2f} ms, "
        f"p99 {load.p99_ms:.2f} ms, server cpu {cores(baseline.server_cpu)}"
    )
    ingest = run.load
    print(
        f"{label:<24} : {ingest.rps:,.0f} accepted/s, p50 {ingest.p50_ms:.2f} ms, "
        f"p99 {ingest.p99_ms:.2f} ms, {ingest.errors} errors, statuses {ingest.status_counts}, "
        f"server cpu {cores(run.server_cpu)}, client cpu {ingest.client_cpu:.2f}"
    )
    if ingest.exhausted:
        print(
            f"{name}: every notification was sent after {ingest.seconds:.1f} s of the "
            f"{options.duration_s:g} s window; the rate is over those seconds "
            "(sign more with --notifications)"
        )
    expected = ", ".join(str(status) for status in expected_checks.values())
    print(
        "before the load         : "
        + ", ".join(f"{check} -> {status}" for check, status in run.checks.items())
        + f" (expected {expected})"
    )
    # The loadgen's 200s and the valid check's first answer (the retry stores nothing).
    accepted = ingest.total_status_counts.get(200, 0) + 1
    print(
        f"stored                  : {run.stored_events:,} events of {run.distinct_subscriptions:,} "
        f"{subscriptions}, {run.queued_fetches:,} fetches queued, for {accepted:,} notifications "
        f"answered 200 (all statuses of the run: {ingest.total_status_counts})"
    )
    return accepted


def print_verdict(
    name: str,
    target: float,
    baseline: ServerRun,
    run: IngestRun,
    expected_checks: Mapping[str, int],
    accepted: int,
) -> tuple[float, list[str]]:
    """The summary line and the warnings; (the ratio, the warnings)."""
    ingest = run.load
    ratio = ingest.rps / baseline.load.rps if baseline.load.rps else 0.0
    verdict = "met" if ratio >= target else "MISSED"
    print(
        f"{name}: {ratio:.2f}x http_baseline ({ingest.rps:,.0f} accepted/s; target >= {target}x: {verdict})"
    )
    problems = []
    if run.checks != dict(expected_checks):
        expected = ", ".join(str(status) for status in expected_checks.values())
        problems.append(f"the checks before the load answered {run.checks}, not {expected}")
    if ingest.status_counts.get(200, 0) != sum(ingest.status_counts.values()):
        problems.append("not every request was accepted; this is not an ingest rate")
    if not run.stored_events == run.distinct_subscriptions == run.queued_fetches == accepted:
        problems.append("the stored events or queued fetches do not match the notifications accepted")
    for problem in problems:
        print(f"{name}: WARNING: {problem}")
    return ratio, problems


def figures(
    options: IngestOptions,
    baseline: ServerRun,
    run: IngestRun,
    ratio: float,
    accepted: int,
    problems: list[str],
    **extra: Any,
) -> dict[str, Any]:
    """The JSON of ``--json``; ``extra`` adds the benchmark's own figures."""
    return {
        "notifications": options.count,
        "baseline_rps": baseline.load.rps,
        "baseline_server_cpu": baseline.server_cpu,
        "ingest": asdict(run.load),
        "ingest_rps": run.load.rps,
        "ingest_server_cpu": run.server_cpu,
        "ratio": ratio,
        "checks": run.checks,
        "stored_events": run.stored_events,
        "queued_fetches": run.queued_fetches,
        "accepted": accepted,
        **extra,
        "warnings": problems,
    }


def write_json(path: Path | None, data: dict[str, Any]) -> None:
    if path is not None:
        path.write_text(json.dumps(data, indent=2) + "\n")
