"""What the store drain benchmarks (``apple_drain``, ``google_drain``) share.

Each runs a store's emulator as a process of its own on loopback with latency added to every
request, its subscriptions written into its state file before it starts; configures the service
against it as against the real store (``SF_EMULATORS=off``); queues one fetch reference per
subscription; and runs one runtime process (consumers only) with a topology holding the store's
tables, queues and live consumer until the queue is empty or a time cap has passed. Then every
subscription must be stored ``active`` and nothing dead-lettered. The same with the consumer
handling one message at a time gives the ratio. This module runs those drains and prints the lines
both benchmarks print; each benchmark says how to set up its store (``DrainSetup``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from benchmarks.servers import HOST, cpu_seconds, free_port, running
from supporterflow.bootstrap import bootstrap
from supporterflow.config import Settings
from supporterflow.declare import Topology
from supporterflow.logs import configure_logging
from supporterflow.runtime.process import Runtime

_SEND_CHUNK = 1000
# Every emulator serves the shared control API: it answers once the emulator is up.
_PROBE_PATH = "/__emulator/faults"


@dataclass(frozen=True)
class DrainSetup:
    """One store's drain, prepared in a fresh directory for ``count`` subscriptions: the command
    that runs its emulator (given the port), the service's settings against it (given its base
    URL), the message queued per subscription and the ``subscriptionId`` its row is stored under."""

    emulator: Callable[[int], list[str]]
    settings: Callable[[str], Settings]
    bodies: list[bytes]
    subscription_ids: list[str]


# Writes a store's subscriptions and keys into a directory: (directory, count) -> its drain.
Prepare = Callable[[Path, int], DrainSetup]


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


async def _drain(
    settings: Settings,
    topology: Topology,
    queue_name: str,
    bodies: list[bytes],
    cap_s: float,
    emulator_pid: int,
) -> tuple[int, int, float, float, float | None]:
    """Queue ``bodies``, run one runtime until the queue is empty or ``cap_s`` has passed;
    (messages handled by then, messages handled once the runtime stopped, seconds, runtime cpu,
    emulator cpu)."""
    container = bootstrap(settings, topology=topology).open()
    queue = container.queues[queue_name]
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
    return len(bodies) - remaining, len(bodies) - left, seconds, runtime_cpu, emulator_cpu


async def _stored(
    settings: Settings, topology: Topology, queue_name: str, subscription_ids: list[str]
) -> tuple[int, int, int]:
    """(rows of these subscriptions stored active, rows not active or unknown, dead letters)."""
    container = bootstrap(settings, topology=topology).open()
    wanted = set(subscription_ids)
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
    dead = (await container.queues[f"{queue_name}-dlq"].depth()).total
    await container.aclose()
    return active, other, dead


def measure(
    name: str, topology: Topology, queue_name: str, prepare: Prepare, count: int, cap_s: float
) -> DrainRun:
    """One drain of ``count`` subscriptions with its own database and emulator process."""
    with tempfile.TemporaryDirectory() as tmp:
        setup = prepare(Path(tmp), count)
        port = free_port()
        settings = setup.settings(f"http://{HOST}:{port}")
        with running(setup.emulator(port), port, _PROBE_PATH) as pid:
            updated, handled, seconds, runtime_cpu, emulator_cpu = asyncio.run(
                _drain(settings, topology, queue_name, setup.bodies, cap_s, pid)
            )
        active, other, dead = asyncio.run(_stored(settings, topology, queue_name, setup.subscription_ids))
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


def emulator_command(module: str, port: int, state_file: Path, cert_dir: Path, latency_ms: int) -> list[str]:
    """``python -m <module> serve`` of an emulator's CLI on ``port``."""
    command = [sys.executable, "-m", module, "serve", "--port", str(port), "--state", str(state_file)]
    return [*command, "--cert-dir", str(cert_dir), "--latency-ms", str(latency_ms)]


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


@dataclass(frozen=True)
class DrainBenchmark:
    """What differs between the stores' drain benchmarks: names for the output, the topologies
    (the live consumer at its concurrency, then one at a time), the queue and the setup."""

    name: str  # "apple_drain": the module and the prefix of the summary lines
    store: str  # "App Store", as in "App Store emulator answering after 50 ms"
    calls: str  # "per App Store call", as in "with 50 ms per App Store call"
    topology: Topology
    one_at_a_time: Topology
    queue_name: str
    prepare: Prepare
    latency_ms: int
    target_per_s: float
    target_ratio: float


def main(benchmark: DrainBenchmark, description: str | None, argv: list[str] | None) -> int:
    """The command line and output of a drain benchmark."""
    parser = argparse.ArgumentParser(prog=f"python -m benchmarks.{benchmark.name}", description=description)
    parser.add_argument("--quick", action="store_true", help="600 + 40 subscriptions instead of 4,000 + 200")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    count, single_count = (600, 40) if args.quick else (4000, 200)
    cap_s, single_cap_s = (15.0, 10.0) if args.quick else (60.0, 30.0)
    configure_logging("warning", "json")
    print(
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}, {count:,} subscriptions "
        f"(one at a time: {single_count:,}), {benchmark.store} emulator answering after "
        f"{benchmark.latency_ms} ms"
    )
    concurrent = measure(
        "concurrent", benchmark.topology, benchmark.queue_name, benchmark.prepare, count, cap_s
    )
    print(_describe(concurrent, cap_s))
    single = measure(
        "one at a time",
        benchmark.one_at_a_time,
        benchmark.queue_name,
        benchmark.prepare,
        single_count,
        single_cap_s,
    )
    print(_describe(single, single_cap_s))

    ratio = concurrent.per_second / single.per_second if single.per_second else 0.0
    rate_verdict = "met" if concurrent.per_second >= benchmark.target_per_s else "MISSED"
    ratio_verdict = "met" if ratio >= benchmark.target_ratio else "MISSED"
    print(
        f"{benchmark.name}: {concurrent.per_second:,.0f} updated/s with {benchmark.latency_ms} ms "
        f"{benchmark.calls} (target >= {benchmark.target_per_s:,.0f}/s: {rate_verdict})"
    )
    print(
        f"{benchmark.name}: {ratio:.1f}x a one-at-a-time consumer ({single.per_second:,.1f}/s; "
        f"target >= {benchmark.target_ratio:g}x: {ratio_verdict})"
    )
    problems = []
    for run in (concurrent, single):
        if run.stored_active != run.handled or run.stored_other or run.dead_letters:
            problems.append(
                f"{run.name}: {run.stored_active:,} rows stored active for {run.handled:,} handled, "
                f"{run.stored_other:,} other rows, {run.dead_letters:,} dead letters"
            )
    for problem in problems:
        print(f"{benchmark.name}: WARNING: {problem}")
    if args.json:
        figures = {
            "latency_ms": benchmark.latency_ms,
            "concurrent": asdict(concurrent),
            "one_at_a_time": asdict(single),
            "ratio": ratio,
            "warnings": problems,
        }
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0
