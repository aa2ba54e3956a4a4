"""Deliver one accepted supporter event: user service first, then ERPNext
(spec/supporter-events.md §5.1, §5.2 Consumer).

1. With a ``user-service`` part: sign the supporter up (create if not exists); its uuid is the
   supporter uuid of this request (scenario 1).
2. Every ERP action with an empty ``supporter_uuid`` gets the signup uuid, else the uuid of the user
   its ``identity_hash`` matches (scenario 2; one lookup per hash per message).
3. The completed ERP request is validated strictly (no ``partial``), as the ERP side will.
4. Each action becomes ERPNext document upserts, named from the payload: redelivery is harmless.

The stored request is never changed, so a retry completes it afresh. What happened is recorded on
the event row (``delivered``, or ``failed`` with the reason and the downstream answers so far);
identity contents are never written to it beyond the request itself.
"""

from __future__ import annotations

import json
from typing import Any

import structlog

from supporterflow.domain.supporters.completion import complete_supporter_uuids, hashes_to_match
from supporterflow.domain.supporters.erp_documents import documents_for
from supporterflow.domain.supporters.models import ERP_PRODUCER_REQUEST, SIGNUP_REQUEST
from supporterflow.domain.supporters.schema import validate
from supporterflow.functions.supporter_produce import validation_context
from supporterflow.ports import Clock, Erp, GiveUp, Ignore, Retry, Table, UserService

log = structlog.get_logger(__name__)


async def supporter_consume(
    body: bytes, *, supporter_events: Table, user_service: UserService, erp: Erp, clock: Clock
) -> None:
    event_id = json.loads(body)["id"]
    event = await supporter_events.get({"id": event_id})
    if event is None:
        raise Ignore(f"supporter event {event_id} is no longer stored (expired)")
    if event["status"] == "delivered":
        return
    responses: list[dict[str, Any]] = []
    try:
        await _deliver(event["request"], responses, user_service=user_service, erp=erp, clock=clock)
    except GiveUp as error:
        await _record(supporter_events, event, clock, "failed", responses, reason=str(error))
        raise
    except Retry as error:
        await _record(supporter_events, event, clock, "queued", responses, reason=f"will retry: {error}")
        raise
    await _record(supporter_events, event, clock, "delivered", responses)
    log.info("supporter event delivered", event_id=event_id, documents=len(responses))


async def _deliver(
    request: dict[str, Any],
    responses: list[dict[str, Any]],
    *,
    user_service: UserService,
    erp: Erp,
    clock: Clock,
) -> None:
    signup_uuid = None
    if request.get("user-service"):
        signup = validate(
            SIGNUP_REQUEST, request["user-service"], context=validation_context(clock, partial=False)
        )
        if not signup.valid:
            raise GiveUp("the completed signup request is not valid: " + "; ".join(signup.errors))
        answer = await user_service.signup(signup.value)
        signup_uuid = str(answer["user"]["uuid"])
        responses.append({"service": "user-service", "call": "signup", "user": signup_uuid})

    erp_request = request.get("erp-service")
    if not erp_request:
        return
    matched: dict[str, str] = {}
    for identity_hash in hashes_to_match(erp_request["actions"], signup_uuid):
        found = await user_service.match({"identity_hash": identity_hash})
        if found is None:
            # The signup that creates this user may still be on its way (spec §5.2).
            raise Retry(f"no user matches identity hash {identity_hash[:12]}… yet")
        matched[identity_hash] = str(found["user"]["uuid"])
        responses.append({"service": "user-service", "call": "match", "user": matched[identity_hash]})

    completed = {
        **erp_request,
        "actions": complete_supporter_uuids(erp_request["actions"], signup_uuid, matched),
    }
    strict = validate(ERP_PRODUCER_REQUEST, completed, context=validation_context(clock, partial=False))
    if not strict.valid:
        raise GiveUp("the completed ERP request is not valid: " + "; ".join(strict.errors))
    for action in strict.value["actions"]:
        for document in documents_for(action):
            write = await erp.upsert(document)
            responses.append(
                {"service": "erpnext", "doctype": write.doctype, "name": write.name, "result": write.result}
            )


async def _record(
    events: Table,
    event: dict[str, Any],
    clock: Clock,
    status: str,
    responses: list[dict[str, Any]],
    *,
    reason: str | None = None,
) -> None:
    update = {**event, "status": status, "responses": responses, "updatedAt": clock.now().isoformat()}
    update["attempts"] = int(event.get("attempts", 0)) + 1
    if reason is None:
        update.pop("reason", None)
    else:
        update["reason"] = reason
    await events.put(update)
