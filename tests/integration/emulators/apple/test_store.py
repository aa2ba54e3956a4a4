"""The life cycle: each step's state and the notification it would trigger."""

from __future__ import annotations

from pathlib import Path

import pytest

from supporterflow.emulators.apple.store import (
    ACTIVE,
    BILLING_RETRY,
    EXPIRED,
    GRACE_PERIOD,
    REVOKED,
    AppleStoreState,
    Step,
    UnknownSubscription,
)
from tests.integration.emulators.apple.conftest import BUNDLE_ID, PRODUCT_ID


def new(state: AppleStoreState) -> str:
    return state.subscribe(bundle_id=BUNDLE_ID, product_id=PRODUCT_ID).original_transaction_id


def test_a_renewal_starts_where_the_last_period_ended(state: AppleStoreState) -> None:
    otid = new(state)
    assert state.renew(otid) == Step(otid, "DID_RENEW", None, "DID_RENEW")
    first, second = state.get(otid)["transactions"]
    assert second["purchaseDate"] == first["expiresDate"]
    assert second["transactionId"] != first["transactionId"]
    assert state.find(second["transactionId"])["originalTransactionId"] == otid


@pytest.mark.parametrize(
    ("grace", "status", "subtype"), [(True, GRACE_PERIOD, "GRACE_PERIOD"), (False, BILLING_RETRY, None)]
)
def test_a_billing_failure_then_recovery(
    state: AppleStoreState, grace: bool, status: int, subtype: str | None
) -> None:
    otid = new(state)
    assert state.fail_to_renew(otid, grace=grace).subtype == subtype
    failed = state.get(otid)
    assert (failed["status"], failed["isInBillingRetryPeriod"]) == (status, True)
    assert (failed["gracePeriodExpiresDate"] is not None) == grace

    assert state.renew(otid) == Step(otid, "DID_RENEW", "BILLING_RECOVERY", "DID_RECOVER")
    assert state.get(otid)["status"] == ACTIVE


def test_turning_auto_renew_off_then_expiring_is_voluntary(state: AppleStoreState) -> None:
    otid = new(state)
    assert state.set_auto_renew(otid, False).subtype == "AUTO_RENEW_DISABLED"
    assert state.expire(otid) == Step(otid, "EXPIRED", "VOLUNTARY", "DID_CHANGE_RENEWAL_STATUS")
    assert (state.get(otid)["status"], state.get(otid)["expirationIntent"]) == (EXPIRED, 1)


@pytest.mark.parametrize("action", ["refund", "revoke"])
def test_a_refund_or_revocation_revokes_the_latest_transaction(state: AppleStoreState, action: str) -> None:
    otid = new(state)
    step = state.apply(action, otid)
    assert step.notification_type == action.upper()
    subscription = state.get(otid)
    assert subscription["status"] == REVOKED
    assert subscription["transactions"][-1]["revocationDate"] == state.now_ms()


def test_unknown_subscriptions_and_actions_fail(state: AppleStoreState) -> None:
    with pytest.raises(UnknownSubscription):
        state.renew("1")
    with pytest.raises(ValueError, match="action must be one of"):
        state.apply("cancel", new(state))


def test_a_persisted_state_survives_a_restart(tmp_path: Path) -> None:
    first = AppleStoreState(tmp_path / "apple.sqlite3")
    otid = first.subscribe(bundle_id=BUNDLE_ID, product_id=PRODUCT_ID).original_transaction_id
    first.close()
    again = AppleStoreState(tmp_path / "apple.sqlite3")
    try:
        assert again.renew(otid).notification_type == "DID_RENEW"
        assert len(again.get(otid)["transactions"]) == 2
    finally:
        again.close()
