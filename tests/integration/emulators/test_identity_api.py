"""The identity API emulator (``GET /user/{id}`` behind a bearer key, users registered through
``/__emulator/users``), the adapter that reads a user's primary email address from it, and how
the composition root wires that adapter."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from structlog.testing import capture_logs
from typer.testing import CliRunner

from supporterflow.adapters.identity_api import HttpIdentityApi
from supporterflow.adapters.outbound import AsgiTransport
from supporterflow.bootstrap.downstream import identity_api_emulator_path
from supporterflow.declare import Topology
from supporterflow.emulators.cli import emulate_app
from supporterflow.emulators.identity_api import IdentityApiState, create_identity_api_app
from supporterflow.ports import IdentityApi, Retry
from tests.integration.emulators.conftest import client_for
from tests.support import open_container

KEY = "test-identity-api-key"
USER_ID = "100005546"
EMAIL = "97823f89@gmail.com"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture
def users() -> Iterator[IdentityApiState]:
    state = IdentityApiState()
    yield state
    state.close()


@pytest.fixture
async def identity(users: IdentityApiState) -> AsyncIterator[httpx.AsyncClient]:
    """A client sending the right bearer key."""
    async with client_for(create_identity_api_app(KEY, users), AUTH) as client:
        yield client


async def register(client: httpx.AsyncClient, **user: Any) -> dict[str, Any]:
    response = await client.post("/__emulator/users", json=user)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()["user"]
    return body


# --------------------------------------------------------------------------------------------------
# The emulator


async def test_a_registered_user_is_answered_in_the_identity_api_shape(identity: httpx.AsyncClient) -> None:
    await register(identity, id=USER_ID, primaryEmailAddress=EMAIL)
    response = await identity.get(f"/user/{USER_ID}")
    assert response.status_code == 200
    body = response.json()
    created = body["user"]["dates"]["accountCreatedDate"]
    assert body == {
        "status": "ok",
        "user": {
            "id": USER_ID,
            "primaryEmailAddress": EMAIL,
            "publicFields": {"displayName": "user"},
            "dates": {"accountCreatedDate": created},
            "consents": [],
            "hasPassword": True,
        },
    }
    assert len(created) == len("2026-01-01T00:00:00Z")
    assert created.endswith("Z")


async def test_a_user_registered_without_an_address_has_none(identity: httpx.AsyncClient) -> None:
    await register(identity, id=USER_ID, primaryEmailAddress=None, displayName="Ada")
    user = (await identity.get(f"/user/{USER_ID}")).json()["user"]
    assert "primaryEmailAddress" not in user
    assert user["publicFields"] == {"displayName": "Ada"}


async def test_an_unknown_user_is_a_404_in_the_identity_api_error_shape(identity: httpx.AsyncClient) -> None:
    response = await identity.get("/user/999")
    assert (response.status_code, response.json()) == (
        404,
        {"status": "error", "errors": [{"message": "Not found", "description": "Resource not found"}]},
    )


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY}])
async def test_a_missing_or_wrong_key_is_a_401(identity: httpx.AsyncClient, headers: dict[str, str]) -> None:
    await register(identity, id=USER_ID, primaryEmailAddress=EMAIL)
    identity.headers.pop("Authorization")
    response = await identity.get(f"/user/{USER_ID}", headers=headers)
    assert response.status_code == 401
    assert response.json()["errors"][0]["message"] == "Access Denied"
    assert EMAIL not in response.text


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"primaryEmailAddress": EMAIL}, "id must be a non-empty string"),
        ({"id": ""}, "id must be a non-empty string"),
        ({"id": "1", "primaryEmailAddress": ""}, "primaryEmailAddress must be a non-empty string or null"),
        ({"id": "1", "displayName": 7}, "displayName must be a string"),
        ([], "The request body must be a JSON object"),
    ],
)
async def test_an_invalid_registration_is_a_400(identity: httpx.AsyncClient, body: Any, error: str) -> None:
    response = await identity.post("/__emulator/users", json=body)
    assert (response.status_code, response.json()["errors"]) == (400, [error])
    assert (await identity.get("/__emulator/state")).json() == {"users": []}


async def test_registering_again_replaces_the_user_and_reset_forgets_them(
    identity: httpx.AsyncClient,
) -> None:
    await register(identity, id=USER_ID, primaryEmailAddress=EMAIL)
    await register(identity, id=USER_ID, primaryEmailAddress="new@example.com")
    state = (await identity.get("/__emulator/state")).json()
    assert [(u["id"], u["primaryEmailAddress"]) for u in state["users"]] == [(USER_ID, "new@example.com")]
    await identity.post("/__emulator/reset")
    assert (await identity.get(f"/user/{USER_ID}")).status_code == 404


async def test_faults_answer_in_the_identity_api_error_shape_and_are_logged(
    identity: httpx.AsyncClient,
) -> None:
    await register(identity, id=USER_ID, primaryEmailAddress=EMAIL)
    fault = {"status": 503, "path_prefix": "/user/", "message": "Service Unavailable"}
    assert (await identity.post("/__emulator/faults", json=fault)).status_code == 201
    failed = await identity.get(f"/user/{USER_ID}")
    assert (failed.status_code, failed.json()) == (
        503,
        {
            "status": "error",
            "errors": [{"message": "Service Unavailable", "description": "Service Unavailable"}],
        },
    )
    assert (await identity.get(f"/user/{USER_ID}")).status_code == 200
    logged = (await identity.get("/__emulator/requests")).json()["requests"]
    assert [(r["method"], r["path"], r["status"], r["fault"]) for r in logged] == [
        ("GET", f"/user/{USER_ID}", 503, True),
        ("GET", f"/user/{USER_ID}", 200, False),
    ]


async def test_users_persist_in_a_state_file(tmp_path: Path) -> None:
    path = tmp_path / "identity.sqlite3"
    first = IdentityApiState(path)
    async with client_for(create_identity_api_app(KEY, first), AUTH) as client:
        await register(client, id=USER_ID, primaryEmailAddress=EMAIL)
    first.close()
    again = IdentityApiState(path)
    try:
        async with client_for(create_identity_api_app(KEY, again), AUTH) as client:
            assert (await client.get(f"/user/{USER_ID}")).json()["user"]["primaryEmailAddress"] == EMAIL
    finally:
        again.close()


def test_the_cli_runs_the_identity_api_with_its_options() -> None:
    result = CliRunner().invoke(emulate_app, ["identity-api", "--help"])
    assert result.exit_code == 0, result.output
    for option in ("--port", "--state", "--api-key", "--latency-ms"):
        assert option in result.output


# --------------------------------------------------------------------------------------------------
# The adapter against it


@pytest.fixture
async def lookup(users: IdentityApiState) -> AsyncIterator[IdentityApi]:
    transport = AsgiTransport(create_identity_api_app(KEY, users), "identity-api")
    yield HttpIdentityApi(transport, KEY)
    await transport.aclose()


def fingerprint(identity_id: str) -> str:
    return hashlib.sha256(identity_id.encode()).hexdigest()[:12]


async def test_the_adapter_gives_the_primary_email_address(
    users: IdentityApiState, lookup: IdentityApi
) -> None:
    users.register({"id": USER_ID, "primaryEmailAddress": EMAIL})
    assert await lookup.primary_email(USER_ID) == EMAIL


async def test_an_unknown_user_is_retried_without_the_id_or_address_in_clear(lookup: IdentityApi) -> None:
    with capture_logs() as logs, pytest.raises(Retry) as failed:
        await lookup.primary_email(USER_ID)
    digest = fingerprint(USER_ID)
    assert str(failed.value) == (
        f"[8892291c] Could not fetch details from identity API for user sha256:{digest} (HTTP 404)"
    )
    assert [
        (entry["log_level"], entry["identity_id_sha256"])
        for entry in logs
        if entry["event"] != "outbound call"  # the transport's own line
    ] == [("warning", fingerprint(USER_ID))]
    assert USER_ID not in json.dumps(logs)


async def test_a_user_without_an_address_is_retried(users: IdentityApiState, lookup: IdentityApi) -> None:
    users.register({"id": USER_ID})
    with capture_logs() as logs, pytest.raises(Retry, match=r"^\[8892291c\] User or primaryEmailAddress"):
        await lookup.primary_email(USER_ID)
    assert USER_ID not in json.dumps(logs)


async def test_a_refused_key_is_retried_saying_what_to_fix(users: IdentityApiState) -> None:
    users.register({"id": USER_ID, "primaryEmailAddress": EMAIL})
    transport = AsgiTransport(create_identity_api_app(KEY, users), "identity-api")
    try:
        with pytest.raises(Retry, match=r"HTTP 401.*SF_IDENTITY_API_KEY") as refused:
            await HttpIdentityApi(transport, "wrong-key").primary_email(USER_ID)
    finally:
        await transport.aclose()
    assert "wrong-key" not in str(refused.value)


async def test_a_503_is_retried_with_its_retry_after(users: IdentityApiState) -> None:
    app = create_identity_api_app(KEY, users)
    transport = AsgiTransport(app, "identity-api")
    async with client_for(app, {}) as control:
        await control.post("/__emulator/faults", json={"status": 503, "retry_after_s": 7})
    try:
        with pytest.raises(Retry, match=r"^\[8892291c\] identity-api user: HTTP 503$") as failed:
            await HttpIdentityApi(transport, KEY).primary_email(USER_ID)
    finally:
        await transport.aclose()
    assert failed.value.after_s == 7.0


@pytest.mark.parametrize(
    "body",
    [
        {"status": "ok"},
        {"status": "ok", "user": {"primaryEmailAddress": ""}},
        {"user": {"primaryEmailAddress": 7}},
        [],
    ],
)
async def test_an_answer_without_a_string_address_is_retried(body: Any) -> None:
    async def answer(request: Request) -> Response:
        return JSONResponse(body)

    transport = AsgiTransport(Starlette(routes=[Route("/user/{id}", answer)]), "identity-api")
    try:
        with pytest.raises(Retry, match="primaryEmailAddress is undefined"):
            await HttpIdentityApi(transport, KEY).primary_email(USER_ID)
    finally:
        await transport.aclose()


async def test_the_request_is_a_get_with_the_bearer_key_under_the_base_path() -> None:
    seen: list[tuple[str, str, str | None]] = []

    async def answer(request: Request) -> Response:
        seen.append(
            (request.method, request.scope["raw_path"].decode(), request.headers.get("authorization"))
        )
        return JSONResponse({"status": "ok", "user": {"id": "a/b", "primaryEmailAddress": EMAIL}})

    transport = AsgiTransport(Starlette(routes=[Route("/{path:path}", answer)]), "identity-api")
    try:
        assert await HttpIdentityApi(transport, KEY, base_path="/idapi/").primary_email("a/b") == EMAIL
    finally:
        await transport.aclose()
    assert seen == [("GET", "/idapi/user/a%2Fb", f"Bearer {KEY}")]


# --------------------------------------------------------------------------------------------------
# Wiring


async def test_the_local_profile_reaches_the_emulator_whose_users_live_beside_the_database(
    tmp_path: Path,
) -> None:
    container = open_container(tmp_path, Topology())
    try:
        users = IdentityApiState(identity_api_emulator_path(container.settings))
        users.register({"id": USER_ID, "primaryEmailAddress": EMAIL})
        users.close()
        assert await container.collaborators["identity_api"].primary_email(USER_ID) == EMAIL
    finally:
        await container.aclose()


async def test_without_emulators_or_a_url_the_lookup_retries_saying_what_to_set(tmp_path: Path) -> None:
    container = open_container(tmp_path, Topology(), emulators="off")
    try:
        with pytest.raises(Retry, match="SF_IDENTITY_API_URL"):
            await container.collaborators["identity_api"].primary_email(USER_ID)
    finally:
        await container.aclose()
