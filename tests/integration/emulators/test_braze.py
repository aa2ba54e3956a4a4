"""The Braze emulator: ``/users/export/ids`` answers like Braze's user export behind a bearer key,
and ``/__emulator/users`` registers the profiles it exports."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from supporterflow.emulators.braze import MAX_EXTERNAL_IDS, BrazeState, create_braze_app
from supporterflow.emulators.cli import emulate_app
from tests.integration.emulators.conftest import client_for

KEY = "test-braze-key"
EXPORT = "/users/export/ids"
CUSTOM = {"fields_to_export": ["custom_attributes"]}


@pytest.fixture
def users() -> Iterator[BrazeState]:
    state = BrazeState()
    yield state
    state.close()


@pytest.fixture
async def braze(users: BrazeState) -> AsyncIterator[httpx.AsyncClient]:
    """A client sending the right bearer key."""
    async with client_for(create_braze_app(KEY, users), {"Authorization": f"Bearer {KEY}"}) as c:
        yield c


async def register(client: httpx.AsyncClient, external_id: str, identity_id: str | None) -> None:
    body = {"external_id": external_id, "identity_id": identity_id}
    response = await client.post("/__emulator/users", json=body)
    assert response.status_code == 201, response.text


async def export(client: httpx.AsyncClient, *external_ids: str, **extra: Any) -> dict[str, Any]:
    response = await client.post(EXPORT, json={"external_ids": list(external_ids), **extra})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "Invalid API key: "),
        ({"Authorization": "Bearer wrong"}, "Invalid API key: wrong"),
        ({"Authorization": KEY}, "Invalid API key: "),
    ],
)
async def test_a_missing_or_wrong_key_is_a_401_naming_the_key(
    braze: httpx.AsyncClient, headers: dict[str, str], message: str
) -> None:
    braze.headers.pop("Authorization")
    response = await braze.post(EXPORT, json={"external_ids": ["a"], **CUSTOM}, headers=headers)
    assert (response.status_code, response.json()) == (401, {"message": message})


async def test_a_known_user_is_exported_with_its_identity_id(braze: httpx.AsyncClient) -> None:
    await register(braze, "token-1", "100001")
    assert await export(braze, "token-1", **CUSTOM) == {
        "users": [{"external_id": "token-1", "custom_attributes": {"identity_id": "100001"}}],
        "message": "success",
    }


async def test_an_unknown_user_is_an_invalid_user_id(braze: httpx.AsyncClient) -> None:
    await register(braze, "token-1", "100001")
    body = await export(braze, "unknown", "token-1", "unknown", **CUSTOM)
    assert [user["external_id"] for user in body["users"]] == ["token-1"]
    assert body["invalid_user_ids"] == ["unknown"]
    assert body["message"] == "success"


async def test_a_user_without_identity_id_has_no_such_attribute(braze: httpx.AsyncClient) -> None:
    await register(braze, "token-1", None)
    assert await export(braze, "token-1", **CUSTOM) == {
        "users": [{"external_id": "token-1"}],
        "message": "success",
    }


async def test_custom_attributes_are_exported_only_when_asked_for(braze: httpx.AsyncClient) -> None:
    await register(braze, "token-1", "100001")
    everything = await export(braze, "token-1")
    others = await export(braze, "token-1", fields_to_export=["email"])
    assert everything["users"] == [{"external_id": "token-1", "custom_attributes": {"identity_id": "100001"}}]
    assert others["users"] == [{"external_id": "token-1"}]


async def test_registering_again_replaces_the_profile(braze: httpx.AsyncClient) -> None:
    await register(braze, "token-1", "100001")
    await register(braze, "token-1", None)
    await register(braze, "token-2", "100002")
    assert (await braze.get("/__emulator/state")).json() == {
        "users": [
            {"external_id": "token-1", "custom_attributes": {}},
            {"external_id": "token-2", "custom_attributes": {"identity_id": "100002"}},
        ]
    }


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ([], "The request body must be a JSON object"),
        ({}, "external_ids must be a non-empty array of strings"),
        ({"external_ids": "token-1"}, "external_ids must be a non-empty array of strings"),
        ({"external_ids": ["token-1", 7]}, "external_ids must contain only non-empty strings"),
        ({"external_ids": ["x"] * (MAX_EXTERNAL_IDS + 1)}, "external_ids may hold at most 50 ids"),
        ({"external_ids": ["x"], "fields_to_export": "custom_attributes"}, "fields_to_export must be"),
    ],
)
async def test_an_invalid_export_request_is_a_400(braze: httpx.AsyncClient, body: Any, error: str) -> None:
    response = await braze.post(EXPORT, json=body)
    assert response.status_code == 400
    assert any(error in e for e in response.json()["errors"]), response.json()


async def test_a_body_that_is_not_json_is_a_400(braze: httpx.AsyncClient) -> None:
    response = await braze.post(EXPORT, content=b"{", headers={"Content-Type": "application/json"})
    assert (response.status_code, response.json()["message"]) == (400, "The request body is not valid JSON")


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"identity_id": "1"}, "external_id must be a non-empty string"),
        ({"external_id": "token-1", "identity_id": 1}, "identity_id must be a non-empty string or null"),
        ("token-1", "The request body must be a JSON object"),
    ],
)
async def test_an_invalid_registration_is_a_400(braze: httpx.AsyncClient, body: Any, error: str) -> None:
    response = await braze.post("/__emulator/users", json=body)
    assert (response.status_code, response.json()["errors"]) == (400, [error])
    assert (await braze.get("/__emulator/state")).json() == {"users": []}


async def test_reset_forgets_the_users(braze: httpx.AsyncClient) -> None:
    await register(braze, "token-1", "100001")
    await braze.post("/__emulator/reset")
    assert (await export(braze, "token-1", **CUSTOM))["invalid_user_ids"] == ["token-1"]


async def test_the_control_middleware_faults_and_logs_exports(braze: httpx.AsyncClient) -> None:
    response = await braze.post("/__emulator/faults", json={"status": 503, "path_prefix": EXPORT})
    assert response.status_code == 201
    assert (await braze.post(EXPORT, json={"external_ids": ["a"]})).status_code == 503
    assert (await braze.post(EXPORT, json={"external_ids": ["a"]})).status_code == 200
    logged = (await braze.get("/__emulator/requests")).json()["requests"]
    assert [(r["status"], r["fault"], r["body"]) for r in logged] == [
        (503, True, {"external_ids": ["a"]}),
        (200, False, {"external_ids": ["a"]}),
    ]


async def test_users_persist_in_a_state_file(tmp_path: Path) -> None:
    path = tmp_path / "braze.sqlite3"
    first = BrazeState(path)
    first.register("token-1", "100001")
    first.close()
    again = BrazeState(path)
    try:
        async with client_for(create_braze_app(KEY, again), {"Authorization": f"Bearer {KEY}"}) as client:
            body = await export(client, "token-1", **CUSTOM)
        assert body["users"][0]["custom_attributes"] == {"identity_id": "100001"}
    finally:
        again.close()


def test_the_cli_runs_braze_with_its_options() -> None:
    result = CliRunner().invoke(emulate_app, ["braze", "--help"])
    assert result.exit_code == 0, result.output
    for option in ("--port", "--state", "--api-key", "--latency-ms"):
        assert option in result.output
