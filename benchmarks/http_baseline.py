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
import http.client
import importlib.util
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO

from rich.console import Console
from rich.table import Table
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from benchmarks.loadgen import LoadResult, run_load_in_subprocess

HOST = "127.0.0.1"
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


def _free_port() -> int:
    """A port nobody listens on now (another process could take it before the server does, but
    on a benchmark machine that race is theoretical)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


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


def _answers(port: int) -> bool:
    connection = http.client.HTTPConnection(HOST, port, timeout=1.0)
    try:
        connection.request("GET", "/")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def _cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system) of ``pid`` and its live descendants, from ``/proc`` (Linux only).
    Descendants count because granian serves from worker processes under its main one."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        total = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        children = [
            int(child)
            for task in Path(f"/proc/{pid}/task").iterdir()
            for child in (task / "children").read_text().split()
        ]
    except (OSError, IndexError, ValueError):
        return None
    return total + sum(_cpu_seconds(child) or 0.0 for child in children)


@contextlib.contextmanager
def _running(server: str) -> Iterator[tuple[int, int]]:
    """Start ``server`` on a free port, wait until it answers 200, yield ``(pid, port)``, stop it."""
    port = _free_port()
    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen(
            _server_command(server, port), cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            _wait_until_up(process, port, log)
            yield process.pid, port
        finally:
            process.terminate()
            try:
                process.wait(_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_until_up(process: subprocess.Popen[bytes], port: int, log: IO[str]) -> None:
    """Poll until the route answers 200; fail with the server's output if it exits or never does."""
    deadline = time.monotonic() + _STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        if _answers(port):
            return
        time.sleep(0.1)
    log.seek(0)
    raise RuntimeError(f"server did not start (exit code {process.poll()}):\n{log.read()[-2000:]}")


def measure(server: str, duration_s: float, warmup_s: float, connections: int) -> ServerRun:
    with _running(server) as (pid, port):
        cpu_before = _cpu_seconds(pid)
        load = run_load_in_subprocess(
            HOST, port, "GET", "/", connections=connections, duration_s=duration_s, warmup_s=warmup_s
        )
        cpu_after = _cpu_seconds(pid)
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
