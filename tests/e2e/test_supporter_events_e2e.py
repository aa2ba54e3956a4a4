"""The supporter event service end to end: the real server, and the user service and ERPNext
emulators as processes of their own (so ERPNext can really go away)."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import ROOT, Emulator, Server, ServerFactory, wait_until
from tests.support import unlinked

pytestmark = pytest.mark.slow

HEADERS = {"x-api-key": "e2e-producer-key", "content-type": "application/json"}
SIGNUP = {
    "firstName": "Dante",
    "lastName": "Alighieri",
    "identities": [{"kind": "email", "content": "dante@example.com"}],
}
GIFTAID_SUBMIT = unlinked("giftaid:submit")


def start_service(server_factory: ServerFactory, users: Emulator, erpnext: Emulator) -> Server:
    server = server_factory(
        "tests.e2e.supporter_topology:TOPOLOGY",
        SF_EMULATORS="off",
        SF_PRODUCER_API_KEYS="e2e:e2e-producer-key",
        SF_IDENTITY_HASH_KEY="e2e-identity-key",
        SF_USER_SERVICE_URL=users.url,
        SF_USER_SERVICE_API_KEY="e2e-user-key",
        SF_ERPNEXT_URL=erpnext.url,
        SF_ERPNEXT_API_KEY="e2e-erp-key",
        SF_ERPNEXT_API_SECRET="e2e-erp-secret",
    )
    server.start()
    return server


def post(server: Server, body: dict[str, Any]) -> str:
    response = httpx.post(server.url + "/supporter-events", json=body, headers=HEADERS, timeout=10)
    assert response.status_code == 200, response.text
    return str(response.json()["data"]["id"])


def state_of(server: Server, event_id: str) -> dict[str, Any]:
    response = httpx.get(f"{server.url}/supporter-events/{event_id}", headers=HEADERS, timeout=10)
    data: dict[str, Any] = response.json()["data"]
    return data


def documents(erpnext: Emulator, doctype: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = erpnext.state()["documents"].get(doctype, [])
    return found


def test_signup_and_gift_aid_create_the_user_and_the_erpnext_documents(
    server_factory: ServerFactory, emulators: tuple[Emulator, Emulator]
) -> None:
    users, erpnext = emulators
    server = start_service(server_factory, users, erpnext)
    event_id = post(server, {"user-service": SIGNUP, "erp-service": {"actions": [GIFTAID_SUBMIT]}})
    wait_until(lambda: state_of(server, event_id)["status"] == "delivered", 30, "delivery")

    (user,) = users.state()["users"]
    (declaration,) = documents(erpnext, "Gift Aid Declaration")
    (postal,) = documents(erpnext, "Postal")
    assert declaration["supporter_uuid"] == user["uuid"]
    assert declaration["postal_id"] == postal["name"]


def test_an_identity_hash_alone_is_matched_through_the_user_service_and_kept(
    server_factory: ServerFactory, emulators: tuple[Emulator, Emulator]
) -> None:
    users, erpnext = emulators
    server = start_service(server_factory, users, erpnext)
    signup_id = post(server, {"user-service": SIGNUP})
    wait_until(lambda: state_of(server, signup_id)["status"] == "delivered", 30, "the signup")
    email_hash = state_of(server, signup_id)["identities"][0]["hash"]

    ticket = unlinked("prize:ticket:put", identity_hash=email_hash)
    ticket_id = post(server, {"erp-service": {"actions": [ticket]}})
    wait_until(lambda: state_of(server, ticket_id)["status"] == "delivered", 30, "the ticket")

    (user,) = users.state()["users"]
    (stored,) = documents(erpnext, "Prize Ticket")
    assert (stored["supporter_uuid"], stored["identity_hash"]) == (user["uuid"], email_hash)
    assert [
        r["call"] for r in state_of(server, ticket_id)["responses"] if r["service"] == "user-service"
    ] == ["match"]


def test_erpnext_down_for_30_seconds_loses_nothing_and_delivers_once(
    server_factory: ServerFactory, emulators: tuple[Emulator, Emulator]
) -> None:
    users, erpnext = emulators
    server = start_service(server_factory, users, erpnext)
    erpnext.stop()
    event_id = post(server, {"user-service": SIGNUP, "erp-service": {"actions": [GIFTAID_SUBMIT]}})
    time.sleep(30)  # the outage itself is what is being tested
    assert state_of(server, event_id)["status"] == "queued"
    assert "will retry" in state_of(server, event_id)["reason"]
    erpnext.start()
    wait_until(lambda: state_of(server, event_id)["status"] == "delivered", 60, "delivery after the outage")

    assert len(documents(erpnext, "Gift Aid Declaration")) == 1
    assert len(documents(erpnext, "Postal")) == 1
    created = [
        r
        for r in httpx.get(erpnext.url + "/__emulator/requests", timeout=5).json()["requests"]
        if r["method"] == "POST" and "Gift" in r["path"] and r["status"] == 200
    ]
    assert len(created) == 1


def test_a_refused_document_fails_and_is_delivered_by_dlq_replay_after_the_fix(
    server_factory: ServerFactory, emulators: tuple[Emulator, Emulator]
) -> None:
    users, erpnext = emulators
    httpx.put(
        erpnext.url + "/__emulator/mandatory", json={"Gift Aid Declaration": ["claim_reference"]}, timeout=5
    )
    server = start_service(server_factory, users, erpnext)
    event_id = post(server, {"user-service": SIGNUP, "erp-service": {"actions": [GIFTAID_SUBMIT]}})
    wait_until(lambda: state_of(server, event_id)["status"] == "failed", 30, "the refusal")
    assert "417" in state_of(server, event_id)["reason"]

    httpx.put(erpnext.url + "/__emulator/mandatory", json={}, timeout=5)  # the fix
    replay = subprocess.run(
        [
            sys.executable,
            "-m",
            "supporterflow.entrypoints.cli",
            "dlq",
            "replay",
            "supporter-events-to-deliver",
            "--yes",
        ],
        env={**server.environment(), "PYTHONPATH": str(ROOT)},
        cwd=server.tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert replay.returncode == 0, replay.stderr
    assert "1 messages replayed" in replay.stdout
    wait_until(lambda: state_of(server, event_id)["status"] == "delivered", 30, "delivery after the replay")
    assert len(documents(erpnext, "Gift Aid Declaration")) == 1
