"""Google's own client library signs in to a served emulator with the service-account file it
wrote, and the Play Developer API accepts the token."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import google.auth.transport.requests
import httpx
import pytest
from google.auth.exceptions import RefreshError

from supporterflow.emulators.google.app import create_play_app
from supporterflow.emulators.google.oauth import SERVICE_ACCOUNT_FILE, ServiceAccount, write_service_account
from supporterflow.emulators.google.push import PushSigner
from supporterflow.emulators.google.store import GooglePlayState
from supporterflow.emulators.serving import RunningEmulator, start_in_thread
from tests.integration.emulators.google.conftest import (
    FEAST,
    FEAST_PRODUCT,
    google_credentials,
    refresh,
    v1_path,
    v2_path,
)


@pytest.fixture
def served(tmp_path: Path, state: GooglePlayState, push_signer: PushSigner) -> Iterator[RunningEmulator]:
    """The emulator on a socket, its service account in ``tmp_path``; the file is written once
    the port is known (the app accepts its own URL as the assertion audience)."""
    account = ServiceAccount.load_or_create(tmp_path, "http://127.0.0.1:1/token")
    with start_in_thread(create_play_app(state, service_account=account, push_signer=push_signer)) as running:
        assert write_service_account(tmp_path, running.url + "/token") == tmp_path / SERVICE_ACCOUNT_FILE
        yield running


def test_the_service_account_file_is_googles_format(tmp_path: Path) -> None:
    account = ServiceAccount.load_or_create(tmp_path, "http://127.0.0.1:9400/token")
    info = json.loads((tmp_path / SERVICE_ACCOUNT_FILE).read_text())
    assert info == {
        "type": "service_account",
        "project_id": "sf-emulator",
        "private_key_id": account.private_key_id,
        "private_key": account.private_key_pem,
        "client_email": "play-developer-api@sf-emulator.iam.gserviceaccount.com",
        "client_id": "100000000000000000001",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": "http://127.0.0.1:9400/token",
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/"
        "play-developer-api%40sf-emulator.iam.gserviceaccount.com",
        "universe_domain": "googleapis.com",
    }
    assert info["private_key"].startswith("-----BEGIN PRIVATE KEY-----\n")
    assert (len(account.private_key_id), account.private_key.key_size) == (40, 2048)
    assert (tmp_path / SERVICE_ACCOUNT_FILE).stat().st_mode & 0o777 == 0o600
    again = ServiceAccount.load_or_create(tmp_path, "http://127.0.0.1:9401/token")
    assert (again.private_key_id, again.private_key_pem) == (account.private_key_id, account.private_key_pem)
    assert (
        json.loads((tmp_path / SERVICE_ACCOUNT_FILE).read_text())["token_uri"]
        == "http://127.0.0.1:9401/token"
    )


def test_google_auth_refreshes_against_the_emulator_and_the_api_accepts_the_token(
    tmp_path: Path, served: RunningEmulator, state: GooglePlayState
) -> None:
    token = state.purchase(FEAST, FEAST_PRODUCT).purchase_token
    assert token is not None
    signed_in = google_credentials(tmp_path / SERVICE_ACCOUNT_FILE)
    refresh(signed_in)
    assert signed_in.token is not None
    assert signed_in.valid
    headers = {"Authorization": f"Bearer {signed_in.token}"}
    for path in (v1_path(FEAST, FEAST_PRODUCT, token), v2_path(FEAST, token)):
        response = httpx.get(served.url + path, headers=headers)
        assert response.status_code == 200, response.text
    assert httpx.get(served.url + v2_path(FEAST, token)).status_code == 401
    # Sessions that refresh on their own work too.
    session = google.auth.transport.requests.AuthorizedSession(  # type: ignore[no-untyped-call]
        google_credentials(tmp_path / SERVICE_ACCOUNT_FILE)
    )
    answer = session.get(served.url + v2_path(FEAST, token))
    assert (answer.status_code, answer.json()["subscriptionState"]) == (200, "SUBSCRIPTION_STATE_ACTIVE")


def test_a_file_with_another_key_is_refused(tmp_path: Path, served: RunningEmulator) -> None:
    """Same account name, a key the emulator never issued: Google's library gets ``invalid_grant``."""
    genuine = json.loads((tmp_path / SERVICE_ACCOUNT_FILE).read_text())
    forged = {
        **ServiceAccount.generate().info(genuine["token_uri"]),
        "private_key_id": genuine["private_key_id"],
    }
    path = tmp_path / "forged.json"
    path.write_text(json.dumps(forged))
    with pytest.raises(RefreshError, match="invalid_grant: Invalid JWT Signature"):
        refresh(google_credentials(path))
