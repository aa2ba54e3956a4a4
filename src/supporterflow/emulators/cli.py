"""``supporterflow emulate``: run an emulated user service, ERPNext, Braze or OIDC issuer in the
foreground, for a demo, a manual test, or a test that needs the emulator in another process (to
kill it); ``emulate oidc-token`` prints an access token that issuer's keys verify."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Protocol, TypeVar

import typer
import uvicorn
from starlette.types import ASGIApp

from supporterflow.emulators import braze, erpnext, identity_api, oidc, user_service
from supporterflow.emulators.acquisition_api import AcquisitionApiState, create_acquisition_api_app
from supporterflow.emulators.apple import cli as apple_cli
from supporterflow.emulators.braze import BrazeState, create_braze_app
from supporterflow.emulators.erpnext import create_erpnext_app
from supporterflow.emulators.erpnext_documents import ErpNextState
from supporterflow.emulators.google import cli as google_cli
from supporterflow.emulators.identity_api import IdentityApiState, create_identity_api_app
from supporterflow.emulators.oidc import OidcIssuer, create_oidc_app
from supporterflow.emulators.user_service import UserServiceState, create_user_service_app

emulate_app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Run an emulated authority (user service, ERPNext, Braze, OIDC issuer) on a local port.",
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


@emulate_app.command("acquisition-api")
def run_acquisition_api(
    port: PortOption,
    host: HostOption = "127.0.0.1",
    state: StateOption = None,
    latency_ms: LatencyOption = 0.0,
) -> None:
    """Support's Acquisition API: POST to any path (the Feast acquisition events)."""
    _serve(
        "acquisition-api",
        AcquisitionApiState(state),
        lambda events: create_acquisition_api_app(events, latency_ms=latency_ms),
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


@emulate_app.command("identity-api")
def run_identity_api(
    port: PortOption,
    host: HostOption = "127.0.0.1",
    state: StateOption = None,
    api_key: Annotated[
        str, typer.Option(help="The bearer API key to accept.")
    ] = identity_api.DEFAULT_API_KEY,
    latency_ms: LatencyOption = 0.0,
) -> None:
    """The identity API: GET /user/{id} (the soft opt-in email lookup)."""
    _serve(
        "identity-api",
        IdentityApiState(state),
        lambda users: create_identity_api_app(api_key, users, latency_ms=latency_ms),
        host,
        port,
        state,
    )


DEFAULT_OIDC_DIR = Path(tempfile.gettempdir()) / "supporterflow-oidc-emulator"
OidcDirOption = Annotated[
    Path,
    typer.Option(
        "--cert-dir", help="Directory of the issuer's signing keys; created with a new key when empty."
    ),
]
IssuerOption = Annotated[str, typer.Option("--issuer", help="The issuer (iss) of the tokens.")]
AudienceOption = Annotated[str, typer.Option("--audience", help="The audience (aud) of the tokens.")]


@emulate_app.command("oidc")
def run_oidc(
    port: PortOption,
    host: HostOption = "127.0.0.1",
    cert_dir: OidcDirOption = DEFAULT_OIDC_DIR,
    issuer: IssuerOption = oidc.DEFAULT_ISSUER,
    audience: AudienceOption = oidc.DEFAULT_AUDIENCE,
    latency_ms: LatencyOption = 0.0,
) -> None:
    """An OIDC issuer (Okta): GET /v1/keys, /.well-known/openid-configuration; mints tokens."""
    keys = OidcIssuer.load_or_create(cert_dir, issuer, audience=audience)
    url = google_cli.base_url(host, port)
    typer.echo(f"SF_OIDC_ISSUER={keys.url}")
    typer.echo(f"SF_OIDC_AUDIENCE={keys.audience}")
    typer.echo(f"SF_OIDC_JWKS_URL={url}{oidc.JWKS_PATH}")
    typer.echo(f"SF_OIDC_SCOPE={oidc.DEFAULT_SCOPE}")
    typer.echo(f"SF_OIDC_USER_ID_CLAIM={oidc.USER_ID_CLAIM}")
    _serve("oidc", keys, lambda held: create_oidc_app(held, latency_ms=latency_ms), host, port, cert_dir)


@emulate_app.command("oidc-token")
def mint_oidc_token(
    user_id: Annotated[
        str, typer.Option("--user-id", help="The legacy_identity_id claim; empty for none.")
    ] = oidc.DEFAULT_USER_ID,
    scope: Annotated[
        list[str] | None, typer.Option("--scope", help="A scope of the scp claim; repeat for more.")
    ] = None,
    expires_in: Annotated[
        int, typer.Option("--expires-in", help="Lifetime in seconds (negative: already expired).")
    ] = oidc.TOKEN_LIFETIME_S,
    cert_dir: OidcDirOption = DEFAULT_OIDC_DIR,
    issuer: IssuerOption = oidc.DEFAULT_ISSUER,
    audience: AudienceOption = oidc.DEFAULT_AUDIENCE,
) -> None:
    """Print an access token signed with the key `emulate oidc --cert-dir` publishes."""
    keys = OidcIssuer.load_or_create(cert_dir, issuer, audience=audience)
    token = keys.token(
        lifetime_s=expires_in,
        legacy_identity_id=user_id or None,
        scp=scope if scope else [oidc.DEFAULT_SCOPE],
    )
    typer.echo(token)


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
