"""The normalised ``status`` of a subscription, from App Store V1 or V2 inputs.

Why: consumers need one vocabulary whatever the store answered. This is a supporterflow addition
(the legacy system stores raw payloads and never derives a status), so the rules below are the
documented choices of this module rather than upstream behaviour; ``paused`` exists for Google
and is never produced from Apple inputs.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Final

__all__ = [
    "APP_STORE_STATUS",
    "SubscriptionStatus",
    "status_from_app_store_v2",
    "status_from_v1",
]


class SubscriptionStatus(StrEnum):
    ACTIVE = "active"
    GRACE_PERIOD = "grace_period"
    BILLING_RETRY = "billing_retry"
    EXPIRED = "expired"
    REVOKED = "revoked"
    REFUNDED = "refunded"
    PAUSED = "paused"


def status_from_v1(
    *,
    now: datetime,
    expires_date: datetime,
    cancellation_date: datetime | None,
    is_in_billing_retry_period: bool,
    grace_period_expires_date: datetime | None,
) -> SubscriptionStatus:
    """Status from verifyReceipt / V1 fields, first matching rule wins.

    1. ``cancellation_date`` set -> refunded: in V1 it is only set when Apple customer support
       refunds the transaction (V1 cannot tell a Family Sharing revocation apart).
    2. not yet expired -> active.
    3. in billing retry with a grace period still running -> grace_period.
    4. in billing retry -> billing_retry.
    5. otherwise expired.
    """
    if cancellation_date is not None:
        return SubscriptionStatus.REFUNDED
    if expires_date > now:
        return SubscriptionStatus.ACTIVE
    if is_in_billing_retry_period:
        if grace_period_expires_date is not None and grace_period_expires_date > now:
            return SubscriptionStatus.GRACE_PERIOD
        return SubscriptionStatus.BILLING_RETRY
    return SubscriptionStatus.EXPIRED


#: "Get All Subscription Statuses" ``status`` codes (App Store Server API).
APP_STORE_STATUS: Final[Mapping[int, SubscriptionStatus]] = MappingProxyType(
    {
        1: SubscriptionStatus.ACTIVE,
        2: SubscriptionStatus.EXPIRED,
        3: SubscriptionStatus.BILLING_RETRY,
        4: SubscriptionStatus.GRACE_PERIOD,
        5: SubscriptionStatus.REVOKED,
    }
)


def status_from_app_store_v2(
    status: int, *, revocation_date: datetime | None = None, revocation_reason: int | None = None
) -> SubscriptionStatus:
    """Status from a V2 status code and the last transaction's revocation fields.

    Apple sets ``revocationReason`` (0 other, 1 app issue) only for refunds, so a revocation date
    with a reason is ``refunded``, whatever the status code; a revocation without a reason (Family
    Sharing access withdrawn) is ``revoked``. Unknown codes raise ``ValueError``.
    """
    try:
        mapped = APP_STORE_STATUS[status]
    except KeyError:
        raise ValueError(f"unknown App Store subscription status {status!r}") from None
    if revocation_date is not None:
        return SubscriptionStatus.REFUNDED if revocation_reason is not None else SubscriptionStatus.REVOKED
    return mapped
