"""The Braze identity lookup against the Braze emulator: what each answer means, and that the
request is exactly the one of spec §10.2."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from structlog.testing import capture_logs

from supporterflow.adapters.braze import BrazeIdentityLookup
from supporterflow.adapters.outbound import AsgiTransport
from supporterflow.emulators.braze import create_braze_app
from supporterflow.ports import IdentityLookup, Retry

KEY = "braze-key"
TOKEN = "6f1f8c8e-1b7a-4d35-9d53-2f9c0b0e6a11"


@dataclass
class Emulated:
    """The Braze emulator, the transport the lookup calls it through, and a client for its
    control API."""

    transport: AsgiTransport
    control: httpx.AsyncClient

    async def register(self, external_id: str, identity_id: str | None) -> None:
        body = {"external_id": external_id, "identity_id": identity_id}
        response = await self.control.post("/__emulator/users", json=body)
        assert response.status_code == 201, response.text


@pytest.fixture
async def braze() -> AsyncIterator[Emulated]:
    app = create_braze_app(KEY)
    world = Emulated(
        AsgiTransport(app, "braze"),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://control"),
    )
    yield world
    await world.transport.aclose()
    await world.control.aclose()


async def lookup_with(app: Starlette, external_id: str = TOKEN) -> str | None:
    """One lookup against a stand-in Braze app."""
    transport = AsgiTransport(app, "braze")
    try:
        return await BrazeIdentityLookup(transport, KEY).identity_id(external_id)
    finally:
        await transport.aclose()


def answering(reply: Callable[[Request], Response]) -> Starlette:
    async def export(request: Request) -> Response:
        return reply(request)

    return Starlette(routes=[Route("/users/export/ids", export, methods=["POST"])])


async def test_a_known_user_gives_its_identity_id(braze: Emulated) -> None:
    await braze.register(TOKEN, "100001")
    lookup: IdentityLookup = BrazeIdentityLookup(braze.transport, KEY)
    assert await lookup.identity_id(TOKEN) == "100001"


async def test_an_unknown_user_is_none_and_logged_without_the_external_id(braze: Emulated) -> None:
    with capture_logs() as logs:
        assert await BrazeIdentityLookup(braze.transport, KEY).identity_id(TOKEN) is None
    own = [entry for entry in logs if entry["event"] != "outbound call"]  # not the transport's line
    assert [entry["log_level"] for entry in own] == ["info"]
    assert own[0]["external_id_sha256"] == hashlib.sha256(TOKEN.encode()).hexdigest()[:12]
    assert TOKEN not in json.dumps(logs)


async def test_a_user_without_identity_id_is_none(braze: Emulated) -> None:
    await braze.register(TOKEN, None)
    assert await BrazeIdentityLookup(braze.transport, KEY).identity_id(TOKEN) is None


async def test_a_refused_key_is_retried_without_the_key_in_the_reason(braze: Emulated) -> None:
    await braze.register(TOKEN, "100001")
    wrong = "wrong-secret-key"
    with pytest.raises(Retry, match="401") as refused:
        await BrazeIdentityLookup(braze.transport, wrong).identity_id(TOKEN)
    assert wrong not in str(refused.value)
    assert TOKEN not in str(refused.value)


async def test_an_injected_503_is_retried(braze: Emulated) -> None:
    response = await braze.control.post("/__emulator/faults", json={"status": 503})
    assert response.status_code == 201
    with pytest.raises(Retry, match="503"):
        await BrazeIdentityLookup(braze.transport, KEY).identity_id(TOKEN)


@pytest.mark.parametrize("status", [500, 429, 400, 404])
async def test_every_non_2xx_is_retried(status: int) -> None:
    app = answering(lambda _: JSONResponse({"message": f"echo {TOKEN}"}, status_code=status))
    with pytest.raises(Retry, match=str(status)) as failed:
        await lookup_with(app)
    assert TOKEN not in str(failed.value)


async def test_a_2xx_that_is_not_json_is_retried() -> None:
    with pytest.raises(Retry, match="not JSON"):
        await lookup_with(answering(lambda _: Response(b"<html>", media_type="text/html")))


@pytest.mark.parametrize(
    "body",
    [
        {"message": "success"},
        {"users": [], "message": "success"},
        {"users": [{"custom_attributes": None}]},
        {"users": [{"custom_attributes": {"identity_id": ""}}]},
        {"users": [{"custom_attributes": {"identity_id": 100001}}]},
        ["not", "an", "object"],
    ],
)
async def test_an_answer_without_a_string_identity_id_is_none(body: Any) -> None:
    assert await lookup_with(answering(lambda _: JSONResponse(body))) is None


async def test_the_request_is_exactly_the_one_braze_expects() -> None:
    seen: list[tuple[str, str, dict[str, str], bytes]] = []

    async def record(request: Request) -> Response:
        seen.append((request.method, request.url.path, dict(request.headers), await request.body()))
        return JSONResponse(
            {"users": [{"custom_attributes": {"identity_id": "100001"}}], "message": "success"}
        )

    app = Starlette(routes=[Route("/users/export/ids", record, methods=["POST"])])

    assert await lookup_with(app) == "100001"
    [(method, path, headers, body)] = seen
    assert (method, path) == ("POST", "/users/export/ids")
    assert headers["authorization"] == f"Bearer {KEY}"
    assert headers["content-type"] == "application/json"
    assert json.loads(body) == {"external_ids": [TOKEN], "fields_to_export": ["custom_attributes"]}
