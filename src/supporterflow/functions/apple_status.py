"""``POST /apple/subscription/status``: is each of these App Store subscriptions valid now? (spec §7.1)

An entry with a ``receipt`` is answered by ``verifyReceipt`` with the sandbox retry, as upstream;
an entry with only an ``originalTransactionId`` (a supporterflow addition, for apps that no
longer have receipts) by the App Store Server API. Valid means not expired for more than the
30-day grace the original allows, and (a fix) not refunded or revoked.

Differences from upstream, on purpose: a body that is not ``{"subscriptions": [...]}`` gets a
400 instead of a 500; a receipt Apple refuses is left out of the answer (with a warning) instead
of failing the whole request; Apple not answering gets a 503, which a client may retry.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any, Final

import structlog

from supporterflow.domain.subscriptions.apple_receipts import ReceiptOutcome, check_receipt_response
from supporterflow.domain.subscriptions.apple_v2 import INTRODUCTORY_OFFER
from supporterflow.domain.subscriptions.apple_validation import to_sensible_payload_format
from supporterflow.domain.subscriptions.dates import ms_to_date, to_iso
from supporterflow.domain.subscriptions.errors import ProcessingError
from supporterflow.functions.answers import Answer, standard
from supporterflow.ports import AppStore, Clock, GiveUp, Receipts, Retry

log = structlog.get_logger(__name__)

GRACE: Final = timedelta(days=30)
MAX_ENTRIES: Final = 100


def _status(
    *,
    now: datetime,
    original_transaction_id: str,
    auto_renew: bool,
    trial: bool,
    start: datetime,
    end: datetime,
    product: str,
    revoked: bool,
) -> dict[str, Any]:
    end_with_grace = end + GRACE
    # A refunded or revoked purchase unlocks nothing, whatever its end (upstream ignored it).
    valid = not revoked and now <= end_with_grace
    return {
        "originalTransactionId": original_transaction_id,
        "valid": valid,
        "autoRenewStatus": auto_renew,
        "gracePeriod": now > end and valid,
        "trialPeriod": trial,
        "start": to_iso(start),
        "end": to_iso(end),
        "endWithGracePeriod": to_iso(end_with_grace),
        "product": product,
    }


def _entries(document: Any) -> list[dict[str, Any]] | str:
    """The subscriptions asked about, or why the body is not a request."""
    if not isinstance(document, dict) or not isinstance(document.get("subscriptions"), list):
        return 'the body must be {"subscriptions": [...]}'
    entries: list[dict[str, Any]] = document["subscriptions"]
    if len(entries) > MAX_ENTRIES:
        return f"at most {MAX_ENTRIES} subscriptions per request"
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            return f"subscriptions[{index}] must be an object"
        receipt, otid = entry.get("receipt"), entry.get("originalTransactionId")
        if not (isinstance(receipt, str) and receipt) and not (isinstance(otid, str) and otid.isdigit()):
            return f"subscriptions[{index}] needs a receipt or a numeric originalTransactionId"
        if "clientSideValid" in entry and not isinstance(entry["clientSideValid"], bool):
            return f"subscriptions[{index}].clientSideValid must be a boolean"
    return entries


async def apple_subscription_status(
    document: Any, *, receipts: Receipts, app_store: AppStore | None, clock: Clock
) -> Answer:
    entries = _entries(document)
    if isinstance(entries, str):
        return standard(400, entries)
    now = clock.now()
    try:
        answers = await asyncio.gather(*(_answer(entry, receipts, app_store, now) for entry in entries))
    except Retry as error:
        return standard(503, f"Apple did not answer: {error}")
    statuses = [status for answer in answers for status in answer]
    by_id = {status["originalTransactionId"]: status for status in statuses}
    for entry in entries:
        otid = entry.get("originalTransactionId")
        if entry.get("clientSideValid") is True and not by_id.get(otid, {}).get("valid"):
            log.warning(
                "the app thinks a subscription is valid; Apple does not", original_transaction_id=otid
            )
    return Answer(200, statuses)


async def _answer(
    entry: dict[str, Any], receipts: Receipts, app_store: AppStore | None, now: datetime
) -> list[dict[str, Any]]:
    receipt = entry.get("receipt")
    if isinstance(receipt, str) and receipt:
        return await _from_receipt(receipt, receipts, now)
    return await _from_api(entry["originalTransactionId"], app_store, now)


async def _from_receipt(receipt: str, receipts: Receipts, now: datetime) -> list[dict[str, Any]]:
    response = await receipts.verify(receipt, feast=False, sandbox_retry=True)
    check = check_receipt_response(response)
    if check.outcome is ReceiptOutcome.RETRY:
        raise Retry(check.message)
    try:
        if check.outcome is not ReceiptOutcome.OK:
            raise ProcessingError(check.message)
        validations = to_sensible_payload_format(response, receipt)
    except ProcessingError as error:
        log.warning("receipt left out of the status answer", reason=str(error))
        return []
    statuses = []
    for validation in validations:
        info = validation.latest_receipt_info
        status = _status(
            now=now,
            original_transaction_id=info.original_transaction_id,
            auto_renew=info.auto_renew_status,
            trial=info.trial_period,
            start=info.original_purchase_date,
            end=info.expires_date,
            product=info.product_id,
            revoked=info.cancellation_date is not None,
        )
        status["latestReceipt"] = validation.latest_receipt
        statuses.append(status)
    return statuses


async def _from_api(
    original_transaction_id: str, app_store: AppStore | None, now: datetime
) -> list[dict[str, Any]]:
    if app_store is None:
        log.warning("originalTransactionId entry left out: the App Store Server API is not configured")
        return []
    for bundle_id in app_store.bundle_ids:
        try:
            state = await app_store.subscription(original_transaction_id, bundle_id)
        except GiveUp as error:
            log.warning("App Store Server API refused a status lookup", reason=str(error))
            return []
        if state is None:
            continue
        transaction, renewal = state.transaction, state.renewal or {}
        start, end = (
            ms_to_date(transaction.get("originalPurchaseDate")),
            ms_to_date(transaction.get("expiresDate")),
        )
        if start is None or end is None:
            return []
        return [
            _status(
                now=now,
                original_transaction_id=original_transaction_id,
                auto_renew=renewal.get("autoRenewStatus") == 1,
                trial=transaction.get("offerType") == INTRODUCTORY_OFFER,
                start=start,
                end=end,
                product=str(transaction.get("productId", "")),
                revoked=transaction.get("revocationDate") is not None,
            )
        ]
    return []
