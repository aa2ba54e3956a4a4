"""The user-service and ERPNext clients against the emulators: what each answer means."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from supporterflow.adapters.erpnext import ErpNextClient
from supporterflow.adapters.outbound import AsgiTransport, Reply, Unreachable
from supporterflow.adapters.user_service import HttpUserService
from supporterflow.emulators.erpnext import create_erpnext_app
from supporterflow.emulators.user_service import create_user_service_app
from supporterflow.ports import ErpDocument, GiveUp, Retry

DECLARATION = ErpDocument("Gift Aid Declaration", "f4bc1c50", {"first_name": "Dante", "can_claim_giftaid": 1})


@dataclass
class Emulated:
    """An emulator app, the transport our adapters use to call it, and a client for its controls."""

    transport: AsgiTransport
    control: httpx.AsyncClient


async def emulated(app: Any) -> Emulated:
    control = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://control")
    return Emulated(AsgiTransport(app), control)


@pytest.fixture
async def erpnext() -> AsyncIterator[Emulated]:
    world = await emulated(create_erpnext_app("key", "secret"))
    yield world
    await world.transport.aclose()
    await world.control.aclose()


@pytest.fixture
async def users() -> AsyncIterator[Emulated]:
    world = await emulated(create_user_service_app("user-key"))
    yield world
    await world.transport.aclose()
    await world.control.aclose()


class Hanging:
    """A service that never answers in time."""

    async def request(self, method: str, path: str, **_: Any) -> Reply:
        raise Unreachable("timed out")

    async def aclose(self) -> None: ...


async def fault(emulator: Emulated, status: int, count: int = 1) -> None:
    response = await emulator.control.post("/__emulator/faults", json={"status": status, "count": count})
    assert response.status_code == 201, response.text


async def test_an_upsert_creates_then_updates_the_same_document(erpnext: Emulated) -> None:
    erp = ErpNextClient(erpnext.transport, "key", "secret")
    first = await erp.upsert(DECLARATION)
    again = await erp.upsert(ErpDocument(DECLARATION.doctype, DECLARATION.name, {"can_claim_giftaid": 0}))
    assert (first.result, again.result) == ("created", "updated")
    path = "/api/resource/Gift%20Aid%20Declaration/f4bc1c50"
    stored = (await erpnext.control.get(path, headers={"Authorization": "token key:secret"})).json()
    assert stored["data"]["can_claim_giftaid"] == 0
    assert stored["data"]["first_name"] == "Dante"


async def test_rows_of_a_merged_document_are_added_to_the_stored_ones(erpnext: Emulated) -> None:
    erp = ErpNextClient(erpnext.transport, "key", "secret")
    first = ErpDocument(
        "Supporter", "s-1", {"first_name": "Dante", "phone": [{"id": "h1", "number": "+441"}]}, True
    )
    second = ErpDocument("Supporter", "s-1", {"email": [], "phone": [{"id": "h2", "number": "+442"}]}, True)
    again = ErpDocument(
        "Supporter", "s-1", {"phone": [{"id": "h1", "number": "+441", "verified": True}]}, True
    )
    assert [(await erp.upsert(d)).result for d in (first, second, again)] == ["created", "updated", "updated"]
    response = await erpnext.control.get(
        "/api/resource/Supporter/s-1", headers={"Authorization": "token key:secret"}
    )
    stored = response.json()["data"]
    assert stored["first_name"] == "Dante"
    assert [(row["id"], row.get("verified")) for row in stored["phone"]] == [("h1", True), ("h2", None)]


async def test_a_417_is_permanent_with_frappes_message(erpnext: Emulated) -> None:
    await erpnext.control.put("/__emulator/mandatory", json={"Gift Aid Declaration": ["postal_id"]})
    with pytest.raises(GiveUp, match="417") as refused:
        await ErpNextClient(erpnext.transport, "key", "secret").upsert(DECLARATION)
    assert "postal_id" in str(refused.value)


@pytest.mark.parametrize("status", [429, 500, 502, 503])
async def test_busy_or_failing_erpnext_is_retried(erpnext: Emulated, status: int) -> None:
    await fault(erpnext, status)
    with pytest.raises(Retry, match=str(status)):
        await ErpNextClient(erpnext.transport, "key", "secret").upsert(DECLARATION)


async def test_wrong_erpnext_credentials_are_permanent(erpnext: Emulated) -> None:
    with pytest.raises(GiveUp, match="token"):
        await ErpNextClient(erpnext.transport, "key", "wrong").upsert(DECLARATION)


async def test_a_timeout_is_retried() -> None:
    with pytest.raises(Retry, match="timed out"):
        await ErpNextClient(Hanging(), "k", "s").upsert(DECLARATION)
    with pytest.raises(Retry, match="timed out"):
        await HttpUserService(Hanging(), "k").match({"identity_hash": "h"})


async def test_signup_then_match_by_identity_hash(users: Emulated) -> None:
    service = HttpUserService(users.transport, "user-key")
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


async def test_no_match_is_none(users: Emulated) -> None:
    assert await HttpUserService(users.transport, "user-key").match({"identity_hash": "unknown"}) is None


async def test_a_wrong_user_service_key_is_permanent(users: Emulated) -> None:
    with pytest.raises(GiveUp, match="API key"):
        await HttpUserService(users.transport, "wrong").match({"identity_hash": "h"})


async def test_a_refused_signup_is_permanent(users: Emulated) -> None:
    with pytest.raises(GiveUp, match="refused the signup"):
        await HttpUserService(users.transport, "user-key").signup({"identities": []})
