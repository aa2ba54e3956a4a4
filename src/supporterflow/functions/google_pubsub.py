"""Accept a Google Play real-time developer notification (``POST /google/pubsub``,
``POST /feast/google/pubsub``; spec §4.1, §5.2, §5.4).

Pub/Sub pushes the notification in an envelope. A push is authentic when it carries Google's
OIDC token for our push subscription (checked when ``SF_GOOGLE_PUSH_AUDIENCE`` is set) **or** the
legacy ``?secret=`` (checked when the secret is set): 401 otherwise, nothing stored.

Every notification is recorded once: subscription notifications, and (additions) test
notifications, voided purchases and one-time products, which the original refused with a 400
or ignored. Pub/Sub redelivers a message with the same ``messageId``: the event row is written
only if its key is free, and a redelivery is answered 200 without queuing again. The event row and
its fetch reference are committed together before the 200.

No Google API is called here (the original called it for ``freeTrial`` and the ``extra`` while
Pub/Sub waited): the fetch that follows completes those fields of the event (``google_update``).
"""

from __future__ import annotations

import hmac
from typing import Any

import structlog

from supporterflow.domain.subscriptions.google import (
    InvalidNotification,
    PushMessage,
    fetch_reference,
    parse_push,
    to_google_event,
)
from supporterflow.functions.answers import Answer, standard
from supporterflow.functions.subscription_store import compact, record_event_once
from supporterflow.ports import (
    Clock,
    Outgoing,
    PushAuthenticator,
    PushRejected,
    Queue,
    Retry,
    Table,
)

log = structlog.get_logger(__name__)


async def authenticate(
    *,
    push: PushAuthenticator | None,
    authorization: str | None,
    pubsub_secret: str | None,
    query_secret: str | None,
) -> Answer | None:
    """None when the push may be accepted, else the answer to give (401, or 503 when Google's
    certificates cannot be fetched). The secret is compared first: a push it authenticates needs
    no certificates, so their outage does not turn it away."""
    secret_right = (
        pubsub_secret is not None
        and query_secret is not None
        and hmac.compare_digest(query_secret.encode(), pubsub_secret.encode())
    )
    if secret_right:
        return None
    reasons = []
    if push is not None:
        try:
            await push.verify(authorization)
            return None
        except PushRejected as error:
            reasons.append(str(error))
        except Retry as error:
            return standard(503, f"cannot check the push token now: {error}")
    if pubsub_secret is not None:
        reasons.append("the secret query parameter is missing or wrong")
    if reasons:
        log.warning("Google push rejected", reasons=reasons)
        return standard(401, "; ".join(reasons))
    return None


async def google_pubsub(
    document: Any, *, subscription_events: Table, subscriptions_to_fetch: Queue, clock: Clock
) -> Answer:
    """``document`` is the body of a push that ``authenticate`` accepted."""
    try:
        message = parse_push(document)
    except InvalidNotification as error:
        log.warning("invalid Google notification", error=str(error))
        return standard(400, str(error))
    event = to_google_event(message, free_trial=None)
    # The fetch completes the event with freeTrial and the extra: the reference says where it is.
    return await _record(
        message, event, fetch_reference(message), subscription_events, subscriptions_to_fetch
    )


async def _record(
    message: PushMessage,
    event: dict[str, Any],
    reference: dict[str, Any] | None,
    events: Table,
    to_fetch: Queue,
) -> Answer:
    def messages(event: dict[str, Any]) -> list[Outgoing]:
        # The reference names the event's final key, suffix included.
        if reference is None:
            return []
        return [Outgoing(to_fetch, compact({**reference, "timestampAndType": event["timestampAndType"]}))]

    stored = await record_event_once(event, identity="messageId", events=events, messages=messages)
    summary = {"kind": message.kind, "message_id": message.message_id, "event_type": event["eventType"]}
    if stored:
        log.info("Google notification stored", queued=bool(reference), **summary)
    else:
        log.info("Google notification already stored", **summary)
    return standard(200)
