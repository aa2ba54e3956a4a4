"""Refresh the Play Developer API access token every 15 minutes and publish it (spec §4.5).

supporterflow's own calls keep their token in memory and refresh it before it expires; this
schedule is kept for whatever else reads the token the original published: the object
``<Stage>/google-play-developer-api/access_token.json``, ``{"token", "expiry"}`` pretty-printed.
As in the original, ``expiry`` is the time the token was *generated*, written like JavaScript's
``toUTCString()`` with ``GMT`` as ``UTC`` and no comma (``Thu 18 Jun 2026 11:54:00 UTC``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import structlog

from supporterflow.config import Settings
from supporterflow.ports import AccessTokens, Clock, ObjectStore

log = structlog.get_logger(__name__)


def token_object_key(stage: str) -> str:
    return f"{stage}/google-play-developer-api/access_token.json"


def generation_time(moment: datetime) -> str:
    """JS ``toUTCString()`` (``Thu, 18 Jun 2026 11:54:00 GMT``) with the comma dropped and
    ``GMT`` -> ``UTC``, as the original wrote it: the instant in UTC, whatever its zone."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%a %d %b %Y %H:%M:%S UTC")


async def google_oauth(
    *, google_tokens: AccessTokens, objects: ObjectStore, settings: Settings, clock: Clock
) -> None:
    token, expires = await google_tokens.refresh()
    body = json.dumps({"token": token, "expiry": generation_time(clock.now())}, indent=2)
    await objects.put(token_object_key(settings.stage), body.encode())
    log.info("Google access token published", key=token_object_key(settings.stage), expires=str(expires))
