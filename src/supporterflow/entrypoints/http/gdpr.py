"""``DELETE /user/{userId}``: GDPR erasure of a mobile user (``functions/gdpr_erase.py``).

Operators only: ``x-api-key`` with one of the admin keys, as the admin API (401 otherwise). The
answer is the erasure's summary (id, time, counts, ``userHash``), never the user id. Erasing a
user with nothing left is harmless and answers 200 with zero counts."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from supporterflow.bootstrap import Container
from supporterflow.entrypoints.http.admin_api import admin_only
from supporterflow.functions.gdpr_erase import ErasureSummary, gdpr_erase

__all__ = ["erase", "routes"]


async def erase(container: Container, user_id: str) -> ErasureSummary:
    """Erase ``user_id`` on the container's tables, sweeping every one of its queues."""
    return await gdpr_erase(
        user_id,
        user_subscriptions=container.tables["user-subscriptions"],
        subscriptions=container.tables["subscriptions"],
        gdpr_erasures=container.tables["gdpr-erasures"],
        soft_opt_in_consent_setter_queue=container.queues["soft-opt-in-consent-setter-queue"],
        queues=list(container.queues.values()),
        identity_key=container.collaborators["identity_key"],
        clock=container.clock,
    )


def routes(container: Container) -> list[Route]:
    @admin_only(container.admin_keys)
    async def erase_user(request: Request) -> Response:
        """Delete a user's links (a Cancellation each for the consent setter), remove queued
        messages holding the user id, and record an audit entry without it."""
        summary = await erase(container, request.path_params["userId"])
        return JSONResponse(summary.as_json())

    return [Route("/user/{userId}", erase_user, methods=["DELETE"], name="gdpr_erase")]
