"""App Store subscriptions updated per second by one process, with the App Store answering slowly.

Why: each message of ``apple-subscriptions-to-fetch`` (a V2 reference ``{"originalTransactionId",
"bundleId"}``) costs one App Store Server API call (Get All Subscription Statuses), the
verification of the signed transaction and renewal info it answers, and one conditional write of
the Subscription row with its historical snapshot. The call waits on Apple, so the rate comes
from how many fetches one process keeps in flight, not from the CPU.

The App Store emulator runs as a process of its own on loopback
(``python -m supporterflow.emulators.apple.cli serve``) with 50 ms added per request, its
subscriptions in a SQLite state file written before it starts (N ``subscribe`` calls), its test
root and API key in a certificate directory. The service is configured against it as against
Apple (``SF_EMULATORS=off``, ``SF_APPLE_ROOT_CERTS``, ``SF_APPLE_API_URL``, key id, issuer and
``.p8`` file). N references are queued, then one runtime process with only the Apple tables,
queues and the live consumer (``benchmarks.topologies:APPLE_DRAIN``: ``apple_update`` with the
service's concurrency) updates them until the queue is empty; every row must then be stored,
active, with nothing dead-lettered.

The same is measured with that consumer handling one message at a time
(``APPLE_DRAIN_ONE_AT_A_TIME``: ``concurrency=1, batch_size=1``), on fewer messages, in the same
run: the ratio is what the concurrency buys. Each drain has its own database and emulator, and
a time cap; if the cap is hit the line says so and the rate is the rate with that backlog left.

    python -m benchmarks.apple_drain [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from benchmarks.servers import HOST, cpu_seconds, free_port, running
from benchmarks.topologies import APPLE_DRAIN, APPLE_DRAIN_ONE_AT_A_TIME
from supporterflow.bootstrap import bootstrap
from supporterflow.config import Settings
from supporterflow.declare import Topology
from supporterflow.emulators.apple.auth import API_KEY_FILE, DEFAULT_ISSUER_ID, DEFAULT_KEY_ID, ApiKey
from supporterflow.emulators.apple.certificates import ROOT_PEM_FILE, CertificateChain
from supporterflow.emulators.apple.store import SANDBOX, AppleStoreState
from supporterflow.logs import configure_logging
from supporterflow.runtime.process import Runtime

TARGET_PER_S = 400.0
TARGET_RATIO = 20.0
LATENCY_MS = 50
BUNDLE = "uk.co.guardian.iphone2"
PRODUCT = "uk.co.guardian.gla.1month"
TO_FETCH = "apple-subscriptions-to-fetch"
_SEND_CHUNK = 1000


@dataclass(frozen=True)
class DrainRun:
    """One drain: ``updated`` of ``queued`` subscriptions in ``seconds`` (``capped`` when the time
    cap stopped it first), and the CPU of each side over that time, in cores. ``handled`` also
    counts the fetches in flight at the cap, which the runtime finishes before it stops: the rows
    stored are checked against it."""

    name: str
    queued: int
    updated: int
    handled: int
    seconds: float
    capped: bool
    per_second: float
    runtime_cpu: float
    emulator_cpu: float | None
    stored_active: int
    stored_other: int
    dead_letters: int


def _subscribe(state_file: Path, count: int) -> list[str]:
    """``count`` active subscriptions in the emulator's state file (written directly: much faster
    than its control API); their original transaction ids."""
    state = AppleStoreState(state_file)
    try:
        with state.store.transaction():
            steps = [
                state.subscribe(bundle_id=BUNDLE, product_id=PRODUCT, environment=SANDBOX)
                for _ in range(count)
            ]
    finally:
        state.close()
    return [step.original_transaction_id for step in steps]


def _settings(directory: Path, cert_dir: Path, api_url: str) -> Settings:
    """The service configured against the emulator exactly as against Apple."""
    return Settings(
        database=directory / "bench.sqlite3",
        object_store_dir=directory / "objects",
        emulators="off",
        apple_root_certs=[str(cert_dir / ROOT_PEM_FILE)],
        apple_bundle_ids=[BUNDLE],
        apple_environment=SANDBOX,
        apple_api_url=api_url,
        apple_key_id=DEFAULT_KEY_ID,
        apple_issuer_id=DEFAULT_ISSUER_ID,
        apple_private_key_file=cert_dir / API_KEY_FILE,
        apple_verify_receipt_url=f"{api_url}/verifyReceipt",
        apple_sandbox_verify_receipt_url=f"{api_url}/sandbox/verifyReceipt",
        identity_hash_key="bench-identity-key",
        admin_api_keys="bench-admin",
        log_level="warning",
    )


async def _drain(
    settings: Settings, topology: Topology, otids: list[str], cap_s: float, emulator_pid: int
) -> tuple[int, int, float, float, float | None]:
    """Queue a reference per subscription, run one runtime until the queue is empty or ``cap_s``
    has passed; (messages handled by then, messages handled once the runtime stopped, seconds,
    runtime cpu, emulator cpu)."""
    container = bootstrap(settings, topology=topology).open()
    queue = container.queues[TO_FETCH]
    bodies = [
        json.dumps({"originalTransactionId": otid, "bundleId": BUNDLE}, separators=(",", ":")).encode()
        for otid in otids
    ]
    for start in range(0, len(bodies), _SEND_CHUNK):
        await queue.send_batch(bodies[start : start + _SEND_CHUNK])
    runtime = Runtime(container, http=False, background=False)
    emulator_from, cpu_from = cpu_seconds(emulator_pid), time.process_time()
    started = time.perf_counter()
    deadline = started + cap_s
    task = asyncio.create_task(runtime.run())
    while (remaining := (await queue.depth()).total) and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    seconds = time.perf_counter() - started
    runtime_cpu = (time.process_time() - cpu_from) / seconds
    emulator_to = cpu_seconds(emulator_pid)
    emulator_cpu = None
    if emulator_from is not None and emulator_to is not None:
        emulator_cpu = (emulator_to - emulator_from) / seconds
    runtime.request_stop()
    await task
    left = (await queue.depth()).total
    await container.aclose()
    return len(otids) - remaining, len(otids) - left, seconds, runtime_cpu, emulator_cpu


async def _stored(settings: Settings, topology: Topology, otids: list[str]) -> tuple[int, int, int]:
    """(rows of these subscriptions stored active, rows not active or unknown, dead letters)."""
    container = bootstrap(settings, topology=topology).open()
    wanted = set(otids)
    active = other = 0
    cursor: str | None = None
    while True:
        page = await container.tables["subscriptions"].scan(limit=1000, cursor=cursor)
        for item in page.items:
            if item.get("subscriptionId") in wanted and item.get("status") == "active":
                active += 1
            else:
                other += 1
        cursor = page.cursor
        if cursor is None:
            break
    dead = (await container.queues[f"{TO_FETCH}-dlq"].depth()).total
    await container.aclose()
    return active, other, dead


def measure(name: str, topology: Topology, count: int, cap_s: float) -> DrainRun:
    """One drain of ``count`` subscriptions with its own database and emulator process."""
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        cert_dir, state_file = directory / "app-store", directory / "app-store.sqlite3"
        CertificateChain.load_or_create(cert_dir)
        ApiKey.load_or_create(cert_dir, DEFAULT_KEY_ID, DEFAULT_ISSUER_ID)
        otids = _subscribe(state_file, count)
        port = free_port()
        command = [sys.executable, "-m", "supporterflow.emulators.apple.cli", "serve", "--port", str(port)]
        command += ["--state", str(state_file), "--cert-dir", str(cert_dir), "--latency-ms", str(LATENCY_MS)]
        settings = _settings(directory, cert_dir, f"http://{HOST}:{port}")
        with running(command, port, "/__emulator/faults") as pid:
            updated, handled, seconds, runtime_cpu, emulator_cpu = asyncio.run(
                _drain(settings, topology, otids, cap_s, pid)
            )
        active, other, dead = asyncio.run(_stored(settings, topology, otids))
    return DrainRun(
        name=name,
        queued=count,
        updated=updated,
        handled=handled,
        seconds=seconds,
        capped=updated < count,
        per_second=updated / seconds,
        runtime_cpu=runtime_cpu,
        emulator_cpu=emulator_cpu,
        stored_active=active,
        stored_other=other,
        dead_letters=dead,
    )


def _describe(run: DrainRun, cap_s: float) -> str:
    emulator = "n/a" if run.emulator_cpu is None else f"{run.emulator_cpu:.2f}"
    line = (
        f"{run.name:<16}: {run.per_second:,.1f} updated/s ({run.updated:,} of {run.queued:,} in "
        f"{run.seconds:.1f} s), runtime cpu {run.runtime_cpu:.2f}, emulator cpu {emulator}; "
        f"{run.stored_active:,} rows stored active"
    )
    if run.capped:
        line += f"; CAPPED at {cap_s:g} s with {run.queued - run.updated:,} left"
    return line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.apple_drain", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="600 + 40 subscriptions instead of 4,000 + 200")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    count, single_count = (600, 40) if args.quick else (4000, 200)
    cap_s, single_cap_s = (15.0, 10.0) if args.quick else (60.0, 30.0)
    configure_logging("warning", "json")
    print(
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}, {count:,} subscriptions "
        f"(one at a time: {single_count:,}), App Store emulator answering after {LATENCY_MS} ms"
    )
    concurrent = measure("concurrent", APPLE_DRAIN, count, cap_s)
    print(_describe(concurrent, cap_s))
    single = measure("one at a time", APPLE_DRAIN_ONE_AT_A_TIME, single_count, single_cap_s)
    print(_describe(single, single_cap_s))

    ratio = concurrent.per_second / single.per_second if single.per_second else 0.0
    rate_verdict = "met" if concurrent.per_second >= TARGET_PER_S else "MISSED"
    ratio_verdict = "met" if ratio >= TARGET_RATIO else "MISSED"
    print(
        f"apple_drain: {concurrent.per_second:,.0f} updated/s with {LATENCY_MS} ms per App Store call "
        f"(target >= {TARGET_PER_S:,.0f}/s: {rate_verdict})"
    )
    print(
        f"apple_drain: {ratio:.1f}x a one-at-a-time consumer ({single.per_second:,.1f}/s; "
        f"target >= {TARGET_RATIO:g}x: {ratio_verdict})"
    )
    problems = []
    for run in (concurrent, single):
        if run.stored_active != run.handled or run.stored_other or run.dead_letters:
            problems.append(
                f"{run.name}: {run.stored_active:,} rows stored active for {run.handled:,} handled, "
                f"{run.stored_other:,} other rows, {run.dead_letters:,} dead letters"
            )
    for problem in problems:
        print(f"apple_drain: WARNING: {problem}")
    if args.json:
        figures = {
            "latency_ms": LATENCY_MS,
            "concurrent": asdict(concurrent),
            "one_at_a_time": asdict(single),
            "ratio": ratio,
            "warnings": problems,
        }
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
