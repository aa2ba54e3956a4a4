"""``POST /apple/subscription/status`` (spec §7.1) and ``POST /apple/fetchOfferDetails`` (§3.9)
through the ASGI app, answered by the local profile's in-process App Store emulator."""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from supporterflow.bootstrap import Container, apple_emulator_directory
from supporterflow.emulators.apple.store import AppleStoreState
from supporterflow.entrypoints.http import create_app
from supporterflow.topology import TOPOLOGY
from tests.support import open_container

BUNDLE = "uk.co.guardian.iphone2"
PRODUCT = "uk.co.guardian.gla.1month"
SEPARATOR = "\u2063"


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[tuple[Container, httpx.AsyncClient, AppleStoreState]]:
    container = open_container(tmp_path, TOPOLOGY)
    store = AppleStoreState(apple_emulator_directory(container.settings) / "subscriptions.sqlite3")
    transport = httpx.ASGITransport(app=create_app(container))
    async with httpx.AsyncClient(transport=transport, base_url="http://sf") as api:
        yield container, api, store
    store.close()
    await container.aclose()


def _parse(moment: str) -> datetime:
    return datetime.fromisoformat(moment.replace("Z", "+00:00"))


async def test_a_receipt_entry_is_answered_by_verify_receipt(
    service: tuple[Container, httpx.AsyncClient, AppleStoreState],
) -> None:
    _, api, store = service
    otid = store.subscribe(
        bundle_id=BUNDLE, product_id=PRODUCT, environment="Sandbox"
    ).original_transaction_id
    receipt = store.receipt(otid)
    response = await api.post("/apple/subscription/status", json={"subscriptions": [{"receipt": receipt}]})
    assert response.status_code == 200, response.text
    [status] = response.json()
    assert status["originalTransactionId"] == otid
    assert status["valid"] is True
    assert status["gracePeriod"] is False
    assert status["autoRenewStatus"] is True
    assert status["trialPeriod"] is False
    assert status["product"] == PRODUCT
    assert status["latestReceipt"] == receipt
    assert _parse(status["endWithGracePeriod"]) - _parse(status["end"]) == timedelta(days=30)


async def test_an_original_transaction_id_entry_is_answered_by_the_server_api(
    service: tuple[Container, httpx.AsyncClient, AppleStoreState],
) -> None:
    _, api, store = service
    otid = store.subscribe(
        bundle_id=BUNDLE, product_id=PRODUCT, environment="Sandbox"
    ).original_transaction_id
    store.set_auto_renew(otid, False)
    store.expire(otid)
    body = {"subscriptions": [{"originalTransactionId": otid, "clientSideValid": True}]}
    response = await api.post("/apple/subscription/status", json=body)
    assert response.status_code == 200, response.text
    [status] = response.json()
    assert status["originalTransactionId"] == otid
    assert status["autoRenewStatus"] is False
    # Expired just now: still inside the 30 days the original grants.
    assert status["valid"] is True
    assert status["gracePeriod"] is True
    assert _parse(status["end"]) <= datetime.now(UTC)
    assert "latestReceipt" not in status


async def test_unknown_subscriptions_and_refused_receipts_are_left_out(
    service: tuple[Container, httpx.AsyncClient, AppleStoreState],
) -> None:
    _, api, _ = service
    body = {
        "subscriptions": [{"originalTransactionId": "2999999999999999"}, {"receipt": "bm90IGEgcmVjZWlwdA=="}]
    }
    response = await api.post("/apple/subscription/status", json=body)
    assert response.status_code == 200
    assert response.json() == []


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ([], "the body must be"),
        ({"subscriptions": "x"}, "the body must be"),
        ({"subscriptions": ["x"]}, "subscriptions[0] must be an object"),
        ({"subscriptions": [{}]}, "needs a receipt or a numeric originalTransactionId"),
        ({"subscriptions": [{"originalTransactionId": "abc"}]}, "numeric originalTransactionId"),
        (
            {"subscriptions": [{"receipt": "r", "clientSideValid": "yes"}]},
            "clientSideValid must be a boolean",
        ),
        ({"subscriptions": [{"receipt": "r"}] * 101}, "at most 100"),
    ],
)
async def test_bad_status_bodies_get_400(
    service: tuple[Container, httpx.AsyncClient, AppleStoreState], body: object, detail: str
) -> None:
    _, api, _ = service
    response = await api.post("/apple/subscription/status", json=body)
    assert response.status_code == 400
    assert response.json()["message"] == "INVALID_REQUEST"
    assert detail in response.json()["detail"]


async def test_a_status_body_that_is_not_json_gets_400(
    service: tuple[Container, httpx.AsyncClient, AppleStoreState],
) -> None:
    _, api, _ = service
    response = await api.post("/apple/subscription/status", content=b"{not json")
    assert response.status_code == 400


def _verify_offer(
    public_key: ec.EllipticCurvePublicKey, bundle_id: str, request: dict[str, str], answer: dict[str, object]
) -> None:
    """Apple's check of a promotional offer signature (spec §3.9), done with the public key."""
    message = SEPARATOR.join(
        [
            bundle_id,
            str(answer["keyIdentifier"]),
            request["productIdentifier"],
            request["offerIdentifier"],
            request["username"].lower(),
            str(answer["nonce"]),
            str(answer["timestamp"]),
        ]
    )
    signature = base64.b64decode(str(answer["signature"]))
    public_key.verify(signature, message.encode(), ec.ECDSA(hashes.SHA256()))


OFFER_REQUEST = {"username": "Reader-42", "productIdentifier": PRODUCT, "offerIdentifier": "winback.50"}


async def test_the_local_profile_signs_offers_with_its_own_key(
    service: tuple[Container, httpx.AsyncClient, AppleStoreState],
) -> None:
    container, api, _ = service
    response = await api.post("/apple/fetchOfferDetails", json=OFFER_REQUEST)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert set(answer) == {"nonce", "timestamp", "keyIdentifier", "signature"}
    assert uuid.UUID(answer["nonce"]).version == 4
    assert answer["nonce"] == answer["nonce"].lower()
    assert abs(answer["timestamp"] - datetime.now(UTC).timestamp() * 1000) < 60_000
    key_file = apple_emulator_directory(container.settings) / "offers" / "api-key.p8"
    private = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    _verify_offer(private.public_key(), BUNDLE, OFFER_REQUEST, answer)
    with pytest.raises(InvalidSignature):
        _verify_offer(private.public_key(), BUNDLE, {**OFFER_REQUEST, "offerIdentifier": "other"}, answer)


async def test_a_configured_offer_key_signs_offers(tmp_path: Path) -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    key_file = tmp_path / "offer.p8"
    key_file.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    container = open_container(
        tmp_path,
        TOPOLOGY,
        apple_offer_bundle_id="uk.co.guardian.Feast",
        apple_offer_key_id="OFFERKEY42",
        apple_offer_private_key_file=key_file,
    )
    try:
        transport = httpx.ASGITransport(app=create_app(container))
        async with httpx.AsyncClient(transport=transport, base_url="http://sf") as api:
            response = await api.post("/apple/fetchOfferDetails", json=OFFER_REQUEST)
    finally:
        await container.aclose()
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["keyIdentifier"] == "OFFERKEY42"
    _verify_offer(private.public_key(), "uk.co.guardian.Feast", OFFER_REQUEST, answer)


@pytest.mark.parametrize(
    "body",
    [[], {"username": "u", "productIdentifier": "p"}, {**OFFER_REQUEST, "username": 42}],
)
async def test_bad_offer_bodies_get_400(
    service: tuple[Container, httpx.AsyncClient, AppleStoreState], body: object
) -> None:
    _, api, _ = service
    response = await api.post("/apple/fetchOfferDetails", json=body)
    assert response.status_code == 400


async def test_without_an_offer_key_the_endpoint_says_what_to_configure(tmp_path: Path) -> None:
    container = open_container(tmp_path, TOPOLOGY, emulators="off")
    try:
        transport = httpx.ASGITransport(app=create_app(container))
        async with httpx.AsyncClient(transport=transport, base_url="http://sf") as api:
            response = await api.post("/apple/fetchOfferDetails", json=OFFER_REQUEST)
    finally:
        await container.aclose()
    assert response.status_code == 503
    assert "SF_APPLE_OFFER_PRIVATE_KEY_FILE" in response.json()["detail"]


@pytest.mark.parametrize("kind", ["receipt", "originalTransactionId"])
async def test_a_refunded_subscription_is_not_valid(
    service: tuple[Container, httpx.AsyncClient, AppleStoreState], kind: str
) -> None:
    _, api, store = service
    otid = store.subscribe(
        bundle_id=BUNDLE, product_id=PRODUCT, environment="Sandbox"
    ).original_transaction_id
    store.refund(otid)
    entry = {"receipt": store.receipt(otid)} if kind == "receipt" else {"originalTransactionId": otid}
    response = await api.post("/apple/subscription/status", json={"subscriptions": [entry]})
    [status] = response.json()
    assert status["valid"] is False
    assert status["gracePeriod"] is False
