"""The normalised subscription status from V1 and App Store V2 inputs (table-driven)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from supporterflow.domain.subscriptions.status import (
    SubscriptionStatus,
    status_from_app_store_v2,
    status_from_v1,
)

NOW = datetime(2023, 3, 14, tzinfo=UTC)
LATER = NOW + timedelta(days=3)
EARLIER = NOW - timedelta(days=3)


@pytest.mark.parametrize(
    ("expires", "cancelled", "retrying", "grace", "expected"),
    [
        (LATER, None, False, None, "active"),
        (LATER, None, True, LATER, "active"),
        (LATER, EARLIER, False, None, "refunded"),
        (EARLIER, EARLIER, True, LATER, "refunded"),
        (EARLIER, None, True, LATER, "grace_period"),
        (EARLIER, None, True, EARLIER, "billing_retry"),
        (EARLIER, None, True, None, "billing_retry"),
        (EARLIER, None, False, LATER, "expired"),
        (EARLIER, None, False, None, "expired"),
        (NOW, None, False, None, "expired"),
    ],
)
def test_v1_status_table(
    expires: datetime, cancelled: datetime | None, retrying: bool, grace: datetime | None, expected: str
) -> None:
    status = status_from_v1(
        now=NOW,
        expires_date=expires,
        cancellation_date=cancelled,
        is_in_billing_retry_period=retrying,
        grace_period_expires_date=grace,
    )
    assert status == expected


@pytest.mark.parametrize(
    ("code", "revoked_at", "reason", "expected"),
    [
        (1, None, None, "active"),
        (2, None, None, "expired"),
        (3, None, None, "billing_retry"),
        (4, None, None, "grace_period"),
        (5, None, None, "revoked"),
        (5, EARLIER, None, "revoked"),
        (2, EARLIER, 0, "refunded"),
        (2, EARLIER, 1, "refunded"),
        (5, EARLIER, 1, "refunded"),
    ],
)
def test_app_store_v2_status_table(
    code: int, revoked_at: datetime | None, reason: int | None, expected: str
) -> None:
    assert status_from_app_store_v2(code, revocation_date=revoked_at, revocation_reason=reason) == expected


def test_an_unknown_app_store_status_code_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown App Store subscription status 6"):
        status_from_app_store_v2(6)


def test_paused_exists_but_is_never_derived_from_apple_inputs() -> None:
    assert SubscriptionStatus.PAUSED.value == "paused"
