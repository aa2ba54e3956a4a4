"""A test CA, a signer, a frozen-clock App Store and in-process clients for the Apple emulator."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import httpx
import pytest
from appstoreserverlibrary.api_client import AsyncAppStoreServerAPIClient
from appstoreserverlibrary.models.Environment import Environment
from appstoreserverlibrary.signed_data_verifier import SignedDataVerifier

from supporterflow.emulators.apple.app import create_app_store_app
from supporterflow.emulators.apple.auth import ApiKey
from supporterflow.emulators.apple.certificates import CertificateChain, generate_chain
from supporterflow.emulators.apple.signing import AppStoreSigner
from supporterflow.emulators.apple.store import AppleStoreState
from tests.integration.emulators.apple.library_clients import pointed_at

BUNDLE_ID = "uk.co.example.app"
PRODUCT_ID = "uk.co.example.monthly"
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def chain() -> CertificateChain:
    return generate_chain()


@pytest.fixture(scope="session")
def api_key() -> ApiKey:
    return ApiKey.generate()


@pytest.fixture
def signer(chain: CertificateChain) -> AppStoreSigner:
    return AppStoreSigner(chain)


def verifier_for(root_der: bytes, bundle_id: str = BUNDLE_ID) -> SignedDataVerifier:
    """The library's verifier, unmodified, trusting only ``root_der``."""
    return SignedDataVerifier(
        root_certificates=[root_der],
        enable_online_checks=False,
        environment=Environment.SANDBOX,
        bundle_id=bundle_id,
        app_apple_id=None,
    )


@pytest.fixture
def verifier(chain: CertificateChain) -> SignedDataVerifier:
    return verifier_for(chain.root_der)


@pytest.fixture
def state() -> Iterator[AppleStoreState]:
    subscriptions = AppleStoreState(clock=lambda: NOW)
    yield subscriptions
    subscriptions.close()


@pytest.fixture
async def app_store(
    state: AppleStoreState, signer: AppStoreSigner, api_key: ApiKey
) -> AsyncIterator[httpx.AsyncClient]:
    """A plain client of the emulator (no App Store auth)."""
    app = create_app_store_app(state, signer=signer, api_key=api_key, shared_secret="shh")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://emulator") as c:
        yield c


@pytest.fixture
async def api_client(
    state: AppleStoreState, signer: AppStoreSigner, api_key: ApiKey
) -> AsyncIterator[AsyncAppStoreServerAPIClient]:
    """The library's async client, its httpx client swapped for one that calls the app in
    process."""
    app = create_app_store_app(state, signer=signer, api_key=api_key)
    client = pointed_at(
        AsyncAppStoreServerAPIClient(
            api_key.private_key_pem, api_key.key_id, api_key.issuer_id, BUNDLE_ID, Environment.SANDBOX
        ),
        "http://emulator",
    )
    await client.http_client.aclose()
    client.http_client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app))
    yield client
    await client.http_client.aclose()
