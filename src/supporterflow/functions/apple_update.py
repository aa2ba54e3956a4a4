"""Fetch the authoritative state of App Store subscriptions and store it (spec §5.5, §5.7).

A message names what to fetch:

- ``{"receipt": ...}`` (V1 notifications, links, revalidation): ``verifyReceipt``, then one
  Subscription row per original transaction id in the receipt (spec §3.4-§3.8), with the
  StoreKit ``extra`` of the original when the App Store Server API is configured;
- ``{"originalTransactionId", "bundleId"}`` (V2 notifications, revalidation of V2 rows): "Get All
  Subscription Statuses", every signed item verified.

Each row is written with its historical snapshot, never over a fresher state, and Feast rows are
linked to the user Braze knows for the ``appAccountToken`` (``subscription_store``; spec §5.7).

What the runtime is told (spec §2.7): Apple unavailable or retryable -> ``Retry``; a sandbox
receipt reaching production (21007) -> ``Ignore``; anything Apple refuses for good ->
``GiveUp``, so that it lands in the dead-letter queue where an operator sees it (upstream
acknowledged those silently for the live apps; docs/compatibility.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import structlog

from supporterflow.domain.subscriptions.apple_receipts import (
    ReceiptOutcome,
    apple_extra,
    check_receipt_response,
    state_columns,
    to_apple_subscription,
)
from supporterflow.domain.subscriptions.apple_v2 import to_v2_subscription
from supporterflow.domain.subscriptions.apple_validation import to_sensible_payload_format
from supporterflow.domain.subscriptions.errors import ProcessingError
from supporterflow.functions.subscription_store import link_identity, store_subscription
from supporterflow.ports import (
    AppStore,
    Clock,
    GiveUp,
    IdentityLookup,
    Ignore,
    Queue,
    Receipts,
    Retry,
    Table,
)

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Fetched:
    """One Subscription row and the ``appAccountToken`` it was bought with (never stored)."""

    row: dict[str, Any]
    app_account_token: str | None


async def apple_update(
    body: bytes,
    *,
    subscriptions: Table,
    apple_historical_subscriptions: Queue,
    app_store: AppStore | None,
    receipts: Receipts,
    clock: Clock,
) -> None:
    """The live apps' consumer of ``apple-subscriptions-to-fetch``."""
    for fetched in await _fetch(body, feast=False, app_store=app_store, receipts=receipts, clock=clock):
        await store_subscription(
            fetched.row,
            subscriptions,
            apple_historical_subscriptions,
            payload=fetched.row["applePayload"],
            now=clock.now(),
        )


async def feast_apple_update(
    body: bytes,
    *,
    subscriptions: Table,
    user_subscriptions: Table,
    apple_historical_subscriptions: Queue,
    app_store: AppStore | None,
    receipts: Receipts,
    identity_lookup: IdentityLookup,
    clock: Clock,
) -> None:
    """The Feast consumer of ``feast-apple-subscriptions-to-fetch``: as the live one, then link
    each subscription to the identity Braze holds for its ``appAccountToken``."""
    fetched = await _fetch(body, feast=True, app_store=app_store, receipts=receipts, clock=clock)
    for item in fetched:
        await store_subscription(
            item.row,
            subscriptions,
            apple_historical_subscriptions,
            payload=item.row["applePayload"],
            now=clock.now(),
        )
    for item in fetched:
        await link_identity(
            item.app_account_token,
            item.row["subscriptionId"],
            identity_lookup=identity_lookup,
            user_subscriptions=user_subscriptions,
            now=clock.now(),
            missing_metric="feast_apple_update_subs_missing_identity_id",
        )


def _reference(body: bytes) -> dict[str, Any]:
    try:
        reference = json.loads(body)
    except ValueError:
        raise GiveUp("the message is not JSON") from None
    if isinstance(reference, dict) and isinstance(reference.get("receipt"), str):
        return reference
    if (
        isinstance(reference, dict)
        and isinstance(reference.get("originalTransactionId"), str)
        and isinstance(reference.get("bundleId"), str)
    ):
        return reference
    raise GiveUp('not a subscription reference: {"receipt"} or {"originalTransactionId", "bundleId"}')


async def _fetch(
    body: bytes, *, feast: bool, app_store: AppStore | None, receipts: Receipts, clock: Clock
) -> list[Fetched]:
    reference = _reference(body)
    if "receipt" in reference:
        return await _from_receipt(
            reference["receipt"], feast=feast, app_store=app_store, receipts=receipts, clock=clock
        )
    if app_store is None:
        raise Retry(
            "the App Store Server API is not configured (SF_APPLE_KEY_ID, _ISSUER_ID, _PRIVATE_KEY_FILE)"
        )
    otid, bundle_id = reference["originalTransactionId"], reference["bundleId"]
    state = await app_store.subscription(otid, bundle_id)
    if state is None:
        raise GiveUp(f"the App Store does not know subscription {otid} of {bundle_id}")
    try:
        row = to_v2_subscription(state, now=clock.now())
    except ValueError as error:
        raise GiveUp(f"subscription {otid}: {error}") from None
    token = state.transaction.get("appAccountToken")
    return [Fetched(row, token if isinstance(token, str) else None)]


async def _from_receipt(
    receipt: str, *, feast: bool, app_store: AppStore | None, receipts: Receipts, clock: Clock
) -> list[Fetched]:
    response = await receipts.verify(receipt, feast=feast, sandbox_retry=False)
    check = check_receipt_response(response)
    if check.outcome is ReceiptOutcome.RETRY:
        raise Retry(check.message)
    if check.outcome is ReceiptOutcome.GRACEFUL:
        raise Ignore(check.message)
    if check.outcome is ReceiptOutcome.GIVE_UP:
        raise GiveUp(check.message)
    try:
        validations = to_sensible_payload_format(response, receipt)
    except ProcessingError as error:
        raise (Retry if error.should_retry else GiveUp)(str(error)) from None
    fetched = []
    for validation in validations:
        info = validation.latest_receipt_info
        extra = await _extra(app_store, info.original_transaction_id, info.bundle_id)
        row = {**to_apple_subscription(validation, extra=extra), **state_columns(validation, now=clock.now())}
        fetched.append(Fetched(row, info.app_account_token))
    return fetched


async def _extra(app_store: AppStore | None, original_transaction_id: str, bundle_id: str | None) -> str:
    """The StoreKit ``extra`` of a receipt row (spec §3.7), from the verified transaction of that
    very subscription (upstream took whatever came first, unverified: §13.2.5); ``''`` when the
    API is not configured or fails, as upstream."""
    if app_store is None or bundle_id is None or bundle_id not in app_store.bundle_ids:
        return ""
    try:
        state = await app_store.subscription(original_transaction_id, bundle_id)
    except (Retry, GiveUp) as error:
        log.warning("no StoreKit extra", subscription_id=original_transaction_id, reason=str(error))
        return ""
    return apple_extra(state.transaction) if state is not None else ""
