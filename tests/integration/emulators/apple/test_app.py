"""The emulator over HTTP: Get All Subscription Statuses through the library's own client,
legacy verifyReceipt, and the App Store control routes."""

from __future__ import annotations

from typing import Any

import httpx
import jwt
import pytest
from appstoreserverlibrary.api_client import APIException, AsyncAppStoreServerAPIClient
from appstoreserverlibrary.models.Status import Status
from appstoreserverlibrary.signed_data_verifier import SignedDataVerifier

from supporterflow.emulators.apple.auth import ApiKey
from supporterflow.emulators.apple.store import PRODUCTION, AppleStoreState
from tests.integration.emulators.apple.conftest import BUNDLE_ID, PRODUCT_ID


def new(state: AppleStoreState, environment: str = "Sandbox", bundle_id: str = BUNDLE_ID) -> str:
    return state.subscribe(
        bundle_id=bundle_id, product_id=PRODUCT_ID, environment=environment
    ).original_transaction_id


async def test_the_library_client_reads_all_subscription_statuses(
    state: AppleStoreState, api_client: AsyncAppStoreServerAPIClient, verifier: SignedDataVerifier
) -> None:
    otid = new(state)
    state.fail_to_renew(otid, grace=True)

    response = await api_client.get_all_subscription_statuses(otid)

    assert response.bundleId == BUNDLE_ID
    assert response.data is not None
    [group] = response.data
    assert group.lastTransactions is not None
    [item] = group.lastTransactions
    assert (item.originalTransactionId, item.status) == (otid, Status.BILLING_GRACE_PERIOD)
    assert item.signedRenewalInfo is not None
    renewal = verifier.verify_and_decode_renewal_info(item.signedRenewalInfo)
    assert renewal.isInBillingRetryPeriod is True


async def test_a_status_filter_leaves_out_other_statuses(
    state: AppleStoreState, api_client: AsyncAppStoreServerAPIClient
) -> None:
    otid = new(state)
    response = await api_client.get_all_subscription_statuses(otid, [Status.EXPIRED])
    assert response.data == []


@pytest.mark.parametrize("setup", ["unknown", "other bundle", "production"])
async def test_a_subscription_out_of_reach_is_not_found(
    state: AppleStoreState, api_client: AsyncAppStoreServerAPIClient, setup: str
) -> None:
    otid = {
        "unknown": "2999",
        "other bundle": new(state, bundle_id="com.other"),
        "production": new(state, PRODUCTION),
    }[setup]
    with pytest.raises(APIException) as raised:
        await api_client.get_all_subscription_statuses(otid)
    assert (raised.value.http_status_code, raised.value.raw_api_error) == (404, 4040010)


def token(key: ApiKey, **changes: Any) -> str:
    claims = {
        "iss": key.issuer_id,
        "aud": "appstoreconnect-v1",
        "bid": BUNDLE_ID,
        "exp": 4_000_000_000,
        **changes,
    }
    kid = claims.pop("kid", key.key_id)
    return jwt.encode(
        {k: v for k, v in claims.items() if v is not None}, key.private_key, "ES256", {"kid": kid}
    )


@pytest.mark.parametrize(
    "changes",
    [
        {"iss": "other"},
        {"aud": "other"},
        {"kid": "OTHER"},
        {"exp": 1},
        {"bid": None},
        {"signed_by": "other key"},
    ],
)
async def test_a_bad_bearer_token_is_unauthenticated(
    state: AppleStoreState, app_store: httpx.AsyncClient, api_key: ApiKey, changes: dict[str, Any]
) -> None:
    otid = new(state)
    key = ApiKey.generate() if changes.pop("signed_by", None) else api_key
    response = await app_store.get(
        f"/inApps/v1/subscriptions/{otid}", headers={"Authorization": f"Bearer {token(key, **changes)}"}
    )
    assert response.status_code == 401
    good = await app_store.get(
        f"/inApps/v1/subscriptions/{otid}", headers={"Authorization": f"Bearer {token(api_key)}"}
    )
    assert good.status_code == 200


async def verify(client: httpx.AsyncClient, path: str, receipt: str, **extra: Any) -> dict[str, Any]:
    response = await client.post(path, json={"receipt-data": receipt, "password": "shh", **extra})
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


async def test_verify_receipt_answers_the_latest_receipt_info(
    state: AppleStoreState, app_store: httpx.AsyncClient
) -> None:
    otid = new(state)
    state.renew(otid)
    receipt = state.receipt(otid)

    body = await verify(app_store, "/sandbox/verifyReceipt", receipt)
    latest = await verify(app_store, "/sandbox/verifyReceipt", receipt, **{"exclude-old-transactions": True})

    assert (body["status"], body["environment"], body["latest_receipt"]) == (0, "Sandbox", receipt)
    assert [info["original_transaction_id"] for info in body["latest_receipt_info"]] == [otid, otid]
    newest = state.get(otid)["transactions"][-1]
    assert latest["latest_receipt_info"][0]["expires_date_ms"] == str(newest["expiresDate"])
    assert len(latest["latest_receipt_info"]) == 1
    assert body["pending_renewal_info"][0]["auto_renew_status"] == "1"
    assert body["receipt"]["bundle_id"] == BUNDLE_ID


@pytest.mark.parametrize(
    ("environment", "path", "status"),
    [
        ("Sandbox", "/verifyReceipt", 21007),
        (PRODUCTION, "/sandbox/verifyReceipt", 21008),
        (PRODUCTION, "/verifyReceipt", 0),
    ],
)
async def test_verify_receipt_refuses_a_receipt_of_the_other_environment(
    state: AppleStoreState, app_store: httpx.AsyncClient, environment: str, path: str, status: int
) -> None:
    assert (await verify(app_store, path, state.receipt(new(state, environment))))["status"] == status


async def test_verify_receipt_errors(state: AppleStoreState, app_store: httpx.AsyncClient) -> None:
    assert (await app_store.post("/verifyReceipt", content=b"{")).json() == {"status": 21002}
    assert (await verify(app_store, "/verifyReceipt", "not a receipt"))["status"] == 21002
    wrong_secret = await app_store.post(
        "/sandbox/verifyReceipt", json={"receipt-data": state.receipt(new(state))}
    )
    assert wrong_secret.json() == {"status": 21004}

    forced = await app_store.post("/__emulator/verify-receipt-status", json={"status": 21100, "count": 1})
    assert forced.status_code == 201
    assert (await verify(app_store, "/verifyReceipt", "x")) == {"status": 21100, "is-retryable": True}
    assert (await verify(app_store, "/verifyReceipt", "x"))["status"] == 21002


async def test_control_routes_drive_the_life_cycle(app_store: httpx.AsyncClient) -> None:
    created = await app_store.post(
        "/__emulator/subscriptions", json={"bundleId": BUNDLE_ID, "productId": PRODUCT_ID}
    )
    assert created.status_code == 201
    otid = created.json()["step"]["original_transaction_id"]
    assert created.json()["receipt"]

    refunded = await app_store.post(f"/__emulator/subscriptions/{otid}/refund")
    assert refunded.json()["step"]["notification_type"] == "REFUND"
    assert (await app_store.post(f"/__emulator/subscriptions/{otid}/cancel")).status_code == 400
    assert (await app_store.post("/__emulator/subscriptions/1/renew")).status_code == 404
    assert (await app_store.post("/__emulator/subscriptions", json={"bundleId": 1})).status_code == 400
    [subscription] = (await app_store.get("/__emulator/state")).json()["subscriptions"]
    assert subscription["status"] == 5

    await app_store.post("/__emulator/reset")
    assert (await app_store.get("/__emulator/state")).json() == {"subscriptions": []}


async def test_shared_faults_apply(app_store: httpx.AsyncClient) -> None:
    await app_store.post("/__emulator/faults", json={"status": 503, "path_prefix": "/verifyReceipt"})
    assert (await app_store.post("/verifyReceipt", json={})).status_code == 503
    assert (await app_store.post("/verifyReceipt", json={})).json() == {"status": 21002}
