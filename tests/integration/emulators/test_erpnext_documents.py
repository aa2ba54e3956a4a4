"""The ERPNext emulator's documents: token auth, create/read/update/delete under
/api/resource/<DocType>, Frappe's metadata and child rows, and Frappe's error bodies."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.integration.emulators.conftest import server_messages

GIFT_AID = "/api/resource/Gift%20Aid%20Declaration"
SUPPORTER = "/api/resource/Supporter"
UUID = "389d0996-4682-43fe-b90a-f53855dcf7dc"


async def create(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(path, json=body)
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()["data"]
    return document


def assert_frappe_error(response: httpx.Response, status: int, exc_type: str) -> list[str]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["exc_type"] == exc_type
    assert body["exception"].startswith(f"frappe.exceptions.{exc_type}: ")
    return server_messages(body)


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "token test-erpnext-key:wrong",
        "token test-erpnext-key",
        "Bearer test-erpnext-key:test-erpnext-secret",
    ],
)
async def test_a_request_without_the_right_token_is_a_401(
    erpnext: httpx.AsyncClient, authorization: str | None
) -> None:
    erpnext.headers.pop("Authorization")
    headers = {"Authorization": authorization} if authorization else {}
    for response in [
        await erpnext.get(SUPPORTER, headers=headers),
        await erpnext.post(SUPPORTER, json={"first_name": "Dante"}, headers=headers),
        await erpnext.get(f"{SUPPORTER}/{UUID}", headers=headers),
    ]:
        assert_frappe_error(response, 401, "AuthenticationError")


async def test_a_created_document_carries_frappe_metadata_and_reads_back(erpnext: httpx.AsyncClient) -> None:
    created = await create(erpnext, GIFT_AID, {"supporter_uuid": UUID, "can_claim_giftaid": 1})

    assert re.fullmatch(r"[0-9a-f]{10}", created["name"])
    assert created["doctype"] == "Gift Aid Declaration"
    assert (created["owner"], created["modified_by"], created["docstatus"], created["idx"]) == (
        "Administrator",
        "Administrator",
        0,
        0,
    )
    assert created["creation"] == created["modified"]
    assert (created["supporter_uuid"], created["can_claim_giftaid"]) == (UUID, 1)
    response = await erpnext.get(f"{GIFT_AID}/{created['name']}")
    assert response.json() == {"data": created}


async def test_a_document_is_named_by_the_name_it_is_given(erpnext: httpx.AsyncClient) -> None:
    created = await create(erpnext, SUPPORTER, {"name": UUID, "first_name": "Dante"})
    assert created["name"] == UUID
    assert (await erpnext.get(f"{SUPPORTER}/{UUID}")).status_code == 200


async def test_child_table_rows_carry_their_parent(erpnext: httpx.AsyncClient) -> None:
    created = await create(
        erpnext,
        SUPPORTER,
        {
            "name": UUID,
            "first_name": "Dante",
            "phone": [{"type": "Mobile", "number": "+447000000000"}],
            "email": [{"doctype": "Email Address", "name": "hash-email", "email": "d@example.com"}],
        },
    )

    (phone,) = created["phone"]
    assert phone["number"] == "+447000000000"
    assert (phone["parent"], phone["parenttype"], phone["parentfield"], phone["idx"]) == (
        UUID,
        "Supporter",
        "phone",
        1,
    )
    assert phone["doctype"] == "Phone"
    assert re.fullmatch(r"[0-9a-f]{10}", phone["name"])
    (address,) = created["email"]
    assert (address["doctype"], address["name"]) == ("Email Address", "hash-email")


async def test_creating_an_existing_name_is_a_409_and_changes_nothing(erpnext: httpx.AsyncClient) -> None:
    await create(erpnext, SUPPORTER, {"name": UUID, "first_name": "Dante"})

    response = await erpnext.post(SUPPORTER, json={"name": UUID, "first_name": "Other"})

    messages = assert_frappe_error(response, 409, "DuplicateEntryError")
    assert messages == [f"Supporter {UUID} already exists"]
    assert (await erpnext.get(f"{SUPPORTER}/{UUID}")).json()["data"]["first_name"] == "Dante"


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
async def test_a_missing_document_is_a_404(erpnext: httpx.AsyncClient, method: str) -> None:
    body = {"first_name": "X"} if method == "PUT" else None
    response = await erpnext.request(method, f"{GIFT_AID}/nope", json=body)
    assert assert_frappe_error(response, 404, "DoesNotExistError") == ["Gift Aid Declaration nope not found"]


async def test_an_update_changes_only_the_given_fields_and_replaces_given_tables(
    erpnext: httpx.AsyncClient,
) -> None:
    created = await create(
        erpnext,
        SUPPORTER,
        {"name": UUID, "first_name": "Dante", "last_name": "Alighieri", "phone": [{"number": "+441"}]},
    )

    response = await erpnext.put(
        f"{SUPPORTER}/{UUID}",
        json={"last_name": "Durante", "phone": [{"number": "+442"}, {"number": "+443"}], "owner": "mallory"},
    )

    updated = response.json()["data"]
    assert (updated["first_name"], updated["last_name"], updated["owner"]) == (
        "Dante",
        "Durante",
        "Administrator",
    )
    assert [(row["number"], row["idx"]) for row in updated["phone"]] == [("+442", 1), ("+443", 2)]
    assert updated["creation"] == created["creation"]
    assert updated["modified"] > created["modified"]
    assert (await erpnext.get(f"{SUPPORTER}/{UUID}")).json()["data"] == updated


async def test_a_deleted_document_is_gone(erpnext: httpx.AsyncClient) -> None:
    await create(erpnext, SUPPORTER, {"name": UUID, "first_name": "Dante"})

    response = await erpnext.delete(f"{SUPPORTER}/{UUID}")

    assert (response.status_code, response.json()) == (202, {"message": "ok"})
    assert (await erpnext.get(f"{SUPPORTER}/{UUID}")).status_code == 404


async def test_a_create_missing_a_mandatory_field_is_a_417(erpnext: httpx.AsyncClient) -> None:
    response = await erpnext.post(SUPPORTER, json={"name": UUID, "last_name": "Alighieri", "first_name": ""})

    messages = assert_frappe_error(response, 417, "MandatoryError")
    assert messages == ["Error: Value missing for Supporter: first_name"]
    assert (await erpnext.get(f"{SUPPORTER}/{UUID}")).status_code == 404


async def test_an_update_clearing_a_mandatory_field_is_a_417_and_changes_nothing(
    erpnext: httpx.AsyncClient,
) -> None:
    await create(erpnext, SUPPORTER, {"name": UUID, "first_name": "Dante"})

    response = await erpnext.put(f"{SUPPORTER}/{UUID}", json={"first_name": None, "last_name": "X"})

    assert_frappe_error(response, 417, "MandatoryError")
    stored = (await erpnext.get(f"{SUPPORTER}/{UUID}")).json()["data"]
    assert (stored["first_name"], "last_name" in stored) == ("Dante", False)


async def test_mandatory_rules_are_replaced_through_the_control_api(erpnext: httpx.AsyncClient) -> None:
    response = await erpnext.put("/__emulator/mandatory", json={"Gift Aid Declaration": ["supporter_uuid"]})
    assert response.json() == {"mandatory": {"Gift Aid Declaration": ["supporter_uuid"]}}

    assert (await erpnext.post(SUPPORTER, json={"last_name": "X"})).status_code == 200
    refused = await erpnext.post(GIFT_AID, json={"first_name": "X"})
    assert assert_frappe_error(refused, 417, "MandatoryError") == [
        "Error: Value missing for Gift Aid Declaration: supporter_uuid"
    ]


@pytest.mark.parametrize("rules", [["Supporter"], {"Supporter": "first_name"}, {"Supporter": [1]}])
async def test_malformed_mandatory_rules_are_a_400(erpnext: httpx.AsyncClient, rules: Any) -> None:
    assert (await erpnext.put("/__emulator/mandatory", json=rules)).status_code == 400


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b""])
async def test_a_body_that_is_not_a_json_object_is_a_417(erpnext: httpx.AsyncClient, content: bytes) -> None:
    assert_frappe_error(await erpnext.post(GIFT_AID, content=content), 417, "ValidationError")
