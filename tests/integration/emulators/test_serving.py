"""``start_in_thread``: an emulator on a real loopback socket inside the test process."""

from __future__ import annotations

import socket

import httpx
import pytest

from supporterflow.emulators import USER_SERVICE_API_KEY, create_user_service_app, start_in_thread


def test_an_emulator_serves_on_a_free_port_until_stopped() -> None:
    running = start_in_thread(create_user_service_app(USER_SERVICE_API_KEY))
    try:
        assert running.url == f"http://127.0.0.1:{running.port}"
        response = httpx.post(
            f"{running.url}/match", json={"identity_hash": "h"}, headers={"x-api-key": USER_SERVICE_API_KEY}
        )
        assert response.status_code == 404
    finally:
        running.stop()

    with pytest.raises(httpx.TransportError):
        httpx.get(f"{running.url}/__emulator/state", timeout=1)


def test_a_busy_port_fails_at_once() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError, match="in use"):
            start_in_thread(create_user_service_app("k"), port=taken.getsockname()[1])


def test_the_handle_stops_the_emulator_when_used_as_a_context_manager() -> None:
    with start_in_thread(create_user_service_app("k"), "127.0.0.1") as running:
        assert httpx.get(f"{running.url}/__emulator/requests").json() == {"requests": []}
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{running.url}/__emulator/requests", timeout=1)
