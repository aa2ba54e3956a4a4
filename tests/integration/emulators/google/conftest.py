"""Keys, a movable clock, the Play emulator in process, and helpers for its tests."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import google.auth.jwt
import google.auth.transport.requests
import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from google.oauth2 import service_account as google_service_account

from supporterflow.emulators.google.app import create_play_app
from supporterflow.emulators.google.oauth import SCOPE, ServiceAccount
from supporterflow.emulators.google.push import PushSigner
from supporterflow.emulators.google.store import GooglePlayState

FEAST = "uk.co.guardian.feast"
FEAST_PRODUCT = "uk.co.guardian.feast.access"
LIVE = "com.guardian"
LIVE_PRODUCT = "guardian.subscription.month.meteredoffer"
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
NOW_MS = 1_748_779_200_000
DAY_MS = 86_400_000
API = "/androidpublisher/v3/applications"


class Clock:
    """The state's clock: frozen at :data:`NOW` until a test moves it."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@pytest.fixture(scope="session")
def service_account() -> ServiceAccount:
    return ServiceAccount.generate()


@pytest.fixture(scope="session")
def push_signer() -> PushSigner:
    return PushSigner.generate()


@pytest.fixture(scope="session")
def other_key() -> rsa.RSAPrivateKey:
    """A key nobody published: what a forger signs with."""
    return rsa.generate_private_key(65537, 2048)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def state(clock: Clock) -> Iterator[GooglePlayState]:
    purchases = GooglePlayState(clock=clock)
    yield purchases
    purchases.close()


@pytest.fixture
def bearer(service_account: ServiceAccount) -> dict[str, str]:
    """A valid ``Authorization`` header, as the token endpoint would have issued it."""
    return {"Authorization": f"Bearer {service_account.issue_access_token(SCOPE, time.time())}"}


@pytest.fixture
async def play(
    state: GooglePlayState, service_account: ServiceAccount, push_signer: PushSigner
) -> AsyncIterator[httpx.AsyncClient]:
    """A plain client of the emulator, in process (no bearer token unless a test sends one)."""
    app = create_play_app(
        state, service_account=service_account, push_signer=push_signer, token_uri="http://play.test/token"
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://emulator") as c:
        yield c


def v1_path(package: str, product_id: str, token: str) -> str:
    return f"{API}/{package}/purchases/subscriptions/{product_id}/tokens/{token}"


def v2_path(package: str, token: str) -> str:
    return f"{API}/{package}/purchases/subscriptionsv2/tokens/{token}"


def google_error(code: int, message: str, reason: str, status: str | None, domain: str = "global") -> Any:
    """The body Google's APIs answer an error with."""
    error: dict[str, Any] = {
        "code": code,
        "message": message,
        "errors": [{"message": message, "domain": domain, "reason": reason}],
    }
    if status is not None:
        error["status"] = status
    return {"error": error}


# Google's library is typed on the outside but its functions are not annotated: these wrappers
# give the tests typed calls.


def google_credentials(path: Path) -> google_service_account.Credentials:
    """``Credentials.from_service_account_file`` for the Play Developer API scope."""
    credentials: google_service_account.Credentials = (
        google_service_account.Credentials.from_service_account_file(  # type: ignore[no-untyped-call]
            str(path), scopes=[SCOPE]
        )
    )
    return credentials


def refresh(credentials: google_service_account.Credentials) -> str:
    """Sign in through the token endpoint the credentials name; the access token."""
    credentials.refresh(google.auth.transport.requests.Request())  # type: ignore[no-untyped-call]
    assert isinstance(credentials.token, str)
    return credentials.token


def google_decode(token: str, certs: Mapping[str, str], audience: str) -> Mapping[str, Any]:
    """``google.auth.jwt.decode``: signature by ``kid``, ``iat``/``exp`` and audience checks."""
    claims: Mapping[str, Any] = google.auth.jwt.decode(  # type: ignore[no-untyped-call]
        token, certs=certs, audience=audience
    )
    return claims
