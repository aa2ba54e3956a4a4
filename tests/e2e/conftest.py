"""The real server process, started as an operator would start it, on a loopback port."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
ADMIN_KEY = "e2e-admin-key"


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


ServerFactory = Callable[[str], Server]


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[ServerFactory]:
    """``server_factory("module:TOPOLOGY")`` -> a Server (not started yet) on a free port; every
    server still running at the end of the test is killed."""
    made: list[Server] = []

    def make(topology: str = "supporterflow.topology:TOPOLOGY") -> Server:
        server = Server(tmp_path=tmp_path, topology=topology, port=free_port())
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
