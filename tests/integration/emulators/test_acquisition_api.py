"""The Acquisition API emulator: an ``AcquisitionDataRow`` POSTed to any path is checked like the
real API decodes it (400 listing every problem) and kept for ``GET /__emulator/state``; faults,
reset and persistence come from the shared control machinery."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from supporterflow.emulators.acquisition_api import AcquisitionApiState, create_acquisition_api_app
from tests.integration.emulators.conftest import client_for

EVENT: dict[str, Any] = {
    "eventTimeStamp": "2026-02-14T09:30:00.000Z",
    "product": "FEAST_APP",
    "country": "GB",
    "currency": "GBP",
    "abTests": [],
    "paymentFrequency": "MONTHLY",
    "labels": [],
    "reusedExistingPaymentMethod": False,
    "readerType": "Direct",
    "acquisitionType": "PURCHASE",
    "paymentId": "2000000123456789",
    "queryParameters": [],
}


@pytest.fixture
def events() -> Iterator[AcquisitionApiState]:
    state = AcquisitionApiState()
    yield state
    state.close()


@pytest.fixture
async def api(events: AcquisitionApiState) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(create_acquisition_api_app(events), {}) as client:
        yield client


async def state_of(api: httpx.AsyncClient) -> list[dict[str, Any]]:
    response = await api.get("/__emulator/state")
    assert response.status_code == 200
    acquisitions: list[dict[str, Any]] = response.json()["acquisitions"]
    return acquisitions


@pytest.mark.parametrize("path", ["/", "/acquisition", "/prod/acquisitions/feast"])
async def test_an_acquisition_posted_to_any_path_is_kept(api: httpx.AsyncClient, path: str) -> None:
    response = await api.post(path, json=EVENT)
    assert response.status_code == 200, response.text
    assert response.json()["message"] == "Acquisition recorded"
    assert await state_of(api) == [EVENT]


async def test_acquisitions_are_kept_in_arrival_order(api: httpx.AsyncClient) -> None:
    for payment_id in ("a", "b", "c"):
        assert (await api.post("/", json={**EVENT, "paymentId": payment_id})).status_code == 200
    assert [event["paymentId"] for event in await state_of(api)] == ["a", "b", "c"]


async def test_optional_fields_may_be_null_or_set_and_unknown_fields_are_ignored(
    api: httpx.AsyncClient,
) -> None:
    event = {
        **EVENT,
        "amount": 4.99,
        "componentId": None,
        "identityId": "100001",
        "printOptions": None,
        "abTests": [{"name": "test", "variant": "control"}],
        "labels": ["feast"],
        "queryParameters": [{"name": "utm", "value": "app"}],
        "somethingNew": {"kept": True},
    }
    assert (await api.post("/", json=event)).status_code == 200
    assert await state_of(api) == [event]


async def test_every_missing_field_is_listed(api: httpx.AsyncClient) -> None:
    response = await api.post("/", json={"paymentId": "x"})
    assert response.status_code == 400
    assert response.json()["errors"] == [
        "eventTimeStamp is required",
        "product is required",
        "country is required",
        "currency is required",
        "abTests is required",
        "paymentFrequency is required",
        "labels is required",
        "reusedExistingPaymentMethod is required",
        "readerType is required",
        "acquisitionType is required",
        "queryParameters is required",
    ]
    assert await state_of(api) == []


async def test_every_wrong_value_is_listed(api: httpx.AsyncClient) -> None:
    event = {
        **EVENT,
        "eventTimeStamp": "2026-02-14 09:30",
        "product": "FEAST",
        "country": "GBR",
        "currency": "gbp",
        "abTests": [{"name": "test"}],
        "paymentFrequency": "YEARLY",
        "labels": [1],
        "reusedExistingPaymentMethod": "false",
        "readerType": "direct",
        "acquisitionType": "SALE",
        "queryParameters": {},
        "paymentId": 2000000123456789,
        "amount": "4.99",
        "printOptions": "none",
    }
    response = await api.post("/", json=event)
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert errors[0] == "eventTimeStamp must be an ISO 8601 date-time with a zone"
    assert errors[1].startswith("product must be one of APP_PREMIUM_TIER, CONTRIBUTION, ")
    assert errors[2:] == [
        "country must be an ISO 3166 alpha-2 code",
        "currency must be an ISO 4217 code",
        "abTests must be an array of {name, variant}",
        "paymentFrequency must be one of ANNUALLY, MONTHLY, ONE_OFF, QUARTERLY, SIX_MONTHLY",
        "labels must be an array of strings",
        "reusedExistingPaymentMethod must be a boolean",
        "readerType must be one of Corporate, Direct, Gift, Patron",
        "acquisitionType must be one of PURCHASE, REDEMPTION",
        "queryParameters must be an array of {name, value}",
        "paymentId must be a string or null",
        "amount must be a number or null",
        "printOptions must be an object or null",
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "The request body is empty"),
        (b"{not json", "The request body is not valid JSON"),
        (b"[]", "The request body must be a JSON object"),
    ],
)
async def test_a_body_that_is_no_json_object_is_refused(
    api: httpx.AsyncClient, content: bytes, message: str
) -> None:
    response = await api.post("/", content=content, headers={"Content-Type": "application/json"})
    assert (response.status_code, response.json()["message"]) == (400, message)


async def test_only_post_is_an_acquisition_and_the_control_paths_are_not(api: httpx.AsyncClient) -> None:
    assert (await api.get("/")).status_code == 405
    assert (await api.post("/__emulator/unknown", json=EVENT)).status_code == 404
    assert await state_of(api) == []


async def test_an_injected_fault_answers_before_anything_is_kept(api: httpx.AsyncClient) -> None:
    fault = {"status": 503, "count": 1, "retry_after_s": 7}
    assert (await api.post("/__emulator/faults", json=fault)).status_code == 201
    failed = await api.post("/", json=EVENT)
    assert (failed.status_code, failed.headers["retry-after"]) == (503, "7")
    assert await state_of(api) == []
    assert (await api.post("/", json=EVENT)).status_code == 200
    assert await state_of(api) == [EVENT]
    logged = (await api.get("/__emulator/requests")).json()["requests"]
    assert [(r["path"], r["status"], r["fault"], r["body"]) for r in logged] == [
        ("/", 503, True, EVENT),
        ("/", 200, False, EVENT),
    ]


async def test_reset_forgets_the_acquisitions(api: httpx.AsyncClient) -> None:
    await api.post("/", json=EVENT)
    assert (await api.post("/__emulator/reset")).status_code == 200
    assert await state_of(api) == []


async def test_a_state_file_keeps_the_acquisitions_across_restarts(tmp_path: Path) -> None:
    path = tmp_path / "acquisitions.sqlite3"
    first = AcquisitionApiState(path)
    async with client_for(create_acquisition_api_app(first), {}) as api:
        assert (await api.post("/", json=EVENT)).status_code == 200
    first.close()
    second = AcquisitionApiState(path)
    try:
        assert second.acquisitions() == [EVENT]
    finally:
        second.close()
