"""``supporterflow emulate``: run an emulated user service, ERPNext or Braze in the foreground, for
a demo, a manual test, or a test that needs the emulator in another process (to kill it)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Protocol, TypeVar

import typer
import uvicorn
from starlette.types import ASGIApp

from supporterflow.emulators import braze, erpnext, user_service
from supporterflow.emulators.apple import cli as apple_cli
from supporterflow.emulators.braze import BrazeState, create_braze_app
from supporterflow.emulators.erpnext import create_erpnext_app
from supporterflow.emulators.erpnext_documents import ErpNextState
from supporterflow.emulators.google import cli as google_cli
from supporterflow.emulators.user_service import UserServiceState, create_user_service_app

emulate_app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Run an emulated authority (user service, ERPNext, Braze) on a local port.",
)

PortOption = Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")]
HostOption = Annotated[str, typer.Option(help="Interface to listen on; keep it loopback.")]
StateOption = Annotated[
    Path | None,
    typer.Option("--state", help="SQLite file keeping the data across restarts (default: in memory)."),
]
LatencyOption = Annotated[
    float, typer.Option("--latency-ms", min=0, help="Delay added to every request outside /__emulator/.")
]


class _State(Protocol):
    def close(self) -> None: ...


S = TypeVar("S", bound=_State)


def _serve(
    name: str, state: S, make_app: Callable[[S], ASGIApp], host: str, port: int, path: Path | None
) -> None:
    """Serve ``make_app(state)`` in the foreground; the state is closed however it ends."""
    try:
        app = make_app(state)
        where = f"state in {path}" if path else "state in memory"
        typer.echo(f"{name} emulator listening on http://{host}:{port} ({where})")
        config = uvicorn.Config(
            app, host=host, port=port, log_level="warning", access_log=False, lifespan="off"
        )
        uvicorn.Server(config).run()
    finally:
        state.close()


@emulate_app.command("user-service")
def run_user_service(
    port: PortOption,
    host: HostOption = "127.0.0.1",
    state: StateOption = None,
    api_key: Annotated[str, typer.Option(help="The x-api-key to accept.")] = user_service.DEFAULT_API_KEY,
    latency_ms: LatencyOption = 0.0,
) -> None:
    """The user service: POST /signup and /match."""
    _serve(
        "user-service",
        UserServiceState(state),
        lambda users: create_user_service_app(api_key, users, latency_ms=latency_ms),
        host,
        port,
        state,
    )


@emulate_app.command("erpnext")
def run_erpnext(
    port: PortOption,
    host: HostOption = "127.0.0.1",
    state: StateOption = None,
    api_key: Annotated[str, typer.Option(help="The API key to accept.")] = erpnext.DEFAULT_API_KEY,
    api_secret: Annotated[str, typer.Option(help="The API secret to accept.")] = erpnext.DEFAULT_API_SECRET,
    latency_ms: LatencyOption = 0.0,
) -> None:
    """ERPNext: Frappe's /api/resource REST API."""
    _serve(
        "erpnext",
        ErpNextState(state),
        lambda documents: create_erpnext_app(api_key, api_secret, documents, latency_ms=latency_ms),
        host,
        port,
        state,
    )


@emulate_app.command("braze")
def run_braze(
    port: PortOption,
    host: HostOption = "127.0.0.1",
    state: StateOption = None,
    api_key: Annotated[str, typer.Option(help="The bearer API key to accept.")] = braze.DEFAULT_API_KEY,
    latency_ms: LatencyOption = 0.0,
) -> None:
    """Braze: POST /users/export/ids (the Feast identity lookup)."""
    _serve(
        "braze",
        BrazeState(state),
        lambda users: create_braze_app(api_key, users, latency_ms=latency_ms),
        host,
        port,
        state,
    )


# `supporterflow emulate apple --port N`: the App Store emulator beside the others.
emulate_app.command("apple", help="Run the App Store emulator (signed data, Server API, verifyReceipt).")(
    apple_cli.serve
)
# `supporterflow emulate google --port N`: the Google Play emulator, mounted the same way.
emulate_app.command(
    "google", help="Run the Google Play emulator (Play Developer API, OAuth, push certificates)."
)(google_cli.serve)


if __name__ == "__main__":
    emulate_app()
