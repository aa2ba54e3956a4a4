"""The operators' JSON API under ``/admin/api``: queue depths and dead letters (list, replay,
purge). The CLI does the same on the database; the dashboard builds on this.

Every call needs ``x-api-key`` with one of the admin keys. Message bodies are shown with secrets,
tokens and identity fields fingerprinted, never in clear."""

from __future__ import annotations

import functools
import hmac
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from pydantic import BaseModel, Field, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from supporterflow.adapters.cursors import BadCursor
from supporterflow.bootstrap import Container
from supporterflow.entrypoints.http.openapi import documented
from supporterflow.entrypoints.http.responses import HttpError, read_json
from supporterflow.logs import redacted_json
from supporterflow.ports import Queue

_MAX_REPLAY_IDS = 10_000

Endpoint = Callable[[Request], Awaitable[Response]]


class ReplayRequest(BaseModel):
    """Which dead letters to replay; all of them when ``messageIds`` is left out."""

    messageIds: list[str] | None = Field(default=None, max_length=_MAX_REPLAY_IDS)


class ReplayResult(BaseModel):
    """How many messages went back to their source queue."""

    replayed: int


def admin_only(admin_keys: Sequence[str]) -> Callable[[Endpoint], Endpoint]:
    """Wrap an endpoint so that it answers 401 unless ``x-api-key`` is one of the admin keys."""
    keys = [key.encode() for key in admin_keys]

    def authorised(endpoint: Endpoint) -> Endpoint:
        @functools.wraps(endpoint)
        async def guarded(request: Request) -> Response:
            given = request.headers.get("x-api-key", "").encode()
            # Compare with every key, always, so timing does not tell which one nearly matched.
            if not any([hmac.compare_digest(given, key) for key in keys]):
                raise HttpError(401)
            return await endpoint(request)

        return guarded

    return authorised


def routes(container: Container) -> list[Route]:
    authorised = admin_only(container.admin_keys)

    def dead_letters_of(request: Request) -> Queue:
        try:
            return container.dead_letter_queue(request.path_params["queue"])
        except LookupError as error:
            raise HttpError(404, str(error)) from None

    async def list_queues(request: Request) -> Response:
        """Depth of every queue and the number of its dead letters."""
        return JSONResponse(
            {
                "queues": [
                    {
                        "name": s.name,
                        "visible": s.depth.visible,
                        "inFlight": s.depth.in_flight,
                        "delayed": s.depth.delayed,
                        "deadLetters": s.dead_letters,
                    }
                    for s in await container.queue_summaries()
                ]
            }
        )

    async def list_dead_letters(request: Request) -> Response:
        """Dead letters of a queue, oldest first, with the reason each one failed."""
        dlq = dead_letters_of(request)
        try:
            limit = int(request.query_params.get("limit", "100"))
            if not 0 < limit <= 1000:
                raise ValueError
        except ValueError:
            raise HttpError(400, "limit must be a whole number from 1 to 1000") from None
        try:
            page = await dlq.list(limit=limit, cursor=request.query_params.get("cursor"))
        except BadCursor as error:
            raise HttpError(400, str(error)) from None
        messages: list[dict[str, Any]] = [
            {
                "id": m.message_id,
                "sourceQueue": m.source_queue,
                "receiveCount": m.receive_count,
                "sentAt": m.sent_at.isoformat(),
                "reason": m.reason,
                "body": redacted_json(m.body),
            }
            for m in page.messages
        ]
        return JSONResponse({"queue": dlq.name, "messages": messages, "cursor": page.cursor})

    @documented(request=ReplayRequest, responses={200: ReplayResult})
    async def replay_dead_letters(request: Request) -> Response:
        """Move dead letters back to the queue they came from, with their receive count reset."""
        dlq = dead_letters_of(request)
        try:
            replay = ReplayRequest.model_validate(await read_json(request))
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in error.errors()
            )
            raise HttpError(400, problems) from None
        try:
            replayed = await dlq.replay(message_ids=replay.messageIds)
        except ValueError:
            raise HttpError(400, "messageIds must be ids from the dead-letter listing") from None
        return JSONResponse(ReplayResult(replayed=replayed).model_dump())

    async def purge_dead_letters(request: Request) -> Response:
        """Delete every dead letter of a queue, for good."""
        return JSONResponse({"deleted": await dead_letters_of(request).purge()})

    base = "/admin/api/queues"
    return [
        Route(base, authorised(list_queues), methods=["GET"]),
        Route(base + "/{queue}/dead-letters", authorised(list_dead_letters), methods=["GET"]),
        Route(base + "/{queue}/dead-letters", authorised(purge_dead_letters), methods=["DELETE"]),
        Route(base + "/{queue}/dead-letters/replay", authorised(replay_dead_letters), methods=["POST"]),
    ]
