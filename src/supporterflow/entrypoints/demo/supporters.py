"""The supporter half of the story: a signup with a gift aid declaration, then the same through
an ERPNext outage, dead-lettered and replayed through the admin API once ERPNext is back.

Each run makes up its own supporter (a new email address and mobile number), so that the user
service sees a new user every time; neither is ever printed, only its fingerprint.
"""

from __future__ import annotations

import json
import secrets
import uuid
from typing import Any

from supporterflow.domain.supporters import mocks
from supporterflow.entrypoints.demo.report import Reporter, StepFailed, hidden
from supporterflow.entrypoints.demo.service import DEMO_MAX_RECEIVES, TO_DELIVER, DemoService

GIFT_AID = "Gift Aid Declaration"
DLQ = f"{TO_DELIVER}-dlq"


def supporter_request() -> dict[str, Any]:
    """A ProducerRequest: a user-service signup and a ``giftaid:submit`` ERP action whose
    ``supporter_uuid`` the service fills in from the signup."""
    run = secrets.token_hex(4)
    action = mocks.action("giftaid:submit")
    action["data"].update(
        supporter_uuid=None,
        declaration_transaction_id=str(uuid.uuid4()),
        first_name="Ada",
        last_name="Lovelace",
    )
    return {
        "user-service": {
            "firstName": "Ada",
            "lastName": "Lovelace",
            "identities": [
                {"kind": "email", "content": f"ada.{run}@example.com"},
                {"kind": "mobile", "content": f"07700 9{secrets.randbelow(100_000):05d}"},
            ],
        },
        "erp-service": {"actions": [action]},
    }


def _describe(request: dict[str, Any]) -> str:
    identities = ", ".join(
        f"{i['kind']} {hidden(i['content'])}" for i in request["user-service"]["identities"]
    )
    actions = ", ".join(a["type"] for a in request["erp-service"]["actions"])
    return f"signup ({identities}), ERP actions: {actions}"


async def _post_event(service: DemoService, report: Reporter) -> tuple[str, str]:
    """POST the request; the event id and the transaction id of its gift aid declaration."""
    request = supporter_request()
    report.sent(f"POST /supporter-events  {_describe(request)}")
    response = await service.api.post(
        "/supporter-events", content=json.dumps(request), headers=service.producer_headers()
    )
    if response.status_code != 200:
        raise StepFailed(f"/supporter-events answered {response.status_code}: {response.text[:200]}")
    event_id = str(response.json()["data"]["id"])
    report.answered(f"HTTP 200, event {event_id} (committed with its delivery message)")
    return event_id, str(request["erp-service"]["actions"][0]["data"]["declaration_transaction_id"])


async def _event(service: DemoService, event_id: str) -> dict[str, Any]:
    response = await service.api.get(f"/supporter-events/{event_id}", headers=service.producer_headers())
    response.raise_for_status()
    state: dict[str, Any] = response.json()["data"]
    return state


async def _delivered(service: DemoService, event_id: str, transaction: str, report: Reporter) -> None:
    """Wait for the event's ``delivered`` state, then check both emulators hold what it wrote."""

    async def delivered() -> dict[str, Any] | None:
        state = await _event(service, event_id)
        return state if state["status"] == "delivered" else None

    state = await report.wait_for(f"GET /supporter-events/{event_id} says delivered", delivered)
    services = ", ".join(r.get("service", "?") for r in state.get("responses", []))
    report.checked(f"event {event_id} delivered after {state.get('attempts')} attempt(s): {services}")
    declarations = (await service.emulator_state(service.erpnext))["documents"].get(GIFT_AID, [])
    # The declaration is named by its transaction id (docs/erp-mapping.md).
    declaration = next(
        (d for d in declarations if transaction in (d.get("name"), d.get("declaration_transaction_id"))), None
    )
    if declaration is None:
        raise StepFailed(f"no {GIFT_AID} with transaction {transaction} in the ERPNext emulator")
    users = (await service.emulator_state(service.users))["users"]
    user = next((u for u in users if u.get("uuid") == declaration.get("supporter_uuid")), None)
    if user is None:
        raise StepFailed("the gift aid declaration's supporter_uuid is no user of the user-service emulator")
    report.checked(f"user-service emulator: user {user['uuid']} created")
    report.checked(f"ERPNext emulator: {GIFT_AID} {declaration.get('name')} for supporter {user['uuid']}")


async def gift_aid_signup(service: DemoService, report: Reporter) -> None:
    event_id, transaction = await _post_event(service, report)
    await _delivered(service, event_id, transaction, report)


async def erpnext_outage(service: DemoService, report: Reporter) -> None:
    """ERPNext answers 503 to everything; the delivery is retried, then dead-lettered with the
    reason; the outage ends; an operator replays the DLQ through the admin API; delivered."""
    fault = {"status": 503, "count": -1, "path_prefix": "/api/", "message": "ERPNext is down (demo outage)"}
    response = await service.erpnext.post("/__emulator/faults", json=fault)
    response.raise_for_status()
    report.sent("ERPNext emulator: POST /__emulator/faults  503 on /api/ until cleared")

    event_id, transaction = await _post_event(service, report)
    admin = service.admin_headers()

    async def dead_letter() -> dict[str, Any] | None:
        listing = await service.api.get(f"/admin/api/queues/{DLQ}/dead-letters", headers=admin)
        listing.raise_for_status()
        for message in listing.json()["messages"]:
            if event_id in message["body"]:
                return dict(message)
        return None

    message = await report.wait_for(
        f"the delivery is dead-lettered ({DEMO_MAX_RECEIVES} receives, short back-off)", dead_letter
    )
    report.checked(f"{DLQ}: message {message['id']} after {message['receiveCount']} receives")
    report.note(f"reason: {message['reason']}")
    state = await _event(service, event_id)
    report.answered(f"GET /supporter-events/{event_id}: {state['status']}")

    cleared = await service.erpnext.delete("/__emulator/faults")
    cleared.raise_for_status()
    report.sent("ERPNext emulator: DELETE /__emulator/faults  (the outage ends)")
    report.sent(f"POST /admin/api/queues/{DLQ}/dead-letters/replay  messageIds [{message['id']}]")
    replay = await service.api.post(
        f"/admin/api/queues/{DLQ}/dead-letters/replay", headers=admin, json={"messageIds": [message["id"]]}
    )
    report.answered(f"HTTP {replay.status_code} {replay.text}")
    if replay.status_code != 200 or replay.json().get("replayed") != 1:
        raise StepFailed(f"the replay answered {replay.status_code}: {replay.text[:200]}")
    report.checked(f"replayed 1 message from {DLQ}")
    await _delivered(service, event_id, transaction, report)
