"""``google_app``: run the Google Play emulator, or push one Real-time developer notification to a
service.

Both commands share a key directory (default: ``supporterflow-google-emulator`` under the system
temp dir) holding the service account and the push signing key, so what ``send-notification``
signs verifies against the certificates that ``serve`` publishes.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import typer
import uvicorn

from supporterflow.emulators.google.app import CERTS_PATH, TOKEN_PATH, create_play_app
from supporterflow.emulators.google.oauth import SERVICE_ACCOUNT_FILE, ServiceAccount
from supporterflow.emulators.google.push import PushSigner
from supporterflow.emulators.google.sender import send_notification
from supporterflow.emulators.google.store import ACTIONS, GooglePlayState, Step

google_app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Emulate Google Play (Play Developer API, OAuth, Pub/Sub push notifications).",
)

NEW_PURCHASE_TYPES = ("purchase", "test", "one-time")
"""``--type`` values that need no existing purchase (besides the life-cycle :data:`ACTIONS`)."""
NOTIFICATION_TYPES = ("purchase", *ACTIONS, "test", "one-time")

CertDirOption = Annotated[
    Path,
    typer.Option(help="Directory of the service account and push key; created with new keys when empty."),
]
StateOption = Annotated[
    Path | None,
    typer.Option("--state", help="SQLite file of the purchases (default: in memory)."),
]
DEFAULT_CERT_DIR = Path(tempfile.gettempdir()) / "supporterflow-google-emulator"
DEFAULT_PACKAGE, DEFAULT_PRODUCT = "com.guardian", "guardian.subscription.month.meteredoffer"


def base_url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


@google_app.command("serve")
def serve(
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")],
    host: Annotated[str, typer.Option(help="Interface to listen on; keep it loopback.")] = "127.0.0.1",
    state: StateOption = None,
    cert_dir: CertDirOption = DEFAULT_CERT_DIR,
    latency_ms: Annotated[
        float, typer.Option("--latency-ms", min=0, help="Delay added to every request.")
    ] = 0.0,
) -> None:
    """The Play Developer API, OAuth token endpoint, push certificates and /__emulator/ on one port."""
    url = base_url(host, port)
    account = ServiceAccount.load_or_create(cert_dir, url + TOKEN_PATH)
    signer = PushSigner.load_or_create(cert_dir)
    purchases = GooglePlayState(state)
    try:
        app = create_play_app(
            purchases,
            service_account=account,
            push_signer=signer,
            token_uri=url + TOKEN_PATH,
            latency_ms=latency_ms,
        )
        where = f"state in {state}" if state else "state in memory"
        typer.echo(f"google-play emulator listening on {url} ({where})")
        typer.echo(f"SF_GOOGLE_PLAY_API_URL={url}")
        typer.echo(f"SF_GOOGLE_OAUTH_TOKEN_URL={url}{TOKEN_PATH}")
        typer.echo(f"SF_GOOGLE_SERVICE_ACCOUNT_FILE={cert_dir / SERVICE_ACCOUNT_FILE}")
        typer.echo(f"SF_GOOGLE_PUSH_CERTS_URL={url}{CERTS_PATH}")
        typer.echo(f"SF_GOOGLE_PUSH_SERVICE_ACCOUNT={signer.email}")
        config = uvicorn.Config(
            app, host=host, port=port, log_level="warning", access_log=False, lifespan="off"
        )
        uvicorn.Server(config).run()
    finally:
        purchases.close()


def _step(
    purchases: GooglePlayState,
    type_: str,
    purchase_token: str | None,
    package_name: str,
    product_id: str,
    new_product_id: str | None,
) -> Step:
    if type_ in NEW_PURCHASE_TYPES:
        if purchase_token is not None:
            raise typer.BadParameter(f"{type_} needs no purchase; leave out --purchase-token")
        if type_ == "test":
            return purchases.test_notification(package_name)
        if type_ == "one-time":
            return purchases.one_time_purchase(package_name, product_id)
        return purchases.purchase(package_name, product_id)
    token = purchase_token or purchases.purchase(package_name, product_id).purchase_token
    assert token is not None
    options = {"product_id": new_product_id} if type_ == "upgrade" and new_product_id else {}
    try:
        return purchases.apply(type_, token, **options)
    except KeyError:
        raise typer.BadParameter(f"no purchase {token} in --state", param_hint="--purchase-token") from None
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--type") from None


@google_app.command("send-notification")
def send(
    url: Annotated[str, typer.Option(help="Where to POST the push (the service's RTDN endpoint).")],
    type_: Annotated[
        str, typer.Option("--type", help=f"One of {', '.join(NOTIFICATION_TYPES)}.")
    ] = "purchase",
    purchase_token: Annotated[
        str | None, typer.Option(help="An existing purchase in --state (default: a new one).")
    ] = None,
    package_name: Annotated[str, typer.Option(help="Package of a new purchase.")] = DEFAULT_PACKAGE,
    product_id: Annotated[
        str, typer.Option(help="Product of a new purchase (SKU of one-time).")
    ] = DEFAULT_PRODUCT,
    new_product_id: Annotated[
        str | None, typer.Option(help="upgrade: the new product (default: the same, next base plan).")
    ] = None,
    audience: Annotated[
        str | None, typer.Option(help="Audience of the OIDC token (default: the URL, as Pub/Sub).")
    ] = None,
    secret: Annotated[str | None, typer.Option(help="Add ?secret= to the URL.")] = None,
    oidc: Annotated[bool, typer.Option(help="Send an OIDC token (an authenticated push).")] = True,
    state: StateOption = None,
    cert_dir: CertDirOption = DEFAULT_CERT_DIR,
) -> None:
    """Apply one life-cycle step and push the notification Google would send for it."""
    if type_ not in NOTIFICATION_TYPES:
        raise typer.BadParameter(f"unknown notification type {type_!r}", param_hint="--type")
    signer = PushSigner.load_or_create(cert_dir)
    purchases = GooglePlayState(state)
    try:
        step = _step(purchases, type_, purchase_token, package_name, product_id, new_product_id)
        response = send_notification(
            url, step, purchases, signer if oidc else None, audience=audience, secret=secret
        )
    finally:
        purchases.close()
    code = f" ({step.notification_type})" if step.notification_type is not None else ""
    typer.echo(
        f"{step.name}{code} for {step.purchase_token or step.package_name}: HTTP {response.status_code}"
    )
    typer.echo(f"push tokens verify against the certificates `serve --cert-dir {cert_dir}` publishes")
    typer.echo(f"SF_GOOGLE_PUSH_SERVICE_ACCOUNT={signer.email}")
    if not response.is_success:
        raise typer.Exit(1)


if __name__ == "__main__":
    google_app()
