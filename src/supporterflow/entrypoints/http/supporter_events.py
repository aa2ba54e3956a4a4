"""``POST /supporter-events`` and ``GET /supporter-events/{id}``: the supporter-event-service
producer (spec/supporter-events.md §5.2), authenticated by ``x-api-key`` (``SF_PRODUCER_API_KEYS``).

Answers keep the lambda-wrapper shape of the original (``{"data": ..., "message": ...}``)."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from supporterflow.bootstrap import Container
from supporterflow.entrypoints.http.openapi import documented
from supporterflow.entrypoints.http.responses import HttpError, read_json
from supporterflow.functions.supporter_produce import supporter_produce

_MAX_IDEMPOTENCY_KEY = 255


class IdentityHash(BaseModel):
    kind: str
    hash: str


class AcceptedData(BaseModel):
    id: str
    identities: list[IdentityHash]


class Accepted(BaseModel):
    """The request is stored and queued; one hash per identity of its ``user-service`` part."""

    data: AcceptedData
    message: str


class Invalid(BaseModel):
    """The request is not a valid ``ProducerRequest``: every error, as data-models words it."""

    data: dict[str, list[str]]
    message: str


def producer_of(request: Request, keys: Mapping[str, str]) -> str:
    """The name of the producer whose key came in ``x-api-key``; 401 for anyone else."""
    given = request.headers.get("x-api-key", "")
    # Compare with every key, always, so timing does not tell which one nearly matched.
    matches = [name for key, name in keys.items() if hmac.compare_digest(given.encode(), key.encode())]
    if not given or not matches:
        raise HttpError(401, "a producer API key is needed in x-api-key")
    return matches[0]


def public_state(event: Mapping[str, Any]) -> dict[str, Any]:
    """What a producer may see of an event: never the request (it holds identities)."""
    state = {
        "id": event["id"],
        "status": event["status"],
        "receivedAt": event["receivedAt"],
        "updatedAt": event.get("updatedAt"),
        "attempts": event.get("attempts", 0),
        "identities": event["answer"]["data"]["identities"],
        "responses": event.get("responses", []),
    }
    if event.get("reason"):
        state["reason"] = event["reason"]
    return state


def routes(container: Container) -> list[Route]:
    """The routes, when the topology has the supporter-events table and queue (a test topology
    without them serves none)."""
    if "supporter-events" not in container.tables or "supporter-events-to-deliver" not in container.queues:
        return []
    settings = container.settings
    keys = container.producer_keys
    deps = container.dependencies()

    @documented(responses={200: Accepted, 400: Invalid, 401: "no or unknown x-api-key", 409: "key reused"})
    async def produce(request: Request) -> Response:
        """Accept a supporter event (a ProducerRequest) for delivery to the user service and ERPNext.

        Send `Idempotency-Key` to make retries safe: the same key and body again get the first
        answer; the same key with another body gets 409."""
        producer = producer_of(request, keys)
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            raise HttpError(415, "send the request as Content-Type: application/json")
        idempotency_key = request.headers.get("idempotency-key")
        if idempotency_key is not None and not 0 < len(idempotency_key) <= _MAX_IDEMPOTENCY_KEY:
            raise HttpError(400, f"Idempotency-Key must have 1 to {_MAX_IDEMPOTENCY_KEY} characters")
        answer = await supporter_produce(
            await read_json(request),
            producer=producer,
            idempotency_key=idempotency_key,
            supporter_events=deps["supporter_events"],
            supporter_events_to_deliver=deps["supporter_events_to_deliver"],
            identity_key=deps["identity_key"],
            retention=settings.supporter_events_retention,
            clock=container.clock,
        )
        return JSONResponse(answer.body, status_code=answer.status)

    async def show(request: Request) -> Response:
        """The processing state of one accepted event: queued, delivered or failed (with why)."""
        producer = producer_of(request, keys)
        event = await deps["supporter_events"].get({"id": request.path_params["id"]})
        if event is None or event["producer"] != producer:
            raise HttpError(404, "no supporter event with this id for this producer")
        return JSONResponse({"data": public_state(event), "message": "success"})

    return [
        Route("/supporter-events", produce, methods=["POST"]),
        Route("/supporter-events/{id}", show, methods=["GET"]),
    ]
