"""The supporter event service in process: POST /supporter-events, the delivery consumer, and the
emulated user service and ERPNext.

Every scenario runs on both profiles (``[local]``, ``[aws]``): the local one on SQLite with a frozen
clock and the local runtime; the aws one on a moto server provisioned from the CloudFormation
template, through the Lambda handlers only (the API behind Mangum, the outbox relay, the
consumers), fed as the event source mappings would feed them. The downstream emulators are the
same in-process apps."""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from supporterflow.adapters.clock import FrozenClock
from supporterflow.adapters.erpnext import ErpNextClient
from supporterflow.adapters.outbound import AsgiTransport
from supporterflow.adapters.user_service import HttpUserService
from supporterflow.bootstrap import Container, bootstrap
from supporterflow.domain.supporters.identity_hash import identity_hash
from supporterflow.emulators.erpnext import create_erpnext_app
from supporterflow.emulators.user_service import create_user_service_app
from supporterflow.logs import configure_logging
from supporterflow.topology import TOPOLOGY
from tests.aws.test_aws_runtime import (  # noqa: F401 (endpoint, moto_endpoint: fixtures of the aws profile)
    aws_settings,
    endpoint,
    moto_endpoint,
    provisioned,
)
from tests.support import ProfileRuntime, open_container, outbox_rows, runtime_for, unlinked

DONATIONS = {"x-api-key": "donations-key", "content-type": "application/json"}
GIFTAID = {"x-api-key": "giftaid-key", "content-type": "application/json"}
HASH_KEY = b"test-identity-key"
EMAIL = "dante.alighieri@test.sandbox.comicrelief.com"

SIGNUP = {
    "firstName": "Dante",
    "lastName": "Alighieri",
    "identities": [{"kind": "email", "content": EMAIL}, {"kind": "mobile", "content": "07847 000 000"}],
}
GIFTAID_SUBMIT = unlinked("giftaid:submit", postcode="se17tp")
TO_DELIVER = "supporter-events-to-deliver"
SETTLED = ("delivered", "failed")


def ticket(identity_hash: str) -> dict[str, Any]:
    return unlinked("prize:ticket:put", identity_hash=identity_hash)


@dataclass
class World:
    profile: str  # "local" or "aws"
    container: Container
    runtime: ProfileRuntime
    api: httpx.AsyncClient
    users: httpx.AsyncClient
    erpnext: httpx.AsyncClient
    # aws: the outbox rows (DynamoDB items) of messages sent to a queue
    outbox_rows: Callable[[str], list[dict[str, Any]]] | None = None

    @property
    def timeout_s(self) -> float:
        # On AWS the outbox is relayed from its stream and SQS back-off is real time (seconds).
        return 10.0 if self.profile == "local" else 60.0

    async def enqueued(self) -> int:
        """The messages accepted events sent towards the delivery consumer, before any runtime ran:
        in the queue (local), or in the transactional outbox, which the runtime's relay moves to
        SQS (aws)."""
        queued = (await self.container.queues[TO_DELIVER].depth()).total
        if self.outbox_rows is None:
            return queued
        return queued + len(self.outbox_rows(TO_DELIVER))

    async def run_until(self, condition: Callable[[], Awaitable[bool]]) -> None:
        """Run the profile's runtime until ``condition`` holds. Locally the frozen clock jumps past
        any back-off on each check; on AWS back-off is SQS visibility, in moto's real time."""

        async def later() -> None:
            assert isinstance(self.container.clock, FrozenClock)
            self.container.clock.advance(301)  # past any back-off

        between = later if self.profile == "local" else None
        await self.runtime.run_until(condition, timeout_s=self.timeout_s, between=between)

    async def deliver_all(self) -> None:
        """Until every stored event is delivered or failed and nothing waits in the queue."""
        queue = self.container.queues[TO_DELIVER]
        events = self.container.tables["supporter-events"]

        async def settled() -> bool:
            if (await queue.depth()).total != 0:
                return False
            return all(item["status"] in SETTLED for item in (await events.scan()).items)

        await self.run_until(settled)

    async def event(self, event_id: str, headers: dict[str, str] = DONATIONS) -> dict[str, Any]:
        state: dict[str, Any] = (await self.api.get(f"/supporter-events/{event_id}", headers=headers)).json()[
            "data"
        ]
        return state

    async def documents(self, doctype: str) -> list[dict[str, Any]]:
        state = (await self.erpnext.get("/__emulator/state")).json()
        documents: list[dict[str, Any]] = state["documents"].get(doctype, [])
        return documents

    async def users_stored(self) -> list[dict[str, Any]]:
        users: list[dict[str, Any]] = (await self.users.get("/__emulator/state")).json()["users"]
        return users


def aws_container(tmp_path: Path, moto_url: str) -> tuple[Container, Callable[[str], list[dict[str, Any]]]]:
    """The aws profile's container on the template's resources (stage CODE) in moto, with the same
    producer keys and identity hash key as the local one, and a reader of its outbox table."""
    urls = provisioned(moto_url, "CODE")
    settings = aws_settings(tmp_path, moto_url, "CODE", urls).model_copy(
        update={
            "producer_api_keys": [SecretStr("donations:donations-key"), SecretStr("giftaid:giftaid-key")],
            "identity_hash_key": SecretStr(HASH_KEY.decode()),
        }
    )
    container = bootstrap(settings, clock=FrozenClock("2026-03-01T12:00:00+00:00"), topology=TOPOLOGY).open()
    return container, partial(outbox_rows, container)


@pytest.fixture(params=["local", "aws"])
async def world(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[World]:
    profile: str = request.param
    outbox_rows = None
    if profile == "local":
        container = open_container(
            tmp_path,
            TOPOLOGY,
            FrozenClock("2026-03-01T12:00:00+00:00"),
            producer_api_keys="donations:donations-key,giftaid:giftaid-key",
            identity_hash_key=HASH_KEY.decode(),
        )
    else:
        # The moto server starts with the module's first aws test; ``endpoint`` resets it after each.
        container, outbox_rows = aws_container(tmp_path, request.getfixturevalue("endpoint"))
    users_app = create_user_service_app("u-key")
    erpnext_app = create_erpnext_app("e-key", "e-secret")
    # The service calls the emulators through its own transport; the test looks at them directly.
    users = httpx.AsyncClient(transport=httpx.ASGITransport(app=users_app), base_url="http://users")
    erpnext = httpx.AsyncClient(transport=httpx.ASGITransport(app=erpnext_app), base_url="http://erp")
    container.collaborators["user_service"] = HttpUserService(AsgiTransport(users_app), "u-key")
    container.collaborators["erp"] = ErpNextClient(AsgiTransport(erpnext_app), "e-key", "e-secret")
    runtime = runtime_for(container)
    api = httpx.AsyncClient(transport=runtime.transport(), base_url="http://test")
    yield World(profile, container, runtime, api, users, erpnext, outbox_rows)
    for client in (api, users, erpnext):
        await client.aclose()
    await runtime.aclose()
    if profile == "local":
        container.close()
    else:
        await container.aclose()


async def post(world: World, body: Any, headers: dict[str, str] = DONATIONS) -> httpx.Response:
    return await world.api.post("/supporter-events", content=json.dumps(body), headers=headers)


async def test_an_accepted_request_answers_with_its_id_and_one_hash_per_identity(world: World) -> None:
    response = await post(world, {"user-service": SIGNUP})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["message"] == "success"
    assert body["data"]["identities"] == [
        {"kind": "email", "hash": identity_hash(HASH_KEY, "email", EMAIL)},
        {"kind": "mobile", "hash": identity_hash(HASH_KEY, "mobile", "+447847000000")},
    ]
    assert (await world.event(body["data"]["id"]))["status"] == "queued"
    assert await world.enqueued() == 1
    await world.deliver_all()
    assert (await world.event(body["data"]["id"]))["status"] == "delivered"


async def test_an_invalid_request_is_a_400_in_the_data_models_shape_and_nothing_is_stored(
    world: World,
) -> None:
    response = await post(world, {})
    assert (response.status_code, response.json()) == (
        400,
        {
            "data": {"errors": ["Request cannot be empty"]},
            "message": "ValidationError(supporter-events:ProducerRequest)",
        },
    )
    assert (await world.container.tables["supporter-events"].scan()).items == []
    assert await world.enqueued() == 0


@pytest.mark.parametrize(
    ("content", "headers", "status"),
    [
        (b"not json", DONATIONS, 400),
        (b"[1, 2]", DONATIONS, 400),
        (b"[" * 1000 + b"]" * 1000, DONATIONS, 400),
        (b"{}", {"content-type": "application/json"}, 401),
        (b"{}", {"x-api-key": "wrong", "content-type": "application/json"}, 401),
        (b"{}", {"x-api-key": "donations-key", "content-type": "text/plain"}, 415),
        (b"{" + b" " * (10 * 1024 * 1024) + b"}", DONATIONS, 413),
    ],
    ids=["not-json", "array", "1000-levels", "no-key", "wrong-key", "wrong-content-type", "10MB"],
)
async def test_bad_input_is_a_clear_4xx_and_nothing_is_stored(
    world: World, content: bytes, headers: dict[str, str], status: int
) -> None:
    response = await world.api.post("/supporter-events", content=content, headers=headers)
    assert response.status_code == status, response.text
    assert response.json()["message"]
    assert (await world.container.tables["supporter-events"].scan()).items == []


async def test_the_same_idempotency_key_and_body_get_the_first_answer_and_queue_nothing(world: World) -> None:
    headers = {**DONATIONS, "idempotency-key": "order-42"}
    first = await post(world, {"user-service": SIGNUP}, headers)
    again = await post(world, {"user-service": SIGNUP}, headers)
    other = await post(world, {"user-service": {**SIGNUP, "firstName": "Beatrice"}}, headers)
    assert (first.status_code, again.status_code, other.status_code) == (200, 200, 409)
    assert again.json() == first.json()
    assert len((await world.container.tables["supporter-events"].scan()).items) == 1
    assert await world.enqueued() == 1


async def test_idempotency_keys_belong_to_one_producer(world: World) -> None:
    first = await post(world, {"user-service": SIGNUP}, {**DONATIONS, "idempotency-key": "k"})
    second = await post(world, {"user-service": SIGNUP}, {**GIFTAID, "idempotency-key": "k"})
    assert first.json()["data"]["id"] != second.json()["data"]["id"]


async def test_scenario_1_signup_fills_supporter_uuid_and_gift_aid_reaches_erpnext(world: World) -> None:
    accepted = await post(world, {"user-service": SIGNUP, "erp-service": {"actions": [GIFTAID_SUBMIT]}})
    event_id = accepted.json()["data"]["id"]
    await world.deliver_all()

    (user,) = await world.users_stored()
    (declaration,) = await world.documents("Gift Aid Declaration")
    (postal,) = await world.documents("Postal")
    assert declaration["supporter_uuid"] == user["uuid"]
    assert declaration["postal_id"] == postal["name"]
    assert postal["post_code"] == "SE1 7TP"
    state = (await world.api.get(f"/supporter-events/{event_id}", headers=DONATIONS)).json()["data"]
    assert state["status"] == "delivered"
    assert [r["service"] for r in state["responses"]] == ["user-service", "erpnext", "erpnext"]
    assert EMAIL not in json.dumps(state)


async def test_scenario_2_identity_hash_is_matched_and_kept(world: World) -> None:
    signed_up = await post(world, {"user-service": SIGNUP})
    email_hash = signed_up.json()["data"]["identities"][0]["hash"]
    await world.deliver_all()
    await post(world, {"erp-service": {"actions": [ticket(email_hash)]}})
    await world.deliver_all()

    (user,) = await world.users_stored()
    (stored_ticket,) = await world.documents("Prize Ticket")
    assert stored_ticket["supporter_uuid"] == user["uuid"]
    assert stored_ticket["identity_hash"] == email_hash


async def test_a_refused_document_fails_the_event_with_the_reason_and_replay_delivers_it(
    world: World,
) -> None:
    await world.erpnext.put("/__emulator/mandatory", json={"Gift Aid Declaration": ["claim_reference"]})
    accepted = await post(world, {"user-service": SIGNUP, "erp-service": {"actions": [GIFTAID_SUBMIT]}})
    event_id = accepted.json()["data"]["id"]
    dlq = world.container.queues["supporter-events-to-deliver-dlq"]

    async def dead_lettered() -> bool:
        return (await dlq.depth()).total == 1

    await world.run_until(dead_lettered)
    state = (await world.api.get(f"/supporter-events/{event_id}", headers=DONATIONS)).json()["data"]
    assert state["status"] == "failed"
    assert "417" in state["reason"]
    assert "claim_reference" in state["reason"]

    await world.erpnext.put("/__emulator/mandatory", json={})  # the fix
    assert await dlq.replay() == 1
    await world.deliver_all()
    state = (await world.api.get(f"/supporter-events/{event_id}", headers=DONATIONS)).json()["data"]
    assert state["status"] == "delivered"
    assert "reason" not in state
    assert len(await world.documents("Gift Aid Declaration")) == 1


async def test_an_event_is_only_shown_to_its_producer(world: World) -> None:
    event_id = (await post(world, {"user-service": SIGNUP})).json()["data"]["id"]
    assert (await world.api.get(f"/supporter-events/{event_id}", headers=GIFTAID)).status_code == 404
    assert (await world.api.get(f"/supporter-events/{event_id}", headers=DONATIONS)).status_code == 200
    assert (await world.api.get(f"/supporter-events/{event_id}")).status_code == 401


async def test_no_identity_content_reaches_the_logs(
    world: World, capsys: pytest.CaptureFixture[str], request: pytest.FixtureRequest
) -> None:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    # Put the root logger back before the fixtures' teardown, which logs to a stream capsys closes.

    def restore() -> None:
        root.handlers[:] = handlers
        root.setLevel(level)

    request.addfinalizer(restore)
    configure_logging("debug", "json")
    body = copy.deepcopy({"user-service": SIGNUP, "erp-service": {"actions": [GIFTAID_SUBMIT]}})
    await post(world, body)
    await post(world, {"user-service": {"identities": [{"kind": "email", "content": "not-an-email"}]}})
    await world.erpnext.post("/__emulator/faults", json={"status": 503, "count": 1})
    await world.deliver_all()
    captured = capsys.readouterr()
    logged = captured.err + captured.out
    assert '"event": "supporter event delivered"' in logged
    for secret in (EMAIL, "not-an-email", "+447847000000", "07847 000 000", "Alighieri"):
        assert secret not in logged
