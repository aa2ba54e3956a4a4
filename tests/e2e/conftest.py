"""The real server process, started as an operator would start it, on a loopback port."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
ADMIN_KEY = "e2e-admin-key"


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll ``condition`` until it holds; fail the test after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def wait_for_row(
    read: Callable[[], dict[str, Any] | None],
    holds: Callable[[dict[str, Any]], bool],
    timeout_s: float,
    what: str,
    log: Callable[[], str],
) -> dict[str, Any]:
    """The row ``read`` returns once ``holds`` is true of it; on time-out, the last row read and
    the tail of the server's log."""
    last: list[dict[str, Any] | None] = [None]

    def ready() -> bool:
        last[0] = read()
        return last[0] is not None and holds(last[0])

    try:
        wait_until(ready, timeout_s, what)
    except AssertionError:
        raise AssertionError(f"timed out waiting for {what}; the row is {last[0]}\n{log()[-3000:]}") from None
    row = last[0]
    assert row is not None
    return row


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """One ``supporterflow serve`` process on a temporary database."""

    tmp_path: Path
    topology: str
    port: int
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    @property
    def database(self) -> Path:
        return self.tmp_path / "supporterflow.sqlite3"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SF_")}
        env.update(
            SF_DATABASE=str(self.database),
            SF_OBJECT_STORE_DIR=str(self.tmp_path / "objects"),
            SF_PORT=str(self.port),
            SF_TOPOLOGY=self.topology,
            SF_ADMIN_API_KEYS=ADMIN_KEY,
            SF_MAX_BODY_BYTES="4096",
            PYTHONPATH=str(ROOT),
        )
        env.update(self.env)
        return env

    def start(self, timeout_s: float = 30.0) -> None:
        log = (self.tmp_path / "server.log").open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "supporterflow.entrypoints.cli", "serve"],
            cwd=self.tmp_path,
            env=self.environment(),
            stdout=log,
            stderr=log,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited with {self.process.returncode}: {self.log()[-2000:]}")
            try:
                if httpx.get(self.url + "/healthcheck", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise AssertionError("server did not answer /healthcheck in time")

    def log(self) -> str:
        return (self.tmp_path / "server.log").read_text(errors="replace")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def count(self, sql: str) -> int:
        with sqlite3.connect(self.database, timeout=30) as conn:
            return int(conn.execute(sql).fetchone()[0])

    def processed_ids(self) -> set[str]:
        with sqlite3.connect(self.database, timeout=30) as conn:
            return {row[0] for row in conn.execute("SELECT pk FROM t_processed")}

    def queued_ids(self, queue: str) -> set[str]:
        with sqlite3.connect(self.database, timeout=30) as conn:
            rows = conn.execute("SELECT body FROM queue_messages WHERE queue = ?", (queue,))
            return {bytes(row[0]).decode() for row in rows}


ServerFactory = Callable[..., Server]


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[ServerFactory]:
    """``server_factory("module:TOPOLOGY")`` -> a Server (not started yet) on a free port; every
    server still running at the end of the test is killed."""
    made: list[Server] = []

    def make(topology: str = "supporterflow.topology:TOPOLOGY", **env: str) -> Server:
        server = Server(tmp_path=tmp_path, topology=topology, port=free_port(), env=env)
        made.append(server)
        return server

    yield make
    for server in made:
        server.stop()


@pytest.fixture
def server(server_factory: ServerFactory) -> Server:
    s = server_factory("supporterflow.topology:TOPOLOGY")
    s.start()
    return s


@dataclass
class Emulator:
    """``supporterflow emulate <kind>`` as its own process on a loopback port."""

    kind: str
    args: list[str]
    tmp_path: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 30.0) -> None:
        log = (self.tmp_path / f"{self.kind}.log").open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "supporterflow.emulators.cli",
                self.kind,
                "--port",
                str(self.port),
                *self.args,
            ],
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=log,
            stderr=log,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                httpx.get(self.url + "/__emulator/state", timeout=1)
                return
            except httpx.TransportError:
                time.sleep(0.05)
        raise AssertionError(f"the {self.kind} emulator did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def state(self) -> dict[str, Any]:
        body: dict[str, Any] = httpx.get(self.url + "/__emulator/state", timeout=5).json()
        return body


@pytest.fixture
def emulators(tmp_path: Path) -> Iterator[tuple[Emulator, Emulator]]:
    users = Emulator("user-service", ["--api-key", "e2e-user-key"], tmp_path)
    erpnext = Emulator(
        "erpnext",
        [
            "--api-key",
            "e2e-erp-key",
            "--api-secret",
            "e2e-erp-secret",
            "--state",
            str(tmp_path / "erp.sqlite3"),
        ],
        tmp_path,
    )
    users.start()
    erpnext.start()
    yield users, erpnext
    users.stop()
    erpnext.stop()
