"""A correlation id from the HTTP request to the consumer's log lines and the outbound requests,
on both profiles (locally through the SQLite queue; on AWS through the transactional outbox, its
relay, an SQS message attribute and the Lambda consumer), and outbound store calls measured under
route templates only."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import structlog
from starlette.types import ASGIApp, Receive, Scope, Send

from supporterflow.adapters.erpnext import ErpNextClient
from supporterflow.adapters.outbound import AsgiTransport
from supporterflow.adapters.user_service import HttpUserService
from supporterflow.emulators.erpnext import create_erpnext_app
from supporterflow.emulators.user_service import create_user_service_app
from supporterflow.logs import configure_logging
from tests.aws.test_aws_runtime import (  # noqa: F401 (fixtures of the aws profile)
    endpoint,
    moto_endpoint,
)
from tests.integration.test_apple_pipeline import BUNDLE, PRODUCT, Apple
from tests.integration.test_apple_pipeline import apple as apple
from tests.integration.test_supporter_events import (
    DONATIONS,
    GIFTAID_SUBMIT,
    SIGNUP,
    World,
    post,
)
from tests.integration.test_supporter_events import world as world

CORRELATION_ID = "abc-7f3e9c1d-checkout"


class Recorder:
    """An ASGI app in front of an emulator that keeps the ``x-correlation-id`` of each request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.seen: list[str | None] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = dict(scope["headers"])
            value = headers.get(b"x-correlation-id")
            self.seen.append(value.decode() if value is not None else None)
        await self.app(scope, receive, send)


@pytest.fixture
def json_logs(capsys: pytest.CaptureFixture[str]) -> Iterator[pytest.CaptureFixture[str]]:
    """The service's JSON log lines at debug level on stderr, read with the ``capsys`` it yields.
    The loggers are put back before capsys closes the stream they write to (the other fixtures'
    teardown logs)."""
    root = logging.getLogger()
    handlers, level, configured = root.handlers[:], root.level, structlog.get_config()
    configure_logging("debug", "json")
    yield capsys
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.configure(**configured)


def lines(captured: str) -> list[dict[str, Any]]:
    parsed: list[dict[str, Any]] = []
    for line in captured.splitlines():
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            parsed.append(value)
    return parsed


@pytest.fixture
async def recorded(world: World) -> AsyncIterator[tuple[Recorder, Recorder]]:
    """The world's user service and ERPNext behind recorders of the header."""
    users = Recorder(create_user_service_app("u-key"))
    erpnext = Recorder(create_erpnext_app("e-key", "e-secret"))
    user_transport, erp_transport = AsgiTransport(users), AsgiTransport(erpnext)
    world.container.collaborators["user_service"] = HttpUserService(user_transport, "u-key")
    world.container.collaborators["erp"] = ErpNextClient(erp_transport, "e-key", "e-secret")
    yield users, erpnext
    await user_transport.aclose()
    await erp_transport.aclose()


async def test_the_requests_correlation_id_reaches_the_consumers_logs_and_the_outbound_requests(
    world: World,
    recorded: tuple[Recorder, Recorder],
    json_logs: pytest.CaptureFixture[str],
) -> None:
    users, erpnext = recorded
    body = {"user-service": SIGNUP, "erp-service": {"actions": [GIFTAID_SUBMIT]}}
    response = await post(world, body, {**DONATIONS, "x-correlation-id": CORRELATION_ID})
    assert response.status_code == 200, response.text
    assert response.headers["x-correlation-id"] == CORRELATION_ID

    await world.deliver_all()

    logged = lines(json_logs.readouterr().err)
    delivered = [line for line in logged if line.get("event") == "supporter event delivered"]
    assert delivered
    assert {line.get("correlation_id") for line in delivered} == {CORRELATION_ID}
    outbound = [line for line in logged if line.get("event") == "outbound call"]
    assert {line["service"] for line in outbound} >= {"user-service", "erpnext"}
    assert {line.get("correlation_id") for line in outbound} == {CORRELATION_ID}
    assert users.seen
    assert set(users.seen) == {CORRELATION_ID}
    assert erpnext.seen
    assert set(erpnext.seen) == {CORRELATION_ID}


async def test_a_request_without_the_header_gets_an_id_that_its_queued_work_carries(
    world: World,
    recorded: tuple[Recorder, Recorder],
    json_logs: pytest.CaptureFixture[str],
) -> None:
    users, _ = recorded
    response = await post(world, {"user-service": SIGNUP})  # the middleware makes one for the request
    await world.deliver_all()

    logged = lines(json_logs.readouterr().err)
    # One id for the message (the frozen clock's jumps may deliver it twice: at least once).
    (fresh,) = {line["correlation_id"] for line in logged if line.get("event") == "supporter event delivered"}
    assert fresh == response.headers["x-correlation-id"]
    assert len(fresh) == 32
    assert users.seen
    assert set(users.seen) == {fresh}


# metrics of outbound store calls ------------------------------------------------------------------


@pytest.fixture
def profile() -> str:
    """The Apple fixture on the local profile only: the metric is the adapter's, not the profile's."""
    return "local"


async def test_an_app_store_fetch_is_measured_under_its_route_template_without_identifiers(
    apple: Apple,
) -> None:
    step = apple.store.subscribe(bundle_id=BUNDLE, product_id=PRODUCT, environment="Sandbox")
    assert (await apple.notify(step)).status_code == 200
    await apple.fetch(step.original_transaction_id)

    samples = [
        sample
        for metric in apple.container.metrics.registry.collect()
        for sample in metric.samples
        if sample.name == "supporterflow_outbound_call_duration_seconds_count"
    ]
    fetches = [
        s
        for s in samples
        if s.labels["service"] == "app-store"
        and s.labels["endpoint"] == "GET /inApps/v1/subscriptions/{transactionId}"
    ]
    assert fetches
    assert fetches[0].value >= 1
    assert fetches[0].labels["status"] == "200"
    for metric in apple.container.metrics.registry.collect():
        for sample in metric.samples:
            for value in sample.labels.values():
                assert step.original_transaction_id not in value, sample
