"""With a state file, an emulator keeps its data across restarts, including a SIGKILL: the
ERPNext emulator as a separate process (as the resilience tests run it), and both states
reopened in process."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from supporterflow.emulators import (
    ERPNEXT_API_KEY,
    ERPNEXT_API_SECRET,
    ErpNextState,
    UserServiceState,
    create_erpnext_app,
    create_user_service_app,
)
from tests.integration.emulators.conftest import client_for, email

AUTH = {"Authorization": f"token {ERPNEXT_API_KEY}:{ERPNEXT_API_SECRET}"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ErpNextProcess:
    """``python -m supporterflow.emulators.cli erpnext`` on a loopback port and a state file."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 20.0) -> None:
        command = [sys.executable, "-m", "supporterflow.emulators.cli", "erpnext", "--port", str(self.port)]
        with (self.tmp_path / "erpnext.log").open("ab") as log:
            self.process = subprocess.Popen(
                [*command, "--state", str(self.tmp_path / "erpnext.sqlite3")], stdout=log, stderr=log
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the emulator exited with {self.process.returncode}: {self.log()}")
            try:
                if httpx.get(f"{self.url}/__emulator/state", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"the emulator did not answer within {timeout_s} s: {self.log()}")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def log(self) -> str:
        return (self.tmp_path / "erpnext.log").read_text(errors="replace")


@pytest.fixture
def erpnext_process(tmp_path: Path) -> Iterator[ErpNextProcess]:
    emulator = ErpNextProcess(tmp_path)
    yield emulator
    emulator.kill()


@pytest.mark.slow
def test_a_killed_erpnext_emulator_restarts_with_its_documents(erpnext_process: ErpNextProcess) -> None:
    erpnext_process.start()
    assert f"erpnext emulator listening on {erpnext_process.url}" in erpnext_process.log()
    created = httpx.post(
        f"{erpnext_process.url}/api/resource/Gift%20Aid%20Declaration",
        json={"name": "g1", "supporter_uuid": "389d0996-4682-43fe-b90a-f53855dcf7dc"},
        headers=AUTH,
        timeout=5,
    )
    assert created.status_code == 200

    erpnext_process.kill()
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{erpnext_process.url}/__emulator/state", timeout=1)
    erpnext_process.start()

    found = httpx.get(
        f"{erpnext_process.url}/api/resource/Gift%20Aid%20Declaration/g1", headers=AUTH, timeout=5
    )
    assert found.json() == created.json()


async def test_a_reopened_user_service_state_keeps_users_and_identities(tmp_path: Path) -> None:
    first = UserServiceState(tmp_path / "users.sqlite3")
    async with client_for(create_user_service_app("k", first), {"x-api-key": "k"}) as client:
        created = (await client.post("/signup", json={"identities": [email("d@example.com", "h1")]})).json()
    first.close()

    again = UserServiceState(tmp_path / "users.sqlite3")
    async with client_for(create_user_service_app("k", again), {"x-api-key": "k"}) as client:
        matched = await client.post("/match", json={"identity_hash": "h1"})
    again.close()

    assert matched.json()["user"] == created["user"]


async def test_a_reopened_erpnext_state_keeps_documents_in_order(tmp_path: Path) -> None:
    first = ErpNextState(tmp_path / "erp.sqlite3")
    async with client_for(create_erpnext_app("k", "s", first), {"Authorization": "token k:s"}) as client:
        for name in ("a", "b"):
            await client.post("/api/resource/Supporter", json={"name": name})
    first.close()

    again = ErpNextState(tmp_path / "erp.sqlite3")
    async with client_for(create_erpnext_app("k", "s", again), {"Authorization": "token k:s"}) as client:
        await client.post("/api/resource/Supporter", json={"name": "c"})
        listed = (await client.get("/api/resource/Supporter")).json()
    again.close()

    assert listed == {"data": [{"name": "c"}, {"name": "b"}, {"name": "a"}]}
