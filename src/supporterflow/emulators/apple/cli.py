"""``apple_app``: run the App Store emulator, or send one App Store notification to a service.

Both commands share a certificate directory (default: ``supporterflow-apple-emulator`` under
the system temp dir) holding the run-time test CA and API key, so what ``send-notification``
signs verifies against the root that ``serve`` printed.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import typer
import uvicorn

from supporterflow.emulators.apple.app import create_app_store_app
from supporterflow.emulators.apple.auth import API_KEY_FILE, DEFAULT_ISSUER_ID, DEFAULT_KEY_ID, ApiKey
from supporterflow.emulators.apple.certificates import ROOT_PEM_FILE, CertificateChain
from supporterflow.emulators.apple.sender import send_notification
from supporterflow.emulators.apple.signing import AppStoreSigner
from supporterflow.emulators.apple.store import PRODUCTION, SANDBOX, AppleStoreState, Step

apple_app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Emulate the App Store (signed data, APIs, notifications).",
)

NOTIFICATION_ACTIONS = {
    "DID_RENEW": "renew",
    "AUTO_RENEW_ENABLED": "auto-renew-on",
    "AUTO_RENEW_DISABLED": "auto-renew-off",
    "DID_FAIL_TO_RENEW": "fail-to-renew",
    "GRACE_PERIOD": "fail-to-renew-grace",
    "EXPIRED": "expire",
    "REFUND": "refund",
    "REVOKE": "revoke",
}
"""``--type`` values besides ``SUBSCRIBED``: a V2 notification type or subtype, and the step
that produces it."""

CertDirOption = Annotated[
    Path,
    typer.Option(help="Directory of the test CA and API key; created with new keys when empty."),
]
StateOption = Annotated[
    Path | None,
    typer.Option("--state", help="SQLite file of the subscriptions (default: in memory)."),
]
EnvironmentOption = Annotated[str, typer.Option(help=f"{SANDBOX} or {PRODUCTION}.")]
_DEFAULT_CERT_DIR = Path(tempfile.gettempdir()) / "supporterflow-apple-emulator"


def _environment(value: str) -> str:
    if value not in (SANDBOX, PRODUCTION):
        raise typer.BadParameter(f"must be {SANDBOX} or {PRODUCTION}")
    return value


@apple_app.command("serve")
def serve(
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")],
    host: Annotated[str, typer.Option(help="Interface to listen on; keep it loopback.")] = "127.0.0.1",
    state: StateOption = None,
    latency_ms: Annotated[
        float, typer.Option("--latency-ms", min=0, help="Delay added to every request.")
    ] = 0.0,
    cert_dir: CertDirOption = _DEFAULT_CERT_DIR,
    environment: EnvironmentOption = SANDBOX,
    key_id: Annotated[str, typer.Option(help="API key id to accept (JWT kid).")] = DEFAULT_KEY_ID,
    issuer_id: Annotated[str, typer.Option(help="Issuer id to accept (JWT iss).")] = DEFAULT_ISSUER_ID,
    shared_secret: Annotated[str | None, typer.Option(help="verifyReceipt password to require.")] = None,
) -> None:
    """The App Store Server API, verifyReceipt and /__emulator/ on one port."""
    chain = CertificateChain.load_or_create(cert_dir)
    root = cert_dir / ROOT_PEM_FILE
    api_key = ApiKey.load_or_create(cert_dir, key_id, issuer_id)
    subscriptions = AppleStoreState(state)
    try:
        app = create_app_store_app(
            subscriptions,
            signer=AppStoreSigner(chain),
            api_key=api_key,
            environment=_environment(environment),
            shared_secret=shared_secret,
            latency_ms=latency_ms,
        )
        typer.echo(f"app-store emulator listening on http://{host}:{port} ({environment})")
        typer.echo(f"trust the test root: SF_APPLE_ROOT_CERTS={root}")
        typer.echo(f"API key: SF_APPLE_KEY_ID={key_id} SF_APPLE_ISSUER_ID={issuer_id}")
        typer.echo(f"         SF_APPLE_PRIVATE_KEY_FILE={cert_dir / API_KEY_FILE}")
        config = uvicorn.Config(
            app, host=host, port=port, log_level="warning", access_log=False, lifespan="off"
        )
        uvicorn.Server(config).run()
    finally:
        subscriptions.close()


@apple_app.command("send-notification")
def send(
    url: Annotated[str, typer.Option(help="Where to POST the notification.")],
    type_: Annotated[
        str, typer.Option("--type", help=f"SUBSCRIBED or one of {', '.join(NOTIFICATION_ACTIONS)}.")
    ] = "SUBSCRIBED",
    original_transaction_id: Annotated[
        str | None, typer.Option(help="An existing subscription in --state (default: a new one).")
    ] = None,
    bundle_id: Annotated[str, typer.Option(help="Bundle id of a new subscription.")] = "com.example.app",
    product_id: Annotated[str, typer.Option(help="Product of a new subscription.")] = "com.example.monthly",
    environment: EnvironmentOption = SANDBOX,
    version: Annotated[str, typer.Option(help="v2 (signedPayload) or v1 (legacy JSON).")] = "v2",
    password: Annotated[str | None, typer.Option(help="Shared secret put in V1 bodies.")] = None,
    state: StateOption = None,
    cert_dir: CertDirOption = _DEFAULT_CERT_DIR,
) -> None:
    """Apply one life-cycle step and POST the notification Apple would send for it."""
    if type_ != "SUBSCRIBED" and type_ not in NOTIFICATION_ACTIONS:
        raise typer.BadParameter(f"unknown notification type {type_!r}", param_hint="--type")
    if version not in ("v1", "v2"):
        raise typer.BadParameter("must be v1 or v2", param_hint="--version")
    chain = CertificateChain.load_or_create(cert_dir)
    subscriptions = AppleStoreState(state)
    try:
        otid = original_transaction_id
        step: Step | None = None
        if otid is None:
            step = subscriptions.subscribe(
                bundle_id=bundle_id, product_id=product_id, environment=_environment(environment)
            )
            otid = step.original_transaction_id
        if type_ != "SUBSCRIBED":
            step = subscriptions.apply(NOTIFICATION_ACTIONS[type_], otid)
        elif step is None:
            raise typer.BadParameter("SUBSCRIBED creates a subscription; leave out --original-transaction-id")
        response = send_notification(
            url,
            step,
            subscriptions,
            AppStoreSigner(chain),
            version="v1" if version == "v1" else "v2",
            password=password,
        )
    finally:
        subscriptions.close()
    kind = " ".join(filter(None, [step.notification_type, step.subtype]))
    typer.echo(f"{kind} for {otid}: HTTP {response.status_code}")
    typer.echo(f"trust the test root: SF_APPLE_ROOT_CERTS={cert_dir / ROOT_PEM_FILE}")
    if not response.is_success:
        raise typer.Exit(1)


if __name__ == "__main__":
    apple_app()
