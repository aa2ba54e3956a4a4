"""Run an emulator on a real socket from inside another process: tests that need a URL (a
subprocess, an HTTP client under test) and the local profile, which mounts the emulators next to
the service without extra processes."""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType

import uvicorn
from starlette.types import ASGIApp

_START_TIMEOUT_S = 10.0


class RunningEmulator:
    """An app served by uvicorn on a background thread; ``stop()`` shuts it down gracefully."""

    def __init__(self, app: ASGIApp, host: str, port: int) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        # Bound here, not by uvicorn, so a busy port fails in the caller and port 0 is resolved
        # before the URL is handed out.
        self._socket = socket.create_server((host, port), family=family)
        self.host = host
        self.port: int = self._socket.getsockname()[1]
        self.url = (
            f"http://[{host}]:{self.port}" if family == socket.AF_INET6 else f"http://{host}:{self.port}"
        )
        # log_config=None: an emulator inside another program leaves that program's logging alone.
        config = uvicorn.Config(app, log_config=None, log_level="warning", access_log=False, lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._socket]},
            name=f"emulator:{self.port}",
            daemon=True,
        )

    def start(self) -> RunningEmulator:
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT_S
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the emulator on {self.url} did not start")
            time.sleep(0.01)
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        self._socket.close()
        if self._thread.is_alive():
            raise RuntimeError(f"the emulator on {self.url} did not stop within {timeout_s} s")

    def __enter__(self) -> RunningEmulator:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()


def start_in_thread(app: ASGIApp, host: str = "127.0.0.1", port: int = 0) -> RunningEmulator:
    """Serve ``app`` on ``host:port`` (``0`` = any free port) until ``.stop()``; returns once it
    accepts connections, with ``.url`` the address to call."""
    return RunningEmulator(app, host, port).start()
