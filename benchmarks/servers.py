"""Server processes for the HTTP benchmarks: start one on a loopback port, wait until it answers,
measure its CPU, stop it."""

from __future__ import annotations

import contextlib
import http.client
import os
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO

HOST = "127.0.0.1"
REPO_ROOT = Path(__file__).resolve().parents[1]
_STARTUP_TIMEOUT_S = 30.0
_STOP_TIMEOUT_S = 10.0


def free_port() -> int:
    """A port nobody listens on now (another process could take it before the server does, but
    on a benchmark machine that race is theoretical)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def answers(port: int, path: str) -> bool:
    connection = http.client.HTTPConnection(HOST, port, timeout=1.0)
    try:
        connection.request("GET", path)
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def cpu_seconds(pid: int) -> float | None:
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
    return total + sum(cpu_seconds(child) or 0.0 for child in children)


@contextlib.contextmanager
def running(
    command: list[str], port: int, probe_path: str, env: Mapping[str, str] | None = None
) -> Iterator[int]:
    """Run ``command`` until ``GET probe_path`` on ``port`` answers 200; yield its pid; stop it."""
    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=None if env is None else {**os.environ, **env},
        )
        try:
            _wait_until_up(process, port, probe_path, log)
            yield process.pid
        finally:
            process.terminate()
            try:
                process.wait(_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_until_up(process: subprocess.Popen[bytes], port: int, path: str, log: IO[str]) -> None:
    """Poll until the route answers 200; fail with the server's output if it exits or never does."""
    deadline = time.monotonic() + _STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        if answers(port, path):
            return
        time.sleep(0.1)
    log.seek(0)
    raise RuntimeError(f"server did not start (exit code {process.poll()}):\n{log.read()[-2000:]}")
