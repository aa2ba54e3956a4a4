"""The HTTP skeleton, in process: health, metrics, API description, bad input, admin queue API."""

from __future__ import annotations

from collections.abc import AsyncIterator, MutableMapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from supporterflow.adapters.clock import FrozenClock
from supporterflow.bootstrap import Container
from supporterflow.declare import QueueDef, Topology
from supporterflow.entrypoints.http import create_app
from tests.support import open_container

ADMIN = {"x-api-key": "test-admin-key"}
WORK = QueueDef("work", visibility_s=30, max_receives=2)


@pytest.fixture
async def container(tmp_path: Path) -> AsyncIterator[Container]:
    container = open_container(
        tmp_path, Topology(queues=(WORK,)), FrozenClock("2026-03-01T12:00:00+00:00"), max_body_bytes=1024
    )
    yield container
    container.close()


@pytest.fixture
async def client(container: Container) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(container))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


async def dead_letter(container: Container, body: bytes) -> str:
    queue = container.queues["work"]
    await queue.send(body)
    (received,) = await queue.receive(1, 30)
    await queue.dead_letter(received, "GiveUp: test")
    return received.message_id


def assert_clean_error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert "Traceback" not in response.text
    return body


async def test_healthcheck_answers_ok(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthcheck")
    assert (response.status_code, response.json()) == (200, {"status": 200, "message": "OK"})


async def test_every_response_carries_a_correlation_id(client: httpx.AsyncClient) -> None:
    generated = await client.get("/healthcheck")
    given = await client.get("/healthcheck", headers={"x-correlation-id": "req-42"})
    refused = await client.get("/healthcheck", headers={"x-correlation-id": "bad id with spaces"})
    assert len(generated.headers["x-correlation-id"]) == 32
    assert given.headers["x-correlation-id"] == "req-42"
    assert refused.headers["x-correlation-id"] != "bad id with spaces"


async def test_an_unknown_route_is_a_json_404(client: httpx.AsyncClient) -> None:
    body = assert_clean_error(await client.get("/no/such/route"), 404)
    assert body["message"] == "NOT_FOUND"


async def test_a_wrong_method_is_a_json_405(client: httpx.AsyncClient) -> None:
    assert_clean_error(await client.delete("/healthcheck"), 405)


async def test_an_oversized_body_is_refused_with_413(client: httpx.AsyncClient, container: Container) -> None:
    response = await client.post(
        "/admin/api/queues/work/dead-letters/replay", headers=ADMIN, content=b"{" * 2048
    )
    assert "1024 bytes" in assert_clean_error(response, 413)["detail"]


async def test_a_streamed_body_is_cut_off_at_the_limit(container: Container) -> None:
    """Without Content-Length the limit applies as the body arrives."""
    app = create_app(container)
    chunks = [b"[" + b"1," * 300, b"1," * 300, b"1]"]
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        chunk = chunks.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/admin/api/queues/work/dead-letters/replay",
        "raw_path": b"/admin/api/queues/work/dead-letters/replay",
        "query_string": b"",
        "headers": [(b"x-api-key", b"test-admin-key"), (b"transfer-encoding", b"chunked")],
        "http_version": "1.1",
        "scheme": "http",
        "server": ("test", 80),
        "client": ("127.0.0.1", 1),
        "root_path": "",
    }
    await app(scope, receive, send)
    assert sent[0]["status"] == 413


async def test_invalid_json_is_a_400_that_says_why(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/admin/api/queues/work/dead-letters/replay", headers=ADMIN, content=b"{not json"
    )
    assert "not valid JSON" in assert_clean_error(response, 400)["detail"]


async def test_json_of_the_wrong_shape_is_a_400_naming_the_field(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/admin/api/queues/work/dead-letters/replay", headers=ADMIN, json={"messageIds": "all"}
    )
    assert "messageIds" in assert_clean_error(response, 400)["detail"]


async def test_the_admin_api_needs_an_admin_key(client: httpx.AsyncClient) -> None:
    assert_clean_error(await client.get("/admin/api/queues"), 401)
    assert_clean_error(await client.get("/admin/api/queues", headers={"x-api-key": "wrong"}), 401)


async def test_queues_are_listed_with_their_depths(client: httpx.AsyncClient, container: Container) -> None:
    await container.queues["work"].send_batch([b"{}", b"{}"])
    await dead_letter(container, b"{}")
    response = await client.get("/admin/api/queues", headers=ADMIN)
    assert response.json() == {
        "queues": [{"name": "work", "visible": 2, "inFlight": 0, "delayed": 0, "deadLetters": 1}]
    }


async def test_dead_letters_are_listed_redacted_and_replayed(
    client: httpx.AsyncClient, container: Container
) -> None:
    message_id = await dead_letter(container, b'{"subscriptionId":"s1","purchaseToken":"tok-secret"}')

    listing = await client.get("/admin/api/queues/work/dead-letters", headers=ADMIN)
    (message,) = listing.json()["messages"]
    assert (message["id"], message["reason"], message["sourceQueue"]) == (message_id, "GiveUp: test", "work")
    assert "tok-secret" not in listing.text
    assert '"subscriptionId":"s1"' in message["body"]

    replay = await client.post("/admin/api/queues/work/dead-letters/replay", headers=ADMIN, json={})
    assert replay.json() == {"replayed": 1}
    assert (await container.queues["work"].depth()).visible == 1


async def test_replaying_the_dlq_of_an_unknown_queue_is_a_404(client: httpx.AsyncClient) -> None:
    response = await client.post("/admin/api/queues/nope/dead-letters/replay", headers=ADMIN, json={})
    assert "no queue named nope" in assert_clean_error(response, 404)["detail"]


async def test_dead_letters_can_be_purged(client: httpx.AsyncClient, container: Container) -> None:
    await dead_letter(container, b"{}")
    response = await client.delete("/admin/api/queues/work-dlq/dead-letters", headers=ADMIN)
    assert response.json() == {"deleted": 1}


async def test_metrics_expose_queue_depths_and_http_latency(
    client: httpx.AsyncClient, container: Container
) -> None:
    await container.queues["work"].send(b"{}")
    await dead_letter(container, b"{}")
    await client.get("/healthcheck")
    text = (await client.get("/metrics")).text
    assert 'supporterflow_queue_messages{queue="work",state="visible"} 1.0' in text
    assert 'supporterflow_dlq_messages{queue="work-dlq"} 1.0' in text
    assert (
        'supporterflow_http_request_duration_seconds_count{method="GET",route="/healthcheck",status="200"}'
        in text
    )


async def test_the_api_is_described_in_openapi_and_on_a_page(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert spec["openapi"].startswith("3.")
    assert "/healthcheck" in spec["paths"]
    replay = spec["paths"]["/admin/api/queues/{queue}/dead-letters/replay"]["post"]
    assert "messageIds" in replay["requestBody"]["content"]["application/json"]["schema"]["properties"]
    page = await client.get("/docs")
    assert page.status_code == 200
    assert "/admin/api/queues" in page.text


async def test_an_unexpected_error_is_a_json_500_with_the_correlation_id(container: Container) -> None:
    app = create_app(container)

    async def explode(request: Any) -> Any:
        raise RuntimeError("boom")

    app.add_route("/explode", explode)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/explode", headers={"x-correlation-id": "c-500"})
    body = assert_clean_error(response, 500)
    assert body["message"] == "INTERNAL_SERVER_ERROR"
    assert "c-500" in body["detail"]
    assert "boom" not in response.text
