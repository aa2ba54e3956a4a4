"""Fetch the authoritative state of Google Play subscriptions and store it (spec §5.6, §5.8).

A message is ``{"packageName", "purchaseToken", "subscriptionId"}`` (the SKU; spec §1.6), or
``{"packageName", "purchaseToken", "voided": true}`` after a refund, which names no SKU. When it
came from a notification it also names the event (``timestampAndType``), which the fetch
completes with what the original looked up while Pub/Sub waited: ``freeTrial`` (v1
``paymentState``) and, for the live apps, the ``extra`` and ``promotional_offer_id``.

- Live apps: the v1 ``purchases.subscriptions.get`` body is the row (spec §4.7), the v2
  ``subscriptionsv2.get`` gives the ``extra`` and the normalised ``status``;
- Feast: the v2 body and the product's base plan make the row, the v1 body is the historical
  snapshot's payload, and the user is linked through ``obfuscatedExternalAccountId``.

A purchase that replaced another (``linkedPurchaseToken``: upgrade, downgrade, resubscription)
marks the replaced row ``supersededBy`` the new token, so that nobody counts both. Rows never move
back to an older state (``subscription_store``). A purchase Google forgot (410) is acknowledged;
a token Google refuses goes to the dead-letter queue with the reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import structlog

from supporterflow.domain.subscriptions.errors import ProcessingError
from supporterflow.domain.subscriptions.google_play import (
    FREE_TRIAL,
    google_extra,
    google_subscription,
    product_id_of,
    state_columns,
    to_feast_subscription,
    to_live_subscription,
)
from supporterflow.domain.subscriptions.products import billing_period
from supporterflow.functions.subscription_store import compact, link_identity, store_subscription
from supporterflow.ports import (
    AttrMissing,
    Clock,
    ConditionFailed,
    Exists,
    GiveUp,
    Gone,
    GooglePlay,
    IdentityLookup,
    Ignore,
    Outgoing,
    Queue,
    Retry,
    Table,
)

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Reference:
    package_name: str
    purchase_token: str
    sku: str | None
    voided: bool
    event_key: str | None  # the notification's timestampAndType


def _reference(body: bytes) -> Reference:
    try:
        value = json.loads(body)
    except ValueError:
        raise GiveUp("the message is not JSON") from None
    if not isinstance(value, dict):
        raise GiveUp("the message is not a JSON object")
    package, token, sku = value.get("packageName"), value.get("purchaseToken"), value.get("subscriptionId")
    key = value.get("timestampAndType")
    if (
        not isinstance(package, str)
        or not isinstance(token, str)
        or not (sku is None or isinstance(sku, str))
    ):
        raise GiveUp('not a subscription reference: {"packageName", "purchaseToken", "subscriptionId"}')
    if sku is None and value.get("voided") is not True:
        raise GiveUp("a subscription reference needs its subscriptionId (the SKU)")
    return Reference(package, token, sku, value.get("voided") is True, key if isinstance(key, str) else None)


def _processing(error: ProcessingError) -> Retry | GiveUp:
    return (Retry if error.should_retry else GiveUp)(str(error))


async def google_update(
    body: bytes,
    *,
    subscriptions: Table,
    subscription_events: Table,
    google_historical_subscriptions: Queue,
    google_subscriptions_to_fetch: Queue,
    google_play: GooglePlay,
    clock: Clock,
) -> None:
    """The live apps' consumer of ``google-subscriptions-to-fetch``."""
    reference = _reference(body)
    fetched_at = clock.now()
    try:
        v2 = await google_play.subscription_v2(reference.package_name, reference.purchase_token)
    except (Retry, GiveUp) as error:
        if reference.sku is None:
            raise
        # The v2 answer only adds the extra and a better status: the row stands without it.
        log.warning("no v2 answer: the extra is left empty", reason=str(error))
        v2 = None
    except Gone:
        raise Ignore("Purchase expired a very long time ago") from None
    try:
        sku = reference.sku or (product_id_of(v2) if v2 else None)
    except ProcessingError as error:  # a voided purchase's v2 body names no product
        raise _processing(error) from None
    if sku is None:
        raise GiveUp("Google does not know this purchase (HTTP 404)")
    try:
        v1 = await google_play.subscription_v1(reference.package_name, sku, reference.purchase_token)
    except Gone:
        raise Ignore("Purchase expired a very long time ago") from None
    extra, offer_id = (
        google_extra(reference.package_name, reference.purchase_token, sku, v2) if v2 else ("", None)
    )
    period = billing_period(sku)
    if period is None:
        log.warning("unknown product: no billing period", product_id=sku)
    try:
        row = to_live_subscription(
            reference.purchase_token, reference.package_name, sku, v1, billing_period=period, extra=extra
        )
    except ProcessingError as error:
        raise _processing(error) from None
    row.update(state_columns(v2, v1, now=clock.now(), fetched_at=fetched_at, voided=reference.voided))
    await _keep_supersession(row, subscriptions)
    if await store_subscription(
        row, subscriptions, google_historical_subscriptions, payload=v1, now=clock.now()
    ):
        await _supersede(row, reference.package_name, subscriptions, google_subscriptions_to_fetch)
    await _complete_event(
        reference, subscription_events, free_trial=_free_trial(v1), extra=extra, offer_id=offer_id, live=True
    )


async def feast_google_update(
    body: bytes,
    *,
    subscriptions: Table,
    subscription_events: Table,
    user_subscriptions: Table,
    google_historical_subscriptions: Queue,
    feast_google_subscriptions_to_fetch: Queue,
    google_play: GooglePlay,
    identity_lookup: IdentityLookup,
    clock: Clock,
) -> None:
    """The Feast consumer of ``feast-google-subscriptions-to-fetch``."""
    reference = _reference(body)
    fetched_at = clock.now()
    try:
        v2 = await google_play.subscription_v2(reference.package_name, reference.purchase_token)
        if v2 is None:
            raise GiveUp("Google does not know this purchase (HTTP 404)")
        product_id = product_id_of(v2)
        monetization = await google_play.monetization_subscription(reference.package_name, product_id)
        if monetization is None:
            raise GiveUp(f"Google does not know product {product_id} (HTTP 404)")
        subscription = google_subscription(v2, monetization, package_name=reference.package_name)
        # The historical snapshot keeps the v1 body, as the original sent it (spec §5.8). It is
        # asked for the purchase's product as v2 names it: the reference's SKU may be a stored
        # productId, which is ``dev_testing_feast`` for a test purchase (a supersession's fetch).
        v1 = await google_play.subscription_v1(reference.package_name, product_id, reference.purchase_token)
    except Gone:
        raise Ignore("Purchase expired a very long time ago") from None
    except ProcessingError as error:
        raise _processing(error) from None
    row = to_feast_subscription(reference.purchase_token, reference.package_name, subscription)
    row.update(state_columns(v2, v1, now=clock.now(), fetched_at=fetched_at, voided=reference.voided))
    await _keep_supersession(row, subscriptions)
    if await store_subscription(
        row, subscriptions, google_historical_subscriptions, payload=v1, now=clock.now()
    ):
        await _supersede(row, reference.package_name, subscriptions, feast_google_subscriptions_to_fetch)
    await link_identity(
        subscription.obfuscated_external_account_id,
        reference.purchase_token,
        identity_lookup=identity_lookup,
        user_subscriptions=user_subscriptions,
        now=clock.now(),
        missing_metric="feast_google_update_subs_missing_identity_id",
    )
    await _complete_event(
        reference,
        subscription_events,
        free_trial=_free_trial(v1),
        extra="",
        offer_id=None,
        live=False,
    )


def _free_trial(v1: dict[str, Any] | None) -> bool | None:
    return None if v1 is None else v1.get("paymentState") == FREE_TRIAL


async def _keep_supersession(row: dict[str, Any], subscriptions: Table) -> None:
    """A replaced purchase stays replaced when it is fetched again."""
    stored = await subscriptions.get({"subscriptionId": row["subscriptionId"]})
    if stored is not None and stored.get("supersededBy"):
        row["supersededBy"] = stored["supersededBy"]


async def _supersede(row: dict[str, Any], package_name: str, subscriptions: Table, to_fetch: Queue) -> None:
    """Mark the purchase this one replaced, once, and fetch it again: Google ends the old
    subscription when it issues the new one, and may not say so in a notification of its own.
    An old purchase that is not stored is left alone."""
    old_token = row.get("linkedPurchaseToken")
    if not old_token or old_token == row["subscriptionId"]:
        return
    old = await subscriptions.get({"subscriptionId": old_token})
    if old is None or old.get("supersededBy"):
        return
    refetch = {"packageName": package_name, "purchaseToken": old_token, "subscriptionId": old["productId"]}
    try:
        await subscriptions.put(
            {**old, "supersededBy": row["subscriptionId"]},
            condition=AttrMissing("supersededBy"),
            then_send=[Outgoing(to_fetch, compact(refetch))],
        )
    except ConditionFailed:
        return
    log.info("subscription superseded", status=row.get("status"))


async def _complete_event(
    reference: Reference,
    events: Table,
    *,
    free_trial: bool | None,
    extra: str,
    offer_id: str | None,
    live: bool,
) -> None:
    """Fill in the notification's event as the original built it (spec §4.2): ``freeTrial``
    from the v1 ``paymentState`` and, for the live apps only, the ``extra`` and the first line
    item's offer id."""
    if reference.event_key is None:
        return
    key = {"subscriptionId": reference.purchase_token, "timestampAndType": reference.event_key}
    event = await events.get(key)
    if event is None:
        return
    completed = dict(event)
    if free_trial is not None:
        completed["freeTrial"] = free_trial
    if live:
        completed["extra"] = extra
        completed["promotional_offer_id"] = offer_id
    if completed != event:
        try:
            await events.put(completed, condition=Exists())
        except ConditionFailed:
            return
