"""The user-service and ERPNext clients against the emulators: what each answer means."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from supporterflow.adapters.erpnext import ErpNextClient
from supporterflow.adapters.user_service import HttpUserService
from supporterflow.emulators.erpnext import create_erpnext_app
from supporterflow.emulators.user_service import create_user_service_app
from supporterflow.ports import ErpDocument, GiveUp, Retry

DECLARATION = ErpDocument("Gift Aid Declaration", "f4bc1c50", {"first_name": "Dante", "can_claim_giftaid": 1})


@pytest.fixture
async def erpnext() -> AsyncIterator[httpx.AsyncClient]:
    app = create_erpnext_app("key", "secret")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://erp") as client:
        yield client


@pytest.fixture
async def users() -> AsyncIterator[httpx.AsyncClient]:
    app = create_user_service_app("user-key")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://users") as client:
        yield client


async def fault(client: httpx.AsyncClient, status: int, count: int = 1) -> None:
    response = await client.post("/__emulator/faults", json={"status": status, "count": count})
    assert response.status_code == 201, response.text


async def test_an_upsert_creates_then_updates_the_same_document(erpnext: httpx.AsyncClient) -> None:
    erp = ErpNextClient(erpnext, "key", "secret")
    first = await erp.upsert(DECLARATION)
    again = await erp.upsert(ErpDocument(DECLARATION.doctype, DECLARATION.name, {"can_claim_giftaid": 0}))
    assert (first.result, again.result) == ("created", "updated")
    stored = (
        await erpnext.get("/api/resource/Gift%20Aid%20Declaration/f4bc1c50", headers=erp._headers)
    ).json()
    assert stored["data"]["can_claim_giftaid"] == 0
    assert stored["data"]["first_name"] == "Dante"


async def test_a_417_is_permanent_with_frappes_message(erpnext: httpx.AsyncClient) -> None:
    await erpnext.put("/__emulator/mandatory", json={"Gift Aid Declaration": ["postal_id"]})
    with pytest.raises(GiveUp, match="417") as refused:
        await ErpNextClient(erpnext, "key", "secret").upsert(DECLARATION)
    assert "postal_id" in str(refused.value)


@pytest.mark.parametrize("status", [429, 500, 502, 503])
async def test_busy_or_failing_erpnext_is_retried(erpnext: httpx.AsyncClient, status: int) -> None:
    await fault(erpnext, status)
    with pytest.raises(Retry, match=str(status)):
        await ErpNextClient(erpnext, "key", "secret").upsert(DECLARATION)


async def test_wrong_erpnext_credentials_are_permanent(erpnext: httpx.AsyncClient) -> None:
    with pytest.raises(GiveUp, match="token"):
        await ErpNextClient(erpnext, "key", "wrong").upsert(DECLARATION)


async def test_a_timeout_is_retried() -> None:
    def hang(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(hang), base_url="http://erp") as client:
        with pytest.raises(Retry, match="timed out"):
            await ErpNextClient(client, "k", "s").upsert(DECLARATION)
        with pytest.raises(Retry, match="timed out"):
            await HttpUserService(client, "k").match({"identity_hash": "h"})


async def test_signup_then_match_by_identity_hash(users: httpx.AsyncClient) -> None:
    service = HttpUserService(users, "user-key")
    signed_up = await service.signup(
        {
            "firstName": "Dante",
            "lastName": "",
            "identities": [{"kind": "email", "content": "d@x.co", "hash": "h1"}],
        }
    )
    matched = await service.match({"identity_hash": "h1"})
    assert matched is not None
    assert matched["user"]["uuid"] == signed_up["user"]["uuid"]


async def test_no_match_is_none(users: httpx.AsyncClient) -> None:
    assert await HttpUserService(users, "user-key").match({"identity_hash": "unknown"}) is None


async def test_a_wrong_user_service_key_is_permanent(users: httpx.AsyncClient) -> None:
    with pytest.raises(GiveUp, match="API key"):
        await HttpUserService(users, "wrong").match({"identity_hash": "h"})


async def test_a_refused_signup_is_permanent(users: httpx.AsyncClient) -> None:
    with pytest.raises(GiveUp, match="refused the signup"):
        await HttpUserService(users, "user-key").signup({"identities": []})
