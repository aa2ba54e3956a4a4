"""Feast acquisition events (spec §10.3, §10.4): a new user link of an active Feast subscription
becomes one event of Support's Acquisition API.

- ``feast_acquisition_router``, on user-subscription INSERTs: the linked Subscription row, as JSON
  with the original's ``tableName``, to the Apple or Google acquisition queue. Other apps and
  subscriptions ended more than 30 days ago make no event.
- ``feast_apple_acquisition`` and ``feast_google_acquisition``, consumers of those queues: ask the
  store for the purchase's country and plan, build the event (``domain/subscriptions/
  acquisitions``) and POST it.

Where the original dropped things (spec §13.1.9, §13.1.10), nothing is dropped here: a link
whose Subscription is not stored yet is retried (then the subscription's retry queue), a failed
send fails the record, an Acquisition API that refuses or is down is ``GiveUp`` / ``Retry``, and
an event that cannot be built waits in the dead-letter queue with the reason. Delivery is at
least once: a POST whose acknowledgement is lost is sent again.

Apple: the row's ``subscriptionId`` is the original transaction id, which the App Store Server
API answers for directly, with the transaction Apple signed (``storefront``, ``currency``). The
original first ran the receipt through ``verifyReceipt`` only to find a transaction id for an
unverified StoreKit lookup (§13.2.5); that detour adds nothing (verifyReceipt knows no storefront
or currency, and no row is keyed by anything but its original transaction id), so there is no
receipt fallback, and rows without a receipt (V2 rows) make events too.

Google: only ``purchases.subscriptionsv2`` is asked (region, base plan, start); the original's
``monetization.subscriptions`` call gave a billing period nothing used.
"""

from __future__ import annotations

import json
from typing import Any

import structlog

from supporterflow.domain.subscriptions.acquisitions import (
    FEAST_APPLE_BUNDLE_ID,
    FEAST_GOOGLE_PACKAGE,
    NotAnAcquisition,
    acquisition_store,
    apple_acquisition,
    google_acquisition,
    is_active,
    queue_message,
)
from supporterflow.functions.subscription_store import compact
from supporterflow.ports import (
    AcquisitionApi,
    AppStore,
    ChangeRecord,
    Clock,
    GiveUp,
    Gone,
    GooglePlay,
    Queue,
    Retry,
    Table,
)

log = structlog.get_logger(__name__)


async def feast_acquisition_router(
    record: ChangeRecord,
    *,
    subscriptions: Table,
    feast_apple_acquisition_events_queue: Queue,
    feast_google_acquisition_events_queue: Queue,
    clock: Clock,
) -> None:
    """On a user-subscription INSERT: queue the linked Feast subscription for its acquisition
    event, if it is active."""
    if record.event_name != "INSERT":
        return
    image = record.new_image or record.keys
    subscription_id = image.get("subscriptionId")
    if not isinstance(subscription_id, str) or not subscription_id:
        raise GiveUp("a user subscription without a subscriptionId")
    row = await subscriptions.get({"subscriptionId": subscription_id})
    if row is None:
        # Links can be written before the subscription they name is fetched (the link
        # endpoints): wait for it rather than drop the event, as the original did.
        raise Retry(f"subscription {subscription_id} is not stored yet")
    store = acquisition_store(row)
    if store is None:
        return
    if not is_active(row, now=clock.now()):
        log.info("feast subscription not active: no acquisition event", subscription_id=subscription_id)
        return
    queue = (
        feast_apple_acquisition_events_queue if store == "apple" else feast_google_acquisition_events_queue
    )
    await queue.send(compact(queue_message(row)))
    log.info("feast acquisition queued", subscription_id=subscription_id, store=store)


def _subscription(body: bytes) -> dict[str, Any]:
    """The Subscription row of a queue message (with the original's ``tableName``)."""
    try:
        row = json.loads(body)
    except ValueError:
        raise GiveUp("the message is not JSON") from None
    if (
        not isinstance(row, dict)
        or not isinstance(row.get("subscriptionId"), str)
        or not row["subscriptionId"]
    ):
        raise GiveUp("not a Subscription row: no subscriptionId")
    return row


async def feast_apple_acquisition(
    body: bytes, *, app_store: AppStore | None, acquisition_api: AcquisitionApi
) -> None:
    """The consumer of ``feast-apple-acquisition-events-queue``."""
    row = _subscription(body)
    if app_store is None:
        raise Retry(
            "the App Store Server API is not configured (SF_APPLE_KEY_ID, _ISSUER_ID, _PRIVATE_KEY_FILE)"
        )
    original_transaction_id = row["subscriptionId"]
    state = await app_store.subscription(original_transaction_id, FEAST_APPLE_BUNDLE_ID)
    if state is None:
        raise GiveUp(
            f"the App Store does not know subscription {original_transaction_id} of {FEAST_APPLE_BUNDLE_ID}"
        )
    try:
        payload = apple_acquisition(row, state.transaction)
    except NotAnAcquisition as error:
        raise GiveUp(f"subscription {original_transaction_id}: {error}") from None
    await acquisition_api.send(payload)
    log.info("feast acquisition sent", subscription_id=original_transaction_id, store="apple")


async def feast_google_acquisition(
    body: bytes, *, google_play: GooglePlay, acquisition_api: AcquisitionApi
) -> None:
    """The consumer of ``feast-google-acquisition-events-queue``."""
    row = _subscription(body)
    purchase_token = row["subscriptionId"]
    try:
        v2 = await google_play.subscription_v2(FEAST_GOOGLE_PACKAGE, purchase_token)
    except Gone:
        raise GiveUp("Google no longer answers for this purchase (HTTP 410)") from None
    if v2 is None:
        raise GiveUp("Google does not know this purchase (HTTP 404)")
    try:
        payload = google_acquisition(row, v2)
    except NotAnAcquisition as error:
        raise GiveUp(str(error)) from None
    await acquisition_api.send(payload)
    log.info("feast acquisition sent", store="google")
