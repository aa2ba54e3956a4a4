"""``supporterflow emulate google`` and the ``send-notification`` command, against a ``serve``
running in a thread that shares their key directory and SQLite state."""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import google.auth.transport.requests
import httpx
import pytest
import uvicorn
from google.oauth2 import id_token
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from typer.testing import CliRunner

from supporterflow.emulators.cli import emulate_app
from supporterflow.emulators.google import cli as google_cli
from supporterflow.emulators.google.cli import google_app
from supporterflow.emulators.google.push import DEFAULT_PUSH_EMAIL
from supporterflow.emulators.serving import RunningEmulator, start_in_thread
from tests.integration.emulators.google.conftest import google_credentials, refresh, v2_path

_RealServer = uvicorn.Server


class _RecordedServer(_RealServer):
    """uvicorn's server, remembered so the test can stop the one ``serve`` starts."""

    started_servers: list[_RealServer] = []

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        _RecordedServer.started_servers.append(self)


def _serving_on(port: int) -> _RealServer | None:
    """The server ``serve`` started (others, like the receiver's, listen on their own sockets)."""
    return next((server for server in _RecordedServer.started_servers if server.config.port == port), None)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


class Served:
    def __init__(self, url: str, output: str, cert_dir: Path, state: Path) -> None:
        self.url, self.output, self.cert_dir, self.state = url, output, cert_dir, state


@pytest.fixture
def served(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[Served]:
    """``serve`` in a thread, on a free port, with keys and state under ``tmp_path``."""
    monkeypatch.setattr(_RecordedServer, "started_servers", [])
    monkeypatch.setattr(uvicorn, "Server", _RecordedServer)
    port, cert_dir, state = _free_port(), tmp_path / "keys", tmp_path / "play.sqlite3"
    thread = threading.Thread(
        target=google_cli.serve,
        kwargs={"port": port, "host": "127.0.0.1", "state": state, "cert_dir": cert_dir, "latency_ms": 0.0},
        daemon=True,
    )
    thread.start()
    deadline = time.monotonic() + 10
    while (server := _serving_on(port)) is None or not server.started:
        assert thread.is_alive(), "serve stopped"
        assert time.monotonic() < deadline, "serve did not start"
        time.sleep(0.01)
    try:
        yield Served(f"http://127.0.0.1:{port}", capsys.readouterr().out, cert_dir, state)
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def received() -> list[tuple[dict[str, str], dict[str, Any]]]:
    return []


@pytest.fixture
def receiver(received: list[tuple[dict[str, str], dict[str, Any]]]) -> Iterator[RunningEmulator]:
    """A stand-in service: records each push; ``/broken`` answers 500."""

    async def pubsub(request: Request) -> Response:
        received.append((dict(request.headers), await request.json()))
        return Response(status_code=200)

    async def broken(request: Request) -> Response:
        return Response(status_code=500)

    routes = [Route("/google/pubsub", pubsub, methods=["POST"]), Route("/broken", broken, methods=["POST"])]
    with start_in_thread(Starlette(routes=routes)) as running:
        yield running


def send(served: Served, receiver: RunningEmulator, *options: str) -> Any:
    return CliRunner().invoke(
        google_app,
        [
            "send-notification",
            "--url",
            f"{receiver.url}/google/pubsub",
            "--state",
            str(served.state),
            "--cert-dir",
            str(served.cert_dir),
            *options,
        ],
    )


def notification(body: dict[str, Any]) -> Any:
    return json.loads(base64.b64decode(body["message"]["data"]))


def test_help_lists_the_commands_and_the_mount() -> None:
    runner = CliRunner()
    result = runner.invoke(google_app, ["--help"])
    assert result.exit_code == 0
    assert "serve" in result.output
    assert "send-notification" in result.output
    mounted = runner.invoke(emulate_app, ["google", "--help"])
    assert mounted.exit_code == 0
    assert all(option in mounted.output for option in ("--port", "--state", "--cert-dir", "--latency-ms"))
    sender = runner.invoke(google_app, ["send-notification", "--help"])
    assert all(
        option in sender.output for option in ("--purchase-token", "--audience", "--secret", "--no-oidc")
    )


def test_serve_prints_the_settings_and_google_auth_signs_in(served: Served) -> None:
    lines = served.output.splitlines()
    assert lines == [
        f"google-play emulator listening on {served.url} (state in {served.state})",
        f"SF_GOOGLE_PLAY_API_URL={served.url}",
        f"SF_GOOGLE_OAUTH_TOKEN_URL={served.url}/token",
        f"SF_GOOGLE_SERVICE_ACCOUNT_FILE={served.cert_dir / 'service-account.json'}",
        f"SF_GOOGLE_PUSH_CERTS_URL={served.url}/oauth2/v1/certs",
        f"SF_GOOGLE_PUSH_SERVICE_ACCOUNT={DEFAULT_PUSH_EMAIL}",
    ]
    signed_in = refresh(google_credentials(served.cert_dir / "service-account.json"))
    catalogue = f"{served.url}/androidpublisher/v3/applications/uk.co.guardian.feast/subscriptions"
    answer = httpx.get(
        f"{catalogue}/uk.co.guardian.feast.access", headers={"Authorization": f"Bearer {signed_in}"}
    )
    assert [plan["basePlanId"] for plan in answer.json()["basePlans"]] == ["feast-monthly", "feast-annual"]
    assert httpx.get(f"{served.url}/__emulator/state").json() == {"purchases": [], "products": []}


def test_send_notification_drives_the_served_state_with_tokens_it_verifies(
    served: Served, receiver: RunningEmulator, received: list[tuple[dict[str, str], dict[str, Any]]]
) -> None:
    bought = send(served, receiver, "--audience", "local-push")
    assert bought.exit_code == 0, bought.output
    headers, body = received[0]
    token = notification(body)["subscriptionNotification"]["purchaseToken"]
    assert bought.output.splitlines()[0] == f"SUBSCRIPTION_PURCHASED (4) for {token}: HTTP 200"
    claims = id_token.verify_token(
        headers["authorization"].removeprefix("Bearer "),
        google.auth.transport.requests.Request(),
        audience="local-push",
        certs_url=f"{served.url}/oauth2/v1/certs",
    )
    assert claims["email"] == DEFAULT_PUSH_EMAIL

    cancelled = send(served, receiver, "--type", "cancel", "--purchase-token", token, "--secret", "s3")
    assert cancelled.exit_code == 0, cancelled.output
    cancel_headers, cancel_body = received[1]
    assert notification(cancel_body)["subscriptionNotification"]["notificationType"] == 3
    assert id_token.verify_token(
        cancel_headers["authorization"].removeprefix("Bearer "),
        google.auth.transport.requests.Request(),
        audience=f"{receiver.url}/google/pubsub?secret=s3",
        certs_url=f"{served.url}/oauth2/v1/certs",
    )
    signed_in = refresh(google_credentials(served.cert_dir / "service-account.json"))
    answer = httpx.get(
        served.url + v2_path("com.guardian", token), headers={"Authorization": f"Bearer {signed_in}"}
    )
    assert (answer.status_code, answer.json()["subscriptionState"]) == (200, "SUBSCRIPTION_STATE_CANCELED")
    assert answer.json()["lineItems"][0]["productId"] == "guardian.subscription.month.meteredoffer"


def test_send_notification_of_each_kind(
    tmp_path: Path, receiver: RunningEmulator, received: list[tuple[dict[str, str], dict[str, Any]]]
) -> None:
    runner = CliRunner()
    base = ["send-notification", "--url", f"{receiver.url}/google/pubsub", "--cert-dir", str(tmp_path)]
    for type_, member in [
        ("test", "testNotification"),
        ("one-time", "oneTimeProductNotification"),
        ("refund", "voidedPurchaseNotification"),
        ("upgrade", "subscriptionNotification"),
        ("hold", "subscriptionNotification"),
    ]:
        result = runner.invoke(google_app, [*base, "--type", type_, "--no-oidc"])
        assert result.exit_code == 0, result.output
        assert member in notification(received[-1][1])
        assert "authorization" not in received[-1][0]
    assert notification(received[-2][1])["subscriptionNotification"]["notificationType"] == 4
    assert notification(received[-1][1])["subscriptionNotification"]["notificationType"] == 5


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["--type", "nope"], "unknown notification type 'nope'"),
        (["--type", "purchase", "--purchase-token", "abc"], "purchase needs no purchase"),
        (["--type", "renew", "--purchase-token", "abc"], "no purchase abc in --state"),
        (["--type", "restart"], "cannot restart a subscription in SUBSCRIPTION_STATE_ACTIVE"),
    ],
)
def test_send_notification_refuses_bad_options(tmp_path: Path, options: list[str], expected: str) -> None:
    result = CliRunner().invoke(
        google_app,
        ["send-notification", "--url", "http://127.0.0.1:1/x", "--cert-dir", str(tmp_path), *options],
    )
    assert result.exit_code == 2
    assert expected in " ".join(result.output.replace("│", " ").split())  # rich boxes and wraps errors


def test_a_refused_push_exits_1(tmp_path: Path, receiver: RunningEmulator) -> None:
    result = CliRunner().invoke(
        google_app, ["send-notification", "--url", f"{receiver.url}/broken", "--cert-dir", str(tmp_path)]
    )
    assert result.exit_code == 1
    assert ": HTTP 500" in result.output
