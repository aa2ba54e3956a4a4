"""Accept an App Store server notification (``POST /apple/pubsub``, ``POST /feast/apple/pubsub``).

Two kinds arrive on the same URL (spec §5.1, §5.3):

- **V2** ``{"signedPayload": ...}``: trusted only once it and the signed transaction and renewal
  info inside it verify to the configured Apple root (401 when they do not, 400 when it is not
  signed data at all). Apple retries a notification until it gets a 200, so the event row is
  keyed by Apple's ``signedDate`` and written once per ``notificationUUID``: a retry is answered
  200 and neither stored nor queued again.
- **V1** (legacy, unsigned): the ``?secret=`` and, when configured, the shared secret Apple puts
  in the body as ``password``, then the strict parser of spec §3.2 and the SubscriptionEvent of §3.3.

Either way the event row and its fetch reference are committed in one transaction before the
200, and nothing is written when the answer is not 200. No store API is called here: an
acknowledged notification must not depend on Apple answering in time (the Subscription row gets
the StoreKit ``extra`` when it is fetched).
"""

from __future__ import annotations

import hmac
import math
from typing import Any

import structlog

from supporterflow.domain.subscriptions.apple_v1 import (
    InvalidPayloadError,
    parse_notification,
    redact_for_log,
    to_dynamo_event,
    to_sqs_sub_reference,
)
from supporterflow.domain.subscriptions.apple_v2 import fetch_reference, notification_summary, to_v2_event
from supporterflow.functions.answers import Answer, standard
from supporterflow.functions.subscription_store import compact, record_event_once
from supporterflow.ports import (
    AppStore,
    Clock,
    Outgoing,
    Queue,
    SignedDataRejected,
    Table,
)

log = structlog.get_logger(__name__)


def _same_secret(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


async def apple_pubsub(
    document: Any,
    *,
    query_secret: str | None,
    pubsub_secret: str | None,
    shared_secret: str | None,
    app_store: AppStore | None,
    subscription_events: Table,
    subscriptions_to_fetch: Queue,
    clock: Clock,
) -> Answer:
    """``document`` is the parsed JSON body. ``pubsub_secret`` / ``shared_secret`` are the V1
    checks of this endpoint (None: not checked); ``subscriptions_to_fetch`` is the live or the
    Feast fetch queue."""
    if isinstance(document, dict) and "signedPayload" in document:
        return await _signed(
            document["signedPayload"], app_store, subscription_events, subscriptions_to_fetch, clock
        )
    if pubsub_secret is not None and not _same_secret(query_secret, pubsub_secret):
        return standard(401, "the secret query parameter is missing or wrong")
    if shared_secret is not None and not (
        isinstance(document, dict) and _same_secret(_text(document.get("password")), shared_secret)
    ):
        return standard(401, "the notification's password is not the App Store shared secret")
    try:
        notification = parse_notification(document)
        event = _storable(to_dynamo_event(notification, now=clock.now()))
    except InvalidPayloadError as error:
        log.warning("invalid App Store V1 notification", error=str(error), payload=redact_for_log(document))
        return standard(400, str(error))
    except ValueError as error:  # an empty latest_receipt_info: upstream crashed with a 502 (§13.1.2)
        return standard(400, str(error))
    reference = to_sqs_sub_reference(notification)
    await subscription_events.put(event, then_send=[Outgoing(subscriptions_to_fetch, compact(reference))])
    log.info(
        "App Store V1 notification stored",
        notification_type=event["eventType"],
        subscription_id=event["subscriptionId"],
        app_id=event["appId"],
    )
    return standard(200)


def _storable(value: Any) -> Any:
    """``value`` with NaN and infinities as None, as ``JSON.stringify`` writes them.

    The V1 parser keeps JavaScript's ``Number("TEST")``, NaN, in ``purchase_date_ms`` and
    ``expires_date_ms`` (spec §3.2), and the spec's own example notification carries such values
    (§12.1 case 4, answered 200). No table stores NaN (SQLite's JSON functions reject it, a
    DynamoDB number cannot be NaN): written as is, that notification would be a 500."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _storable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_storable(item) for item in value]
    return value


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


async def _signed(
    signed_payload: object, app_store: AppStore | None, events: Table, to_fetch: Queue, clock: Clock
) -> Answer:
    if not isinstance(signed_payload, str):
        return standard(400, "signedPayload must be a string")
    if app_store is None:
        return standard(401, "signed notifications cannot be verified: SF_APPLE_ROOT_CERTS is not set")
    try:
        notification = app_store.verify_notification(signed_payload)
    except SignedDataRejected as error:
        log.warning("App Store V2 notification rejected", reason=str(error), malformed=error.malformed)
        return standard(400 if error.malformed else 401, str(error))
    event = to_v2_event(notification, now=clock.now())
    reference = fetch_reference(notification)
    summary = notification_summary(notification)
    stored = await record_event_once(
        event,
        identity="notificationUUID",
        events=events,
        messages=lambda _: [Outgoing(to_fetch, compact(reference))] if reference else [],
    )
    if stored:
        log.info("App Store V2 notification stored", queued=bool(reference), **summary)
    else:
        log.info("App Store V2 notification already stored", **summary)
    return standard(200)
