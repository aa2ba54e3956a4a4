"""Notifications over a real socket, the CLI, and the library's sync client against a served
emulator."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from appstoreserverlibrary.api_client import AppStoreServerAPIClient
from appstoreserverlibrary.models.Environment import Environment
from appstoreserverlibrary.models.NotificationTypeV2 import NotificationTypeV2
from appstoreserverlibrary.models.Status import Status
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from typer.testing import CliRunner

from supporterflow.emulators.apple.app import create_app_store_app
from supporterflow.emulators.apple.auth import ApiKey
from supporterflow.emulators.apple.certificates import CertificateChain
from supporterflow.emulators.apple.cli import apple_app
from supporterflow.emulators.apple.sender import send_notification
from supporterflow.emulators.apple.signing import AppStoreSigner
from supporterflow.emulators.apple.store import AppleStoreState
from supporterflow.emulators.serving import RunningEmulator, start_in_thread
from tests.integration.emulators.apple.conftest import BUNDLE_ID, PRODUCT_ID, verifier_for
from tests.integration.emulators.apple.library_clients import pointed_at


@pytest.fixture
def received() -> list[dict[str, Any]]:
    return []


@pytest.fixture
def receiver(received: list[dict[str, Any]]) -> Iterator[RunningEmulator]:
    """A stand-in for the service: records each JSON body POSTed to /notify."""

    async def notify(request: Request) -> Response:
        received.append(await request.json())
        return Response(status_code=200)

    with start_in_thread(Starlette(routes=[Route("/notify", notify, methods=["POST"])])) as running:
        yield running


def test_a_v2_notification_is_posted_as_a_signed_payload(
    state: AppleStoreState,
    signer: AppStoreSigner,
    chain: CertificateChain,
    receiver: RunningEmulator,
    received: list[dict[str, Any]],
) -> None:
    step = state.subscribe(bundle_id=BUNDLE_ID, product_id=PRODUCT_ID)
    response = send_notification(f"{receiver.url}/notify", step, state, signer)
    assert response.status_code == 200
    [body] = received
    decoded = verifier_for(chain.root_der).verify_and_decode_notification(body["signedPayload"])
    assert decoded.notificationType == NotificationTypeV2.SUBSCRIBED


def test_a_v1_notification_has_the_legacy_shape(
    state: AppleStoreState, signer: AppStoreSigner, receiver: RunningEmulator, received: list[dict[str, Any]]
) -> None:
    otid = state.subscribe(bundle_id=BUNDLE_ID, product_id=PRODUCT_ID).original_transaction_id
    step = state.set_auto_renew(otid, False)
    send_notification(f"{receiver.url}/notify", step, state, signer, version="v1", password="shh")
    [body] = received
    assert (body["notification_type"], body["auto_renew_status"], body["password"]) == (
        "DID_CHANGE_RENEWAL_STATUS",
        "false",
        "shh",
    )
    assert (body["environment"], body["bid"], body["unified_receipt"]["status"]) == ("Sandbox", BUNDLE_ID, 0)
    [info] = body["unified_receipt"]["latest_receipt_info"]
    required = {"transaction_id", "product_id", "original_transaction_id", "quantity", "purchase_date_ms"}
    assert required | {"original_purchase_date_ms", "is_trial_period"} <= set(info)
    assert body["unified_receipt"]["pending_renewal_info"][0]["auto_renew_status"] == "0"


def test_the_cli_sends_a_notification_signed_under_the_saved_root(
    tmp_path: Path, receiver: RunningEmulator, received: list[dict[str, Any]]
) -> None:
    result = CliRunner().invoke(
        apple_app,
        [
            "send-notification",
            "--url",
            f"{receiver.url}/notify",
            "--type",
            "GRACE_PERIOD",
            "--bundle-id",
            BUNDLE_ID,
            "--cert-dir",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    assert f"SF_APPLE_ROOT_CERTS={tmp_path / 'root.pem'}" in result.output
    root = CertificateChain.load(tmp_path).root_der
    decoded = verifier_for(root).verify_and_decode_notification(received[0]["signedPayload"])
    assert decoded.data is not None
    assert decoded.data.status == Status.BILLING_GRACE_PERIOD


def test_the_cli_refuses_an_unknown_type(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        apple_app,
        ["send-notification", "--url", "http://127.0.0.1:1", "--type", "NOPE", "--cert-dir", str(tmp_path)],
    )
    assert result.exit_code != 0


def test_the_sync_library_client_calls_a_served_emulator(
    state: AppleStoreState, signer: AppStoreSigner, api_key: ApiKey
) -> None:
    otid = state.subscribe(bundle_id=BUNDLE_ID, product_id=PRODUCT_ID).original_transaction_id
    with start_in_thread(create_app_store_app(state, signer=signer, api_key=api_key)) as running:
        client = pointed_at(
            AppStoreServerAPIClient(
                api_key.private_key_pem, api_key.key_id, api_key.issuer_id, BUNDLE_ID, Environment.SANDBOX
            ),
            running.url,
        )
        response = client.get_all_subscription_statuses(otid)
    assert response.environment == Environment.SANDBOX
    assert response.data is not None
    assert response.data[0].lastTransactions is not None
    assert response.data[0].lastTransactions[0].status == Status.ACTIVE
