"""``GET /google/subscription/{subscriptionId}/status``: has this Google Play purchase lapsed?
(spec §7.2)

The purchase token comes in the ``Play-Purchase-Token`` header, the package in ``Package-Name``
(default ``com.guardian``), the SKU in the path. The stored row answers first; Google's v1 API
when there is none. A purchase Google no longer knows (404, 410) is 404. Differences from
upstream, on purpose: a token Google refuses (400 "Invalid Value") is a 400, Google unavailable a
503 (the original answered 500 for both); the token is only ever logged as a hash.
"""

from __future__ import annotations

import hashlib

import structlog

from supporterflow.domain.subscriptions.dates import js_date_parse, optional_ms_to_date, to_iso
from supporterflow.functions.answers import Answer, standard
from supporterflow.ports import Clock, GiveUp, Gone, GooglePlay, Retry, Table

log = structlog.get_logger(__name__)

DEFAULT_PACKAGE = "com.guardian"


def token_hash(purchase_token: str) -> str:
    return hashlib.sha256(purchase_token.encode()).hexdigest()


async def google_subscription_status(
    subscription_id: str,
    *,
    purchase_token: str | None,
    package_name: str | None,
    subscriptions: Table,
    google_play: GooglePlay | None,
    clock: Clock,
) -> Answer:
    if not purchase_token or not subscription_id:
        return standard(400, "the Play-Purchase-Token header and the subscription id are required")
    log.info("Google subscription status", purchase_token_sha256=token_hash(purchase_token))
    now = clock.now()
    row = await subscriptions.get({"subscriptionId": purchase_token})
    expiry = js_date_parse(row["endTimestamp"]) if row and isinstance(row.get("endTimestamp"), str) else None
    if expiry is None:
        if google_play is None:
            return standard(404, "not stored, and the Play Developer API is not configured")
        try:
            body = await google_play.subscription_v1(
                package_name or DEFAULT_PACKAGE, subscription_id, purchase_token
            )
        except Gone:
            return standard(404, "Google no longer knows this purchase (expired too long ago)")
        except GiveUp as error:
            return standard(400, str(error))
        except Retry as error:
            return standard(503, f"Google did not answer: {error}")
        expiry_ms = body.get("expiryTimeMillis") if body else None
        expiry = optional_ms_to_date(expiry_ms if isinstance(expiry_ms, str) else None)
        if expiry is None:
            return standard(404)
    return Answer(200, {"subscriptionHasLapsed": now > expiry, "subscriptionExpiryDate": to_iso(expiry)})
