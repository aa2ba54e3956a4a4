"""Accepted supporter events per second over HTTP, as a ratio to the bare-route baseline.

Why: ``POST /supporter-events`` validates like data-models, hashes identities and commits the
request row and its delivery message before answering; this shows what that costs next to the
cheapest possible route on the same server (``benchmarks.http_baseline``), measured in the same
run. The real ``supporterflow serve`` runs on a fresh database with the service's tables and queues
but no consumers (``benchmarks.topologies:INGEST_ONLY``); every request is the DEFAULT
ProducerRequest mock of spec §4.1 (one email, one mobile, two ERP actions) and is accepted.

    python -m benchmarks.supporter_ingest [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from benchmarks.http_baseline import measure as measure_baseline
from benchmarks.loadgen import LoadResult, run_load_in_subprocess
from benchmarks.servers import HOST, free_port, running
from supporterflow.domain.supporters.mocks import producer_requests

TARGET = 0.4
API_KEY = "bench-producer-key"


def measure_ingest(duration_s: float, warmup_s: float, connections: int) -> LoadResult:
    port = free_port()
    body = json.dumps(producer_requests()["DEFAULT"]).encode()
    with tempfile.TemporaryDirectory() as directory:
        env = {
            "SF_DATABASE": str(Path(directory) / "bench.sqlite3"),
            "SF_OBJECT_STORE_DIR": str(Path(directory) / "objects"),
            "SF_PORT": str(port),
            "SF_TOPOLOGY": "benchmarks.topologies:INGEST_ONLY",
            "SF_PRODUCER_API_KEYS": f"bench:{API_KEY}",
            "SF_IDENTITY_HASH_KEY": "bench-identity-key",
            "SF_ADMIN_API_KEYS": "bench-admin",
        }
        command = [sys.executable, "-m", "supporterflow.entrypoints.cli", "serve"]
        with running(command, port, "/healthcheck", env):
            return run_load_in_subprocess(
                HOST,
                port,
                "POST",
                "/supporter-events",
                body=body,
                headers={"x-api-key": API_KEY, "content-type": "application/json"},
                connections=connections,
                duration_s=duration_s,
                warmup_s=warmup_s,
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.supporter_ingest", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="3 s of load instead of 10 s")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures as JSON")
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args(argv)
    duration_s, warmup_s = (3.0, 1.0) if args.quick else (10.0, 1.0)
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")

    baseline = measure_baseline("uvicorn", duration_s, warmup_s, args.connections).load
    ingest = measure_ingest(duration_s, warmup_s, args.connections)
    ratio = ingest.rps / baseline.rps if baseline.rps else 0.0
    print(
        f"baseline GET /           : {baseline.rps:,.0f} req/s, p50 {baseline.p50_ms:.2f} ms, "
        f"p99 {baseline.p99_ms:.2f} ms"
    )
    print(
        f"POST /supporter-events   : {ingest.rps:,.0f} req/s, p50 {ingest.p50_ms:.2f} ms, "
        f"p99 {ingest.p99_ms:.2f} ms, {ingest.errors} errors, statuses {ingest.status_counts}"
    )
    verdict = "met" if ratio >= TARGET else "MISSED"
    print(
        f"supporter_ingest: {ratio:.2f}x http_baseline "
        f"({ingest.rps:,.0f} req/s; target >= {TARGET}x: {verdict})"
    )
    if ingest.status_counts.get(200, 0) != sum(ingest.status_counts.values()):
        print("supporter_ingest: WARNING: not every request was accepted; this is not an ingest rate")
    if args.json:
        figures = {
            "baseline_rps": baseline.rps,
            "ingest_rps": ingest.rps,
            "ratio": ratio,
            "status_counts": ingest.status_counts,
        }
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
