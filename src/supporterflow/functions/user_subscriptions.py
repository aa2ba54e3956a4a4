"""``GET /user/subscriptions/{userId}``: the store subscriptions linked to a user, and whether
each gives access now (spec §7.3).

Who may ask (``reader_of``): a server-side caller with one of ``SF_USER_API_KEYS`` as its token
reads the user of the path (the soft opt-in consent setter, Salesforce); anyone else is the user
of their access token, whatever the path says (spec §2.6: 401/403/400, 503 when the issuer's keys
cannot be fetched, 401 when no issuer is configured).

The answer lists the user's linked Subscription rows, sorted by ``endTimestamp`` ascending (read
with JavaScript's ``Date.parse``; an unparsable end sorts as 0, then by ``subscriptionId`` so that
ties come out the same every time). ``valid`` means not ended more than 30 days ago,
``gracePeriod`` ended but still valid; an unparsable end is neither. Attributes a row does not have
are left out of its entry, as the original's JSON left out ``undefined`` members
(``cancellationTimestamp``, ``platform``...). Links whose purchase is not stored yet are left
out, as the original's BatchGet left them out.

A difference, on purpose: a Google purchase replaced by an upgrade or downgrade (its row is
marked ``supersededBy`` the new purchase token, ``google_update``) is left out, so that one
subscription is not counted twice; the purchase that replaced it is listed.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from supporterflow.domain.subscriptions.dates import date_to_ms, js_date_parse
from supporterflow.domain.subscriptions.products import soi_product_name
from supporterflow.functions.answers import Answer
from supporterflow.functions.link import bearer_token, user_of
from supporterflow.ports import Clock, Item, Table, UserTokens

GRACE: Final = timedelta(days=30)
_PAGE: Final = 100


def _is_api_key(token: str, api_keys: Sequence[str]) -> bool:
    """Constant time for every key, whichever matches."""
    matches = [hmac.compare_digest(token.encode(), key.encode()) for key in api_keys]
    return any(matches)


async def reader_of(
    path_user_id: str, authorization: str | None, *, api_keys: Sequence[str], user_tokens: UserTokens | None
) -> str | Answer:
    """The user whose subscriptions the caller may read, or the answer refusing the caller."""
    token = bearer_token(authorization)
    if token and _is_api_key(token, api_keys):
        return path_user_id
    return await user_of(authorization, user_tokens)


def _end(row: Item) -> datetime | None:
    end = row.get("endTimestamp")
    return js_date_parse(end) if isinstance(end, str) else None


def _entry(row: Item, end: datetime | None, now: datetime) -> dict[str, Any]:
    # ``now - GRACE <= end`` is ``now <= end + 30 days`` without overflowing near year 9999.
    valid = end is not None and now - GRACE <= end
    entry: dict[str, Any] = {"subscriptionId": row["subscriptionId"]}
    for name, attribute in (("from", "startTimestamp"), ("to", "endTimestamp")):
        if attribute in row:
            entry[name] = row[attribute]
    if "cancellationTimestamp" in row:
        entry["cancellationTimestamp"] = row["cancellationTimestamp"]
    entry["valid"] = valid
    entry["gracePeriod"] = valid and end is not None and now > end
    for attribute in ("autoRenewing", "productId"):
        if attribute in row:
            entry[attribute] = row[attribute]
    entry["softOptInProductName"] = soi_product_name(row.get("platform"))
    if "platform" in row:
        entry["platform"] = row["platform"]
    return entry


async def user_subscriptions(
    user_id: str, *, user_subscriptions: Table, subscriptions: Table, clock: Clock
) -> Answer:
    """``{"subscriptions": [...]}`` of ``user_id`` (spec §7.3)."""
    links: list[Item] = []
    cursor = None
    while True:
        page = await user_subscriptions.query(user_id, limit=_PAGE, cursor=cursor)
        links.extend(page.items)
        cursor = page.cursor
        if cursor is None:
            break
    keys = [{"subscriptionId": link["subscriptionId"]} for link in links]
    rows = await subscriptions.batch_get(keys) if keys else []
    current = [(row, _end(row)) for row in rows if not row.get("supersededBy")]
    current.sort(key=lambda pair: (0 if pair[1] is None else date_to_ms(pair[1]), pair[0]["subscriptionId"]))
    now = clock.now()
    return Answer(200, {"subscriptions": [_entry(row, end, now) for row, end in current]})
