"""Accepted App Store V2 notifications per second over HTTP, as a ratio to the bare-route baseline.

Why: ``POST /apple/pubsub`` with ``{"signedPayload"}`` verifies three JWS (the notification and the
signed transaction and renewal info inside it) against the configured Apple root before it
commits the event row and its fetch reference and answers; this shows what that costs next to
the cheapest possible route on the same server (``benchmarks.http_baseline``), measured in the
same run. The real ``supporterflow serve`` runs on a fresh database with the in-process emulators
(``SF_EMULATORS=on``): it trusts the App Store emulator's test root kept beside the database, in
``apple-emulator/``, which this benchmark creates first and signs with. It has the service's
tables and queues but no consumers (``benchmarks.topologies:INGEST_ONLY``), so only acceptance is
measured.

Every request is distinct and valid: N SUBSCRIBED notifications of N distinct subscriptions (each
its own ``originalTransactionId`` and ``notificationUUID``), signed before the run and each sent
once (``benchmarks.loadgen`` with a bodies file): a repeated body would only measure the
duplicate path. Before the load a tampered notification must get 401 (the signatures really are
checked); after it, the stored events and queued fetches must number the 200s.

An in-process figure follows (no HTTP): ``AppleSignedData.verify_notification`` per second on
distinct notifications, with a cProfile breakdown of where its time goes.

    python -m benchmarks.apple_ingest [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import cProfile
import http.client
import json
import os
import pstats
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks.http_baseline import measure as measure_baseline
from benchmarks.loadgen import LoadResult, run_load_in_subprocess, write_bodies
from benchmarks.servers import HOST, cpu_seconds, free_port, running
from supporterflow.adapters.apple import AppleSignedData
from supporterflow.emulators.apple.certificates import CertificateChain
from supporterflow.emulators.apple.payloads import signed_notification
from supporterflow.emulators.apple.signing import AppStoreSigner
from supporterflow.emulators.apple.store import SANDBOX, AppleStoreState

TARGET = 0.3
BUNDLE = "uk.co.guardian.iphone2"
PRODUCT = "uk.co.guardian.gla.1month"
ROUTE = "/apple/pubsub"
TO_FETCH = "apple-subscriptions-to-fetch"
# What bootstrap.apple_emulator_directory answers for a database in the same directory.
EMULATOR_DIRECTORY = "apple-emulator"


def signed_bodies(chain: CertificateChain, count: int) -> Iterator[bytes]:
    """``count`` request bodies ``{"signedPayload"}``, each the SUBSCRIBED notification of a new
    subscription: distinct original transaction ids and notification UUIDs, all valid."""
    state = AppleStoreState()  # in memory: only the documents to sign are needed
    signer = AppStoreSigner(chain)
    try:
        for _ in range(count):
            step = state.subscribe(bundle_id=BUNDLE, product_id=PRODUCT, environment=SANDBOX)
            subscription = state.get(step.original_transaction_id)
            signed = signed_notification(step, subscription, signer, state.now_ms())
            yield json.dumps({"signedPayload": signed}, separators=(",", ":")).encode()
    finally:
        state.close()


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def tampered(body: bytes) -> bytes:
    """``body`` with its notification's payload changed and the signature kept: a well-formed JWS
    whose signature no longer matches, which the service must refuse with 401."""
    header, payload, signature = json.loads(body)["signedPayload"].split(".")
    decoded = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    decoded["data"]["status"] = 2  # claim the subscription expired
    forged = ".".join([header, _b64url(json.dumps(decoded).encode()), signature])
    return json.dumps({"signedPayload": forged}, separators=(",", ":")).encode()


def _post(port: int, body: bytes) -> int:
    connection = http.client.HTTPConnection(HOST, port, timeout=10.0)
    try:
        connection.request("POST", ROUTE, body=body, headers={"content-type": "application/json"})
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


def _stored(database: Path) -> tuple[int, int, int]:
    """(event rows, distinct subscriptions among them, queued fetch references), read from the
    server's SQLite once it has stopped."""
    with contextlib.closing(sqlite3.connect(database)) as connection:
        events, distinct = connection.execute(
            "SELECT COUNT(*), COUNT(DISTINCT pk) FROM t_subscription_events"
        ).fetchone()
        (queued,) = connection.execute(
            "SELECT COUNT(*) FROM queue_messages WHERE queue = ?", (TO_FETCH,)
        ).fetchone()
    return int(events), int(distinct), int(queued)


def measure_ingest(
    directory: Path,
    bodies_file: Path,
    checks: dict[str, bytes],
    duration_s: float,
    warmup_s: float,
    connections: int,
) -> IngestRun:
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
        statuses = {name: _post(port, body) for name, body in checks.items()}
        cpu_before = cpu_seconds(pid)
        load = run_load_in_subprocess(
            HOST,
            port,
            "POST",
            ROUTE,
            headers={"content-type": "application/json"},
            connections=connections,
            duration_s=duration_s,
            warmup_s=warmup_s,
            bodies_file=bodies_file,
        )
        cpu_after = cpu_seconds(pid)
    server_cpu = None
    if cpu_before is not None and cpu_after is not None:
        server_cpu = (cpu_after - cpu_before) / (warmup_s + load.seconds)
    events, distinct, queued = _stored(database)
    return IngestRun(load, server_cpu, statuses, events, distinct, queued)


@dataclass(frozen=True)
class VerifyFigures:
    notifications: int
    per_second: float
    body_bytes: int
    jws_parses_per_notification: float
    shares: dict[str, float]  # part of verify_notification's time, from cProfile


_Entry = tuple[str, int, str]  # cProfile's (file, line, function)

# Where verify_notification's time goes: a label and the cProfile entries it sums.
_BREAKDOWN: tuple[tuple[str, Callable[[_Entry], bool]], ...] = (
    (
        "PyJWT base64url checks of JWS segments",
        lambda e: e[0].endswith("jwt/api_jws.py") and e[2] == "_decode_base64url_segment",
    ),
    (
        "ECDSA P-256 signature checks",
        lambda e: e[2].startswith("<method 'verify' of") and "ECPublicKey" in e[2],
    ),
    (
        "certificate chain (cached)",
        lambda e: e[0].endswith("supporterflow/adapters/apple.py") and e[2] == "verify_chain",
    ),
    ("library models (cattrs)", lambda e: e[0].endswith("cattrs/converters.py") and e[2] == "structure"),
)


def _profile_shares(profile: cProfile.Profile, count: int) -> tuple[dict[str, float], float]:
    """The share of ``verify_notification``'s time spent in each part of ``_BREAKDOWN``, and how
    many times PyJWT parsed a JWS per notification."""
    stats: dict[_Entry, tuple[int, int, float, float, Any]] = pstats.Stats(profile).stats  # type: ignore[attr-defined]

    def spent(wanted: Callable[[_Entry], bool]) -> float:
        return sum(cumulative for entry, (_, _, _, cumulative, _) in stats.items() if wanted(entry))

    total = spent(
        lambda e: e[0].endswith("supporterflow/adapters/apple.py") and e[2] == "verify_notification"
    )
    shares = {label: spent(wanted) / total if total else 0.0 for label, wanted in _BREAKDOWN}
    parses = sum(
        calls
        for entry, (_, calls, *_) in stats.items()
        if entry[0].endswith("jwt/api_jws.py") and entry[2] == "_load"
    )
    return shares, parses / count


def measure_verify(chain: CertificateChain, count: int) -> VerifyFigures:
    """``verify_notification`` in this process: timed on ``count`` distinct notifications, then
    profiled on ``count`` others."""
    verifier = AppleSignedData([chain.root_der], [BUNDLE], SANDBOX)
    bodies = list(signed_bodies(chain, 2 * count + 1))
    payloads = [json.loads(body)["signedPayload"] for body in bodies]
    verifier.verify_notification(payloads.pop())  # the chain cache, filled once as in the server
    timed, profiled = payloads[:count], payloads[count:]
    started = time.perf_counter()
    for payload in timed:
        verifier.verify_notification(payload)
    seconds = time.perf_counter() - started
    profile = cProfile.Profile()
    profile.enable()
    for payload in profiled:
        verifier.verify_notification(payload)
    profile.disable()
    shares, parses = _profile_shares(profile, count)
    return VerifyFigures(count, count / seconds, len(bodies[0]), parses, shares)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.apple_ingest", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="3 s of load instead of 10 s")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures as JSON")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument(
        "--notifications",
        type=int,
        help="distinct notifications signed for the run (default 12,000; --quick 3,000); the run "
        "stops early if they are all accepted before its end",
    )
    args = parser.parse_args(argv)
    duration_s, warmup_s = (3.0, 1.0) if args.quick else (10.0, 1.0)
    count = args.notifications or (3000 if args.quick else 12000)
    verify_count = 200 if args.quick else 500
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}, {count:,} notifications")

    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        # The directory the server's in-process App Store emulator uses: its root is the one the
        # server trusts, so what this chain signs verifies there.
        chain = CertificateChain.load_or_create(directory / EMULATOR_DIRECTORY)
        started = time.perf_counter()
        bodies_file = directory / "bodies.jsonl"
        # One generator for all: each subscription it makes has a new original transaction id.
        bodies = signed_bodies(chain, count + 2)
        extra = [next(bodies), next(bodies)]
        written = write_bodies(bodies_file, bodies)
        print(
            f"signed {written:,} distinct notifications in {time.perf_counter() - started:.1f} s "
            f"({bodies_file.stat().st_size / written:,.0f} bytes per request body)"
        )
        checks = {"tampered": tampered(extra[0]), "valid": extra[1], "valid again": extra[1]}

        baseline = measure_baseline("uvicorn", duration_s, warmup_s, args.connections)
        run = measure_ingest(directory, bodies_file, checks, duration_s, warmup_s, args.connections)
    verify = measure_verify(chain, verify_count)

    load = baseline.load
    ratio = run.load.rps / load.rps if load.rps else 0.0
    print(
        f"baseline GET /           : {load.rps:,.0f} req/s, p50 {load.p50_ms:.2f} ms, "
        f"p99 {load.p99_ms:.2f} ms, server cpu {_cores(baseline.server_cpu)}"
    )
    ingest = run.load
    print(
        f"POST /apple/pubsub (V2)  : {ingest.rps:,.0f} accepted/s, p50 {ingest.p50_ms:.2f} ms, "
        f"p99 {ingest.p99_ms:.2f} ms, {ingest.errors} errors, statuses {ingest.status_counts}, "
        f"server cpu {_cores(run.server_cpu)}, client cpu {ingest.client_cpu:.2f}"
    )
    if ingest.exhausted:
        print(
            f"apple_ingest: every notification was sent after {ingest.seconds:.1f} s of the "
            f"{duration_s:g} s window; the rate is over those seconds (sign more with --notifications)"
        )
    print(
        "before the load         : "
        + ", ".join(f"{name} -> {status}" for name, status in run.checks.items())
        + " (expected 401, 200, 200)"
    )
    accepted = ingest.total_status_counts.get(200, 0) + 1  # the loadgen's 200s and the valid check
    print(
        f"stored                  : {run.stored_events:,} events of {run.distinct_subscriptions:,} "
        f"subscriptions, {run.queued_fetches:,} fetches queued, for {accepted:,} notifications "
        f"answered 200 (all statuses of the run: {ingest.total_status_counts})"
    )
    print(
        f"in process (no HTTP)    : AppleSignedData.verify_notification {verify.per_second:,.0f}/s "
        f"({1e6 / verify.per_second:,.0f} us each, {verify.notifications} distinct notifications of "
        f"{verify.body_bytes:,} bytes, one core); {verify.jws_parses_per_notification:.0f} JWS parses "
        "per notification (3 JWS)"
    )
    for label, share in verify.shares.items():
        print(f"  {label:<40} {share:6.1%} of verify_notification (cProfile)")

    verdict = "met" if ratio >= TARGET else "MISSED"
    print(
        f"apple_ingest: {ratio:.2f}x http_baseline "
        f"({ingest.rps:,.0f} accepted/s; target >= {TARGET}x: {verdict})"
    )
    problems = []
    if run.checks != {"tampered": 401, "valid": 200, "valid again": 200}:
        problems.append(f"the checks before the load answered {run.checks}, not 401, 200, 200")
    if ingest.status_counts.get(200, 0) != sum(ingest.status_counts.values()):
        problems.append("not every request was accepted; this is not an ingest rate")
    if not run.stored_events == run.distinct_subscriptions == run.queued_fetches == accepted:
        problems.append("the stored events or queued fetches do not match the notifications accepted")
    for problem in problems:
        print(f"apple_ingest: WARNING: {problem}")
    if args.json:
        figures = {
            "notifications": count,
            "baseline_rps": load.rps,
            "baseline_server_cpu": baseline.server_cpu,
            "ingest": asdict(ingest),
            "ingest_rps": ingest.rps,
            "ingest_server_cpu": run.server_cpu,
            "ratio": ratio,
            "checks": run.checks,
            "stored_events": run.stored_events,
            "queued_fetches": run.queued_fetches,
            "accepted": accepted,
            "verify": asdict(verify),
            "warnings": problems,
        }
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


def _cores(cpu: float | None) -> str:
    return "n/a" if cpu is None else f"{cpu:.2f}"


if __name__ == "__main__":
    sys.exit(main())
