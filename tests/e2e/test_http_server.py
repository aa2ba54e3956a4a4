"""The real server over HTTP on loopback: health and clean answers to bad input."""

from __future__ import annotations

import httpx

from tests.e2e.conftest import ADMIN_KEY, Server, ServerFactory

REPLAY = "/admin/api/queues/subscriptions-x/dead-letters/replay"


def assert_json_error(response: httpx.Response, status: int) -> None:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert response.json()["status"] == status
    assert "Traceback" not in response.text
    assert response.headers["x-correlation-id"]


def test_the_healthcheck_answers_200(server: Server) -> None:
    response = httpx.get(server.url + "/healthcheck")
    assert (response.status_code, response.json()) == (200, {"status": 200, "message": "OK"})


def test_an_unknown_route_is_a_json_404(server: Server) -> None:
    assert_json_error(httpx.get(server.url + "/nope"), 404)


def test_an_oversized_body_is_a_json_413(server: Server) -> None:
    response = httpx.post(server.url + REPLAY, content=b"x" * 5000, headers={"x-api-key": ADMIN_KEY})
    assert_json_error(response, 413)


def test_invalid_json_is_a_json_400(server: Server) -> None:
    response = httpx.post(
        server.url + "/admin/api/queues/anything/dead-letters/replay",
        content=b'{"messageIds": [',
        headers={"x-api-key": ADMIN_KEY},
    )
    # The queue is looked up first: an unknown one is a 404; the body check needs a real queue.
    assert_json_error(response, 404)


def test_invalid_json_to_a_real_queue_is_a_json_400(server_factory: ServerFactory) -> None:
    server = server_factory("tests.e2e.work_topology:FAST")
    server.start()
    response = httpx.post(
        server.url + "/admin/api/queues/work/dead-letters/replay",
        content=b'{"messageIds": [',
        headers={"x-api-key": ADMIN_KEY},
    )
    assert_json_error(response, 400)
    assert "not valid JSON" in response.json()["detail"]


def test_metrics_are_served_in_the_prometheus_format(server: Server) -> None:
    response = httpx.get(server.url + "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "supporterflow_http_request_duration_seconds" in response.text
