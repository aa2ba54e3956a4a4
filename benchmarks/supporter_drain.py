"""Delivered supporter events per second, end to end, with a slow user service and ERPNext.

Why: delivery waits on other services (a signup, then one upsert per ERPNext document), so its
speed comes from how many deliveries one process keeps in flight, not from the CPU. The user
service and ERPNext emulators run as processes of their own on loopback with 20 ms of added
latency per request; N accepted DEFAULT ProducerRequests (spec §4.1: a signup with two
identities, then `user:create` and `transaction:execute`: a signup, a Supporter and a Donation) are
queued first, then one runtime process with the service's real consumer settings delivers them.

    python -m benchmarks.supporter_drain [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path

from benchmarks.servers import HOST, free_port, running
from supporterflow.bootstrap import bootstrap
from supporterflow.config import Settings
from supporterflow.domain.supporters.mocks import producer_requests
from supporterflow.functions.supporter_produce import supporter_produce
from supporterflow.logs import configure_logging
from supporterflow.runtime.process import Runtime

TARGET_PER_S = 300.0
LATENCY_MS = 20
USER_KEY = "bench-user-key"
ERP_KEY, ERP_SECRET = "bench-erp-key", "bench-erp-secret"


def _emulator(kind: str, *args: str) -> tuple[list[str], int]:
    port = free_port()
    command = [sys.executable, "-m", "supporterflow.emulators.cli", kind, "--port", str(port)]
    return [*command, "--latency-ms", str(LATENCY_MS), *args], port


async def drain(directory: Path, events: int, users_url: str, erpnext_url: str) -> float:
    settings = Settings(
        database=directory / "bench.sqlite3",
        object_store_dir=directory / "objects",
        emulators="off",
        user_service_url=users_url,
        user_service_api_key=USER_KEY,
        erpnext_url=erpnext_url,
        erpnext_api_key=ERP_KEY,
        erpnext_api_secret=ERP_SECRET,
        identity_hash_key="bench-identity-key",
        admin_api_keys="bench-admin",
        log_level="warning",
    )
    container = bootstrap(settings).open()
    deps = container.dependencies()
    body = json.dumps(producer_requests()["DEFAULT"])
    for _ in range(events):
        answer = await supporter_produce(
            json.loads(body),
            producer="bench",
            idempotency_key=None,
            supporter_events=deps["supporter_events"],
            supporter_events_to_deliver=deps["supporter_events_to_deliver"],
            identity_key=deps["identity_key"],
            retention=timedelta(days=1),
            clock=container.clock,
        )
        assert answer.status == 200, answer.body
    queue = container.queues["supporter-events-to-deliver"]
    runtime = Runtime(container, http=False, background=False)
    started = time.perf_counter()
    task = asyncio.create_task(runtime.run())
    while (await queue.depth()).total:
        await asyncio.sleep(0.05)
    seconds = time.perf_counter() - started
    runtime.request_stop()
    await task
    dead = (await container.queues["supporter-events-to-deliver-dlq"].depth()).total
    if dead:
        raise RuntimeError(f"{dead} deliveries failed: the figure would not be a delivery rate")
    await container.aclose()
    return events / seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.supporter_drain", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="500 events instead of 3,000")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    events = 500 if args.quick else 3000
    configure_logging("warning", "json")
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}, {events:,} events")
    with tempfile.TemporaryDirectory() as directory, ExitStack() as stack:
        users, users_port = _emulator("user-service", "--api-key", USER_KEY)
        erp, erp_port = _emulator("erpnext", "--api-key", ERP_KEY, "--api-secret", ERP_SECRET)
        stack.enter_context(running(users, users_port, "/__emulator/state"))
        stack.enter_context(running(erp, erp_port, "/__emulator/state"))
        rate = asyncio.run(
            drain(Path(directory), events, f"http://{HOST}:{users_port}", f"http://{HOST}:{erp_port}")
        )
    verdict = "met" if rate >= TARGET_PER_S else "MISSED"
    print(
        f"supporter_drain: {rate:,.0f} delivered/s with {LATENCY_MS} ms per user-service and ERPNext call "
        f"(3 calls per event; target >= {TARGET_PER_S:,.0f}/s: {verdict})"
    )
    if args.json:
        args.json.write_text(
            json.dumps({"events": events, "per_second": rate, "latency_ms": LATENCY_MS}) + "\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
