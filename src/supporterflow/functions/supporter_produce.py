"""Accept a ``ProducerRequest`` from an upstream service (spec/supporter-events.md §5.2 Producer).

The request is validated exactly like data-models does (context ``partial: true``), its identity
hashes are completed, and the request row and the delivery message are committed together: a 200
means both exist. With an ``Idempotency-Key`` the same request sent again gets the first answer
and is not queued twice; another request under the same key is a conflict.
"""

from __future__ import annotations

import hashlib
import json
import random
import uuid
from datetime import timedelta
from typing import Any

from supporterflow.domain.supporters.identity_hash import complete_identity_hashes
from supporterflow.domain.supporters.models import PRODUCER_REQUEST
from supporterflow.domain.supporters.schema import validate
from supporterflow.functions.answers import Answer
from supporterflow.ports import Absent, Clock, ConditionFailed, Outgoing, Queue, Table

# Event ids made from (producer, Idempotency-Key) live in this namespace.
_IDEMPOTENCY_NAMESPACE = uuid.UUID("0b6f3a52-5d0e-4c38-9a8f-2f6a4f0f7e11")


def validation_answer(errors: tuple[str, ...] | list[str]) -> Answer:
    return Answer(400, {"data": {"errors": list(errors)}, "message": PRODUCER_REQUEST.details})


def fingerprint(body: Any) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def validation_context(clock: Clock, *, partial: bool) -> dict[str, Any]:
    """What data-models' defaults need from the outside world (time, new uuids)."""
    return {"partial": partial, "now": clock.now(), "new_uuid": lambda: str(uuid.uuid4())}


async def supporter_produce(
    body: Any,
    *,
    producer: str,
    idempotency_key: str | None,
    supporter_events: Table,
    supporter_events_to_deliver: Queue,
    identity_key: bytes,
    retention: timedelta,
    clock: Clock,
) -> Answer:
    validation = validate(PRODUCER_REQUEST, body, context=validation_context(clock, partial=True))
    if not validation.valid:
        return validation_answer(validation.errors)
    request: dict[str, Any] = validation.value
    # Before hash completion, which writes into the containers the request shares with the body.
    body_fingerprint = fingerprint(body) if idempotency_key else None
    identities = complete_identity_hashes(request, identity_key)

    if idempotency_key:
        event_id = str(uuid.uuid5(_IDEMPOTENCY_NAMESPACE, f"{producer}\n{idempotency_key}"))
    else:
        # Unique, not secret (reading an event needs its producer's key): a random v4 UUID from
        # the process's generator, without a system call per request.
        event_id = str(uuid.UUID(int=random.getrandbits(128), version=4))
    answer = Answer(200, {"data": {"id": event_id, "identities": identities}, "message": "success"})
    now = clock.now()
    row: dict[str, Any] = {
        "id": event_id,
        "status": "queued",
        "producer": producer,
        "receivedAt": now.isoformat(),
        # Only a request under an Idempotency-Key is ever compared with another one.
        "fingerprint": body_fingerprint,
        "request": request,
        "answer": answer.body,
        "responses": [],
        "ttl": int((now + retention).timestamp()),
    }
    message = json.dumps({"id": event_id}).encode()
    # Twice at most: a first request under this key may expire between the put and the get.
    for _ in range(2):
        try:
            await supporter_events.put(
                row, condition=Absent(), then_send=[Outgoing(supporter_events_to_deliver, message)]
            )
        except ConditionFailed:
            first = await supporter_events.get({"id": event_id})
            if first is None:
                continue
            if first["fingerprint"] != row["fingerprint"]:
                return Answer(
                    409,
                    {
                        "data": {"id": event_id},
                        "message": "this Idempotency-Key was used for another request",
                    },
                )
            return Answer(200, first["answer"])
        return answer
    raise RuntimeError(f"supporter event {event_id} could neither be stored nor found")
