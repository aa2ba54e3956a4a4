"""``POST /apple/linkToSubscriptions`` and ``POST /google/linkToSubscriptions``: link a user to the
store purchases their app holds, and fetch the ones not known yet (spec §6).

The caller is the user of the access token (``user_of``, spec §2.6): a token the issuer refuses
gets 401, one without the scope 403, one without a user id 400, and 503 when the issuer's keys
cannot be fetched; nothing is written for any of them.

Then the body is checked as a whole **before anything is written** (400 with a ``detail`` saying
what is wrong): an object with a ``platform`` the endpoint serves and a list of at most
``MAX_SUBSCRIPTIONS`` subscriptions, each with its string fields. Entries naming the same
purchase twice are one entry, the first (Apple: ``originalTransactionId``, spec §12.6; Google:
``purchaseToken``, where the original failed with DynamoDB's duplicates error). An empty list is
a request with nothing to do: 200, as the original answered it.

Each link is written once (``Absent``): a link that exists keeps its ``creationTimestamp``, so
the change stream sees exactly one INSERT per link however often the app calls (the original
re-put every link, rewriting its creation time). All links of a request share one ``now``.

Finally the purchases without a Subscription row are queued for fetching, in one ``send_batch``
of any size (the original's single SQS batch failed above 10): Apple ``{"receipt"}``, Google
``{"packageName", "purchaseToken", "subscriptionId"}`` with the package of the platform (spec
§1.6, §2.2). ``ios-feast`` links are written without a fetch: Feast promo-code purchases use
this endpoint only to create the link (spec §6.2 b). A purchase still unknown is queued again by
a later call; the fetch is idempotent.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import structlog

from supporterflow.domain.subscriptions.dates import to_iso
from supporterflow.domain.subscriptions.platforms import (
    PLATFORM_TO_GOOGLE_PACKAGE,
    Platform,
    google_package_for_platform,
)
from supporterflow.functions.answers import Answer, standard
from supporterflow.functions.subscription_store import compact
from supporterflow.ports import (
    Absent,
    Clock,
    ConditionFailed,
    Queue,
    Retry,
    Table,
    TokenOutcome,
    TokenRejected,
    UserTokens,
)

log = structlog.get_logger(__name__)

#: Most subscriptions one request may link; an app holds a handful.
MAX_SUBSCRIPTIONS: Final = 100
#: DynamoDB's limit on a sort key value (in bytes: ids are ASCII in practice).
MAX_ID_LENGTH: Final = 1024

APPLE_PLATFORMS: Final = (
    Platform.IOS.value,
    Platform.IOS_PUZZLES.value,
    Platform.IOS_EDITION.value,
    Platform.DAILY_EDITION.value,
    Platform.IOS_FEAST.value,
)
#: The platforms the Google endpoint can name a package for (spec §2.2): not ``android-feast``.
GOOGLE_PLATFORMS: Final = tuple(platform.value for platform in PLATFORM_TO_GOOGLE_PACKAGE)

#: What each refusal of a user token answers (spec §2.6).
TOKEN_STATUS: Final[Mapping[TokenOutcome, int]] = {
    "incorrect-token": 401,
    "incorrect-scope": 403,
    "missing-identity-id": 400,
}

OIDC_NOT_CONFIGURED: Final = (
    "user access tokens cannot be checked: OIDC is not configured "
    "(SF_OIDC_ISSUER, SF_OIDC_AUDIENCE, SF_OIDC_JWKS_URL)"
)


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization`` header: the header with its first ``"Bearer "`` removed,
    wherever it is, as the original did (spec §2.6); ``""`` without a header."""
    return (authorization or "").replace("Bearer ", "", 1)


async def user_of(authorization: str | None, user_tokens: UserTokens | None) -> str | Answer:
    """The user of the access token in ``authorization``, or the answer refusing it: 401 without
    a token or without an OIDC issuer configured, 401/403/400 for a token refused as
    ``incorrect-token`` / ``incorrect-scope`` / ``missing-identity-id``, 503 when the issuer's
    keys cannot be fetched."""
    if not bearer_token(authorization).strip():
        return standard(401, "the Authorization header carries no bearer token")
    if user_tokens is None:
        return standard(401, OIDC_NOT_CONFIGURED)
    try:
        return await user_tokens.user_id(authorization)
    except TokenRejected as error:
        log.info("user access token refused", outcome=error.outcome, reason=error.reason)
        return standard(TOKEN_STATUS[error.outcome], str(error))
    except Retry as error:
        return standard(503, f"cannot check the access token now: {error}")


@dataclass(frozen=True)
class _Kind:
    """What tells the two endpoints apart."""

    store: str
    platforms: tuple[str, ...]
    key: str  # the field that is the Subscription's id, and the link's
    other: str  # the other required string field


_APPLE: Final = _Kind("Apple", APPLE_PLATFORMS, key="originalTransactionId", other="receipt")
_GOOGLE: Final = _Kind("Google", GOOGLE_PLATFORMS, key="purchaseToken", other="subscriptionId")


def _string_error(entry: dict[str, Any], index: int, field: str, *, limit: int | None = None) -> str | None:
    value = entry.get(field)
    if not isinstance(value, str) or not value:
        return f"subscriptions[{index}].{field} must be a non-empty string"
    if limit is not None and len(value) > limit:
        return f"subscriptions[{index}].{field} is longer than {limit} characters"
    return None


def _request(document: Any, kind: _Kind) -> tuple[str, list[dict[str, Any]]] | str:
    """The platform and the de-duplicated entries, or why the body is not a link request."""
    if not isinstance(document, dict):
        return 'the body must be {"platform": ..., "subscriptions": [...]}'
    platform = document.get("platform")
    if platform not in kind.platforms:
        allowed = ", ".join(kind.platforms)
        if isinstance(platform, str):
            shown = json.dumps(platform[:40])
            return f"platform {shown} is not linked here; the {kind.store} platforms are {allowed}"
        return f"platform must be one of {allowed}"
    entries = document.get("subscriptions")
    if not isinstance(entries, list):
        return "subscriptions must be a list"
    if len(entries) > MAX_SUBSCRIPTIONS:
        return f"at most {MAX_SUBSCRIPTIONS} subscriptions per request"
    # A Feast promo-code link needs no receipt: nothing is fetched with it.
    needs_other = platform != Platform.IOS_FEAST.value
    unique: dict[str, dict[str, Any]] = {}
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            return f"subscriptions[{index}] must be an object"
        error = _string_error(entry, index, kind.key, limit=MAX_ID_LENGTH)
        if error is None and needs_other:
            error = _string_error(entry, index, kind.other)
        if error is not None:
            return error
        unique.setdefault(entry[kind.key], entry)
    return platform, list(unique.values())


async def link_apple_subscriptions(
    document: Any,
    *,
    user_id: str,
    user_subscriptions: Table,
    subscriptions: Table,
    apple_subscriptions_to_fetch: Queue,
    clock: Clock,
) -> Answer:
    """Link ``user_id`` to App Store purchases (``document``: the request body)."""
    request = _request(document, _APPLE)
    if isinstance(request, str):
        return standard(400, request)
    platform, entries = request
    references = {}
    if platform != Platform.IOS_FEAST.value:
        references = {entry[_APPLE.key]: {"receipt": entry["receipt"]} for entry in entries}
    return await _link_and_fetch(
        user_id,
        platform,
        [entry[_APPLE.key] for entry in entries],
        references,
        user_subscriptions=user_subscriptions,
        subscriptions=subscriptions,
        to_fetch=apple_subscriptions_to_fetch,
        clock=clock,
    )


async def link_google_subscriptions(
    document: Any,
    *,
    user_id: str,
    user_subscriptions: Table,
    subscriptions: Table,
    google_subscriptions_to_fetch: Queue,
    clock: Clock,
) -> Answer:
    """Link ``user_id`` to Google Play purchases (``document``: the request body)."""
    request = _request(document, _GOOGLE)
    if isinstance(request, str):
        return standard(400, request)
    platform, entries = request
    package_name = google_package_for_platform(platform)
    references = {
        entry["purchaseToken"]: {
            "packageName": package_name,
            "purchaseToken": entry["purchaseToken"],
            "subscriptionId": entry["subscriptionId"],
        }
        for entry in entries
    }
    return await _link_and_fetch(
        user_id,
        platform,
        list(references),
        references,
        user_subscriptions=user_subscriptions,
        subscriptions=subscriptions,
        to_fetch=google_subscriptions_to_fetch,
        clock=clock,
    )


async def _link_and_fetch(
    user_id: str,
    platform: str,
    subscription_ids: Sequence[str],
    references: Mapping[str, dict[str, Any]],
    *,
    user_subscriptions: Table,
    subscriptions: Table,
    to_fetch: Queue,
    clock: Clock,
) -> Answer:
    created = to_iso(clock.now())

    async def link(subscription_id: str) -> bool:
        row = {"userId": user_id, "subscriptionId": subscription_id, "creationTimestamp": created}
        try:
            await user_subscriptions.put(row, condition=Absent())
        except ConditionFailed:
            return False
        return True

    new = sum(await asyncio.gather(*(link(subscription_id) for subscription_id in subscription_ids)))
    queued = await _fetch_unknown(references, subscriptions, to_fetch)
    log.info(
        "subscriptions linked",
        platform=platform,
        links=len(subscription_ids),
        new_links=new,
        queued=queued,
    )
    return standard(200)


async def _fetch_unknown(
    references: Mapping[str, dict[str, Any]], subscriptions: Table, to_fetch: Queue
) -> int:
    """Queue the reference of every purchase without a Subscription row; how many were queued."""
    if not references:
        return 0
    stored = await subscriptions.batch_get([{"subscriptionId": sid} for sid in references])
    known = {item["subscriptionId"] for item in stored}
    bodies = [compact(reference) for sid, reference in references.items() if sid not in known]
    if bodies:
        await to_fetch.send_batch(bodies)
    return len(bodies)
