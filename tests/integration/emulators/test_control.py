"""The /__emulator/ control API both emulators share: injected faults, added latency, the
request log, reset and the state dump."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from supporterflow.emulators import create_user_service_app
from supporterflow.emulators.control import REQUEST_LOG_SIZE
from tests.integration.emulators.conftest import client_for, email, server_messages

SIGNUP = {"identities": [email("dante@example.com", "hash-email")]}
SUPPORTER = {"name": "s1", "first_name": "Dante"}


@pytest.fixture(params=["user-service", "erpnext"])
def emulator(request: pytest.FixtureRequest) -> tuple[httpx.AsyncClient, str, dict[str, Any]]:
    """``(client, path, body)``: either emulator with a request that stores something."""
    if request.param == "user-service":
        return request.getfixturevalue("user_service"), "/signup", SIGNUP
    return request.getfixturevalue("erpnext"), "/api/resource/Supporter", SUPPORTER


Emulator = tuple[httpx.AsyncClient, str, dict[str, Any]]


async def add_fault(client: httpx.AsyncClient, **fault: Any) -> None:
    response = await client.post("/__emulator/faults", json=fault)
    assert response.status_code == 201, response.text


async def stored(client: httpx.AsyncClient) -> int:
    state = (await client.get("/__emulator/state")).json()
    return len(state["users"]) if "users" in state else sum(len(d) for d in state["documents"].values())


async def test_the_next_count_matching_requests_fail_without_changing_state(emulator: Emulator) -> None:
    client, path, body = emulator
    await add_fault(client, status=503, count=3, path_prefix=path, method="post", message="down for a bit")

    failed = [await client.post(path, json=body) for _ in range(3)]
    assert [(r.status_code, r.json()) for r in failed] == [(503, {"message": "down for a bit"})] * 3
    assert await stored(client) == 0

    assert (await client.post(path, json=body)).status_code == 200
    assert (await client.get("/__emulator/faults")).json() == {"faults": []}


async def test_a_fault_leaves_other_paths_and_methods_alone(erpnext: httpx.AsyncClient) -> None:
    await add_fault(erpnext, status=500, count=-1, path_prefix="/api/resource/Gift", method="POST")

    assert (await erpnext.post("/api/resource/Supporter", json=SUPPORTER)).status_code == 200
    assert (await erpnext.get("/api/resource/Gift%20Aid%20Declaration")).status_code == 200
    gift_aid = await erpnext.post("/api/resource/Gift%20Aid%20Declaration", json={"x": 1})
    assert gift_aid.status_code == 500


async def test_a_fault_with_count_minus_one_lasts_until_cleared(emulator: Emulator) -> None:
    client, path, body = emulator
    await add_fault(client, status=429, count=-1)

    statuses = [(await client.post(path, json=body)).status_code for _ in range(5)]
    cleared = await client.delete("/__emulator/faults")

    assert statuses == [429] * 5
    assert cleared.json() == {"cleared": 1}
    assert (await client.post(path, json=body)).status_code == 200


async def test_a_fault_message_defaults_to_the_status_phrase(user_service: httpx.AsyncClient) -> None:
    await add_fault(user_service, status=502)
    response = await user_service.post("/match", json={"identity_hash": "x"})
    assert response.json() == {"message": "Bad Gateway"}


async def test_a_417_fault_on_erpnext_has_a_frappe_validation_error_body(erpnext: httpx.AsyncClient) -> None:
    await add_fault(erpnext, status=417, message="Postcode is invalid")

    response = await erpnext.post("/api/resource/Supporter", json=SUPPORTER)

    assert (response.status_code, response.json()["exc_type"]) == (417, "ValidationError")
    assert server_messages(response.json()) == ["Postcode is invalid"]


async def test_faults_never_touch_the_control_api(emulator: Emulator) -> None:
    client, _, _ = emulator
    await add_fault(client, status=503, count=-1)
    assert (await client.get("/__emulator/state")).status_code == 200


@pytest.mark.parametrize(
    "fault",
    [
        {},
        {"status": 200},
        {"status": "503"},
        {"status": 503, "count": 0},
        {"status": 503, "count": True},
        {"status": 503, "path_prefix": "api"},
        {"status": 503, "method": 1},
        {"status": 503, "message": None},
        [503],
    ],
)
async def test_a_malformed_fault_is_a_400(user_service: httpx.AsyncClient, fault: Any) -> None:
    response = await user_service.post("/__emulator/faults", json=fault)
    assert response.status_code == 400
    assert response.json()["message"]


async def test_latency_is_added_to_every_request_but_control_ones(emulator: Emulator) -> None:
    client, path, body = emulator
    assert (await client.put("/__emulator/latency", json={"ms": 60})).json() == {"ms": 60}

    started = time.perf_counter()
    await client.post(path, json=body)
    delayed = time.perf_counter() - started
    started = time.perf_counter()
    await client.get("/__emulator/requests")
    control = time.perf_counter() - started

    assert delayed >= 0.06
    assert control < 0.06


@pytest.mark.parametrize("body", [{}, {"ms": -1}, {"ms": "20"}, {"ms": True}])
async def test_a_malformed_latency_is_a_400(erpnext: httpx.AsyncClient, body: Any) -> None:
    assert (await erpnext.put("/__emulator/latency", json=body)).status_code == 400


async def test_the_request_log_shows_what_was_sent_and_answered(erpnext: httpx.AsyncClient) -> None:
    await erpnext.post("/api/resource/Gift%20Aid%20Declaration", json={"name": "g1"})
    await erpnext.get("/api/resource/Gift%20Aid%20Declaration/nope?x=1")
    await add_fault(erpnext, status=503)
    await erpnext.delete("/api/resource/Gift%20Aid%20Declaration/g1")

    logged = (await erpnext.get("/__emulator/requests")).json()["requests"]

    assert logged == [
        {
            "method": "POST",
            "path": "/api/resource/Gift Aid Declaration",
            "query": "",
            "status": 200,
            "body": {"name": "g1"},
            "fault": False,
        },
        {
            "method": "GET",
            "path": "/api/resource/Gift Aid Declaration/nope",
            "query": "x=1",
            "status": 404,
            "body": None,
            "fault": False,
        },
        {
            "method": "DELETE",
            "path": "/api/resource/Gift Aid Declaration/g1",
            "query": "",
            "status": 503,
            "body": None,
            "fault": True,
        },
    ]


async def test_the_request_log_keeps_the_most_recent_requests(user_service: httpx.AsyncClient) -> None:
    for i in range(REQUEST_LOG_SIZE + 5):
        await user_service.post("/match", json={"identity_hash": f"h{i}"})

    logged = (await user_service.get("/__emulator/requests")).json()["requests"]

    assert len(logged) == REQUEST_LOG_SIZE
    assert logged[0]["body"] == {"identity_hash": "h5"}
    assert logged[-1]["body"] == {"identity_hash": f"h{REQUEST_LOG_SIZE + 4}"}


async def test_reset_forgets_data_faults_latency_and_the_log(emulator: Emulator) -> None:
    client, path, body = emulator
    await client.post(path, json=body)
    await add_fault(client, status=503, count=-1, path_prefix="/nowhere")
    await client.put("/__emulator/latency", json={"ms": 5})

    assert (await client.post("/__emulator/reset")).json() == {"reset": True}

    assert await stored(client) == 0
    assert (await client.get("/__emulator/faults")).json() == {"faults": []}
    assert (await client.get("/__emulator/requests")).json() == {"requests": []}
    assert (await client.post(path, json=body)).status_code == 200


async def test_reset_restores_the_start_up_latency() -> None:
    app = create_user_service_app("k", latency_ms=40)
    async with client_for(app, {"x-api-key": "k"}) as client:
        await client.put("/__emulator/latency", json={"ms": 0})
        await client.post("/__emulator/reset")
        started = time.perf_counter()
        await client.post("/match", json={"identity_hash": "h"})
        assert time.perf_counter() - started >= 0.04


async def test_reset_restores_the_initial_mandatory_rules(erpnext: httpx.AsyncClient) -> None:
    await erpnext.put("/__emulator/mandatory", json={})
    await erpnext.post("/__emulator/reset")
    assert (await erpnext.get("/__emulator/state")).json()["mandatory"] == {"Supporter": ["first_name"]}


async def test_the_state_dump_shows_users_and_identities(user_service: httpx.AsyncClient) -> None:
    created = (await user_service.post("/signup", json=SIGNUP)).json()

    state = (await user_service.get("/__emulator/state")).json()

    assert state["users"] == [created["user"]]
    (identity,) = state["identities"]
    assert identity["hash"] == "hash-email"
    assert identity["ownerUuid"] == created["user"]["uuid"]
    assert (identity["verified"], identity["hidden"]) == (False, False)


async def test_the_state_dump_shows_documents_by_doctype(erpnext: httpx.AsyncClient) -> None:
    supporter = (await erpnext.post("/api/resource/Supporter", json=SUPPORTER)).json()["data"]
    donation = (await erpnext.post("/api/resource/Donation", json={"amount": 5})).json()["data"]

    state = (await erpnext.get("/__emulator/state")).json()

    assert state["documents"] == {"Supporter": [supporter], "Donation": [donation]}
