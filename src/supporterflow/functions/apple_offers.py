"""``POST /apple/fetchOfferDetails``: sign an App Store promotional offer (spec §3.9).

The app sends who buys which offer of which product; the answer is what StoreKit needs to
present it: a fresh ``nonce``, the ``timestamp`` in milliseconds, the key identifier and the
signature over the seven values Apple specifies. A body that is not such a request gets a 400
(upstream crashed into a 502); an unconfigured key gets a 503 that says which settings to set.
"""

from __future__ import annotations

import uuid
from typing import Any

import structlog

from supporterflow.domain.subscriptions.dates import date_to_ms
from supporterflow.functions.answers import Answer, standard
from supporterflow.ports import Clock, OfferSigner

log = structlog.get_logger(__name__)

FIELDS = ("username", "productIdentifier", "offerIdentifier")


async def apple_fetch_offer_details(document: Any, *, offers: OfferSigner | None, clock: Clock) -> Answer:
    if not isinstance(document, dict):
        return standard(400, "the body must be a JSON object")
    wrong = [name for name in FIELDS if not isinstance(document.get(name), str)]
    if wrong:
        return standard(400, "these fields must be strings: " + ", ".join(wrong))
    if offers is None:
        return standard(
            503,
            "promotional offers are not configured: set SF_APPLE_OFFER_BUNDLE_ID, "
            "SF_APPLE_OFFER_KEY_ID and SF_APPLE_OFFER_PRIVATE_KEY_FILE",
        )
    nonce = uuid.uuid4()
    timestamp = date_to_ms(clock.now())
    signature = offers.sign(
        product_id=document["productIdentifier"],
        offer_id=document["offerIdentifier"],
        username=document["username"],
        nonce=nonce,
        timestamp_ms=timestamp,
    )
    log.info(
        "promotional offer signed",
        product_id=document["productIdentifier"],
        offer_id=document["offerIdentifier"],
    )
    return Answer(
        200,
        {"nonce": str(nonce), "timestamp": timestamp, "keyIdentifier": offers.key_id, "signature": signature},
    )
