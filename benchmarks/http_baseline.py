"""The ceiling for any HTTP route of this project: a bare Starlette route answering ``{"status":"ok"}``.

Why: an ingestion endpoint cannot be faster than the server and framework it runs on. This measures
that floor of cost (requests/s, p50 and p99 latency) for uvicorn with uvloop and httptools, one
worker, so that later route benchmarks can be read as a fraction of it. If ``granian`` is installed
it is measured the same way and compared to uvicorn.

Each server runs in its own process on 127.0.0.1 and a free port; the load generator
(``benchmarks.loadgen``) runs in another, so each side gets one of the two cores. The CPU columns say
which side was saturated: a figure is only the server's if the generator stayed below one core.

    python -m benchmarks.http_baseline [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from benchmarks.loadgen import LoadResult, run_load_in_subprocess
from benchmarks.servers import HOST, cpu_seconds, free_port, running

APP = "benchmarks.http_baseline:app"
REPO_ROOT = Path(__file__).resolve().parents[1]
_STARTUP_TIMEOUT_S = 20.0
_STOP_TIMEOUT_S = 10.0


async def ok(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


app = Starlette(routes=[Route("/", ok)])


@dataclass(frozen=True)
class ServerRun:
    """One server's figures: the generator's result plus the server's own CPU use (in cores,
    ``None`` where ``/proc`` is not available)."""

    server: str
    load: LoadResult
    server_cpu: float | None


def _server_command(server: str, port: int) -> list[str]:
    """The fastest single-process setting of each server: one worker, no access log, uvloop (and
    httptools for uvicorn), so the figure is a ceiling and not a configuration accident."""
    if server == "uvicorn":
        return [
            sys.executable,
            "-m",
            "uvicorn",
            APP,
            f"--host={HOST}",
            f"--port={port}",
            "--workers=1",
            "--no-access-log",
            "--loop=uvloop",
            "--http=httptools",
            "--log-level=warning",
        ]
    # granian's access log is off unless asked for.
    return [
        sys.executable,
        "-m",
        "granian",
        "--interface=asgi",
        f"--host={HOST}",
        f"--port={port}",
        "--workers=1",
        "--loop=uvloop",
        "--no-ws",
        APP,
    ]


@contextlib.contextmanager
def _running(server: str) -> Iterator[tuple[int, int]]:
    """Start ``server`` on a free port, wait until it answers 200, yield ``(pid, port)``, stop it."""
    port = free_port()
    with running(_server_command(server, port), port, "/") as pid:
        yield pid, port


def measure(server: str, duration_s: float, warmup_s: float, connections: int) -> ServerRun:
    with _running(server) as (pid, port):
        cpu_before = cpu_seconds(pid)
        load = run_load_in_subprocess(
            HOST, port, "GET", "/", connections=connections, duration_s=duration_s, warmup_s=warmup_s
        )
        cpu_after = cpu_seconds(pid)
    # Divided by the time the server is under load (warm-up plus window): the generator's start-up
    # before that falls inside the samples but leaves the server idle, adding next to nothing.
    server_cpu = None
    if cpu_before is not None and cpu_after is not None:
        server_cpu = (cpu_after - cpu_before) / (warmup_s + duration_s)
    return ServerRun(server, load, server_cpu)


def _table(runs: list[ServerRun], baseline: ServerRun) -> Table:
    table = Table(title='HTTP baseline: GET / -> {"status":"ok"} (Starlette, 1 worker)')
    for column in ("server", "req/s", "p50 ms", "p99 ms", "errors", "srv cpu", "cli cpu", "x uvicorn"):
        table.add_column(column, justify="left" if column == "server" else "right")
    for run in runs:
        table.add_row(
            run.server,
            f"{run.load.rps:,.0f}",
            f"{run.load.p50_ms:.2f}",
            f"{run.load.p99_ms:.2f}",
            f"{run.load.errors:,}",
            "n/a" if run.server_cpu is None else f"{run.server_cpu:.2f}",
            f"{run.load.client_cpu:.2f}",
            f"{run.load.rps / baseline.load.rps:.2f}x" if baseline.load.rps else "n/a",
        )
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.http_baseline", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="3 s of load instead of 10 s")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures as JSON")
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args(argv)
    duration_s, warmup_s = (3.0, 1.0) if args.quick else (10.0, 1.0)
    granian_installed = importlib.util.find_spec("granian") is not None

    console = Console()
    console.print(
        f"{args.connections} keep-alive connections, {warmup_s:g} s warm-up + {duration_s:g} s measured, "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}",
        soft_wrap=True,
    )
    runs = [measure("uvicorn", duration_s, warmup_s, args.connections)]
    if granian_installed:
        runs.append(measure("granian", duration_s, warmup_s, args.connections))
    baseline = runs[0]
    console.print(_table(runs, baseline))

    for run in runs:
        load = run.load
        ratio = load.rps / baseline.load.rps if baseline.load.rps else 0.0
        print(
            f"http: {run.server} = {ratio:.2f}x uvicorn ({load.rps:,.0f} req/s, "
            f"p50 {load.p50_ms:.2f} ms, p99 {load.p99_ms:.2f} ms, {load.errors} errors)"
        )
    if not granian_installed:
        print("http: granian skipped (not installed)")
    if args.json:
        figures = {
            "duration_s": duration_s,
            "warmup_s": warmup_s,
            "connections": args.connections,
            "granian": "measured" if granian_installed else "skipped: not installed",
            "runs": [asdict(run) for run in runs],
        }
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
