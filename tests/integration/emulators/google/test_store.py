"""The subscription life cycle: the notification each step produces, and the v1 and v2 bodies
the API answers after it (built from one record, so they must agree)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from supporterflow.emulators.google.payloads import (
    developer_notification,
    rfc3339,
    subscription_purchase_v1,
    subscription_purchase_v2,
)
from supporterflow.emulators.google.store import (
    SUBSCRIPTION,
    VOIDED,
    GooglePlayState,
    Step,
    StepNotAllowed,
    UnknownPurchase,
    add_duration,
    parse_duration,
)
from tests.integration.emulators.google.conftest import (
    DAY_MS,
    FEAST,
    FEAST_PRODUCT,
    LIVE,
    LIVE_PRODUCT,
    NOW_MS,
    Clock,
)

JULY_1 = NOW_MS + 30 * DAY_MS
AUGUST_1 = JULY_1 + 31 * DAY_MS
FIRST_ORDER = "GPA.3300-0000-0000-00000"


def bought(state: GooglePlayState, **options: Any) -> str:
    step = state.purchase(FEAST, FEAST_PRODUCT, **options)
    assert step.purchase_token is not None
    return step.purchase_token


def v1(state: GooglePlayState, token: str) -> dict[str, Any]:
    return subscription_purchase_v1(state.get(token))


def v2(state: GooglePlayState, token: str) -> dict[str, Any]:
    return subscription_purchase_v2(state.get(token))


def test_a_purchase_is_active_paid_and_auto_renewing_in_both_apis(state: GooglePlayState) -> None:
    step = state.purchase(FEAST, FEAST_PRODUCT, obfuscated_external_account_id="braze-123")
    token = step.purchase_token
    assert token is not None
    assert step == Step(SUBSCRIPTION, FEAST, token, 4, FEAST_PRODUCT, NOW_MS)
    assert step.name == "SUBSCRIPTION_PURCHASED"
    assert v1(state, token) == {
        "kind": "androidpublisher#subscriptionPurchase",
        "startTimeMillis": str(NOW_MS),
        "expiryTimeMillis": str(JULY_1),
        "autoRenewing": True,
        "priceCurrencyCode": "GBP",
        "priceAmountMicros": "4990000",
        "countryCode": "GB",
        "developerPayload": "",
        "paymentState": 1,
        "orderId": FIRST_ORDER,
        "acknowledgementState": 1,
        "obfuscatedExternalAccountId": "braze-123",
    }
    assert v2(state, token) == {
        "kind": "androidpublisher#subscriptionPurchaseV2",
        "regionCode": "GB",
        "lineItems": [
            {
                "productId": FEAST_PRODUCT,
                "expiryTime": "2025-07-01T12:00:00.000Z",
                "autoRenewingPlan": {
                    "autoRenewEnabled": True,
                    "recurringPrice": {"currencyCode": "GBP", "units": "4", "nanos": 990_000_000},
                },
                "offerDetails": {"basePlanId": "feast-monthly", "offerTags": []},
                "latestSuccessfulOrderId": FIRST_ORDER,
            }
        ],
        "startTime": "2025-06-01T12:00:00.000Z",
        "subscriptionState": "SUBSCRIPTION_STATE_ACTIVE",
        "latestOrderId": FIRST_ORDER,
        "acknowledgementState": "ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED",
        "externalAccountIdentifiers": {"obfuscatedExternalAccountId": "braze-123"},
    }


def test_purchase_tokens_look_like_googles(state: GooglePlayState) -> None:
    token = bought(state)
    letters, _, rest = token.partition(".")
    assert (len(letters), letters.islower(), rest[:6]) == (24, True, "AO-J1O")
    assert bought(state) != token


def test_renewals_extend_by_calendar_months_and_number_their_orders(state: GooglePlayState) -> None:
    token = bought(state)
    step = state.renew(token)
    assert (step.notification_type, step.name) == (2, "SUBSCRIPTION_RENEWED")
    assert (v1(state, token)["expiryTimeMillis"], v1(state, token)["orderId"]) == (
        str(AUGUST_1),
        f"{FIRST_ORDER}..0",
    )
    state.renew(token)
    body = v2(state, token)
    assert body["lineItems"][0]["expiryTime"] == "2025-09-01T12:00:00.000Z"
    assert body["latestOrderId"] == body["lineItems"][0]["latestSuccessfulOrderId"] == f"{FIRST_ORDER}..1"
    assert body["startTime"] == "2025-06-01T12:00:00.000Z"


def test_an_annual_plan_renews_a_year_later(state: GooglePlayState) -> None:
    token = bought(state, base_plan_id="feast-annual")
    assert v2(state, token)["lineItems"][0]["expiryTime"] == "2026-06-01T12:00:00.000Z"
    assert v1(state, token)["priceAmountMicros"] == "49990000"


def test_a_user_cancellation_keeps_access_until_the_expiry(state: GooglePlayState, clock: Clock) -> None:
    token = bought(state)
    clock.advance(timedelta(days=3))
    assert state.cancel(token).notification_type == 3
    cancelled_ms = NOW_MS + 3 * DAY_MS
    body = v1(state, token)
    assert {k: body.get(k) for k in ("autoRenewing", "cancelReason", "userCancellationTimeMillis")} == {
        "autoRenewing": False,
        "cancelReason": 0,
        "userCancellationTimeMillis": str(cancelled_ms),
    }
    assert (body["expiryTimeMillis"], body["paymentState"]) == (str(JULY_1), 1)
    body2 = v2(state, token)
    assert body2["subscriptionState"] == "SUBSCRIPTION_STATE_CANCELED"
    assert body2["canceledStateContext"] == {
        "userInitiatedCancellation": {"cancelTime": "2025-06-04T12:00:00.000Z"}
    }
    # proto3 JSON leaves a false autoRenewEnabled out.
    assert "autoRenewEnabled" not in body2["lineItems"][0]["autoRenewingPlan"]


@pytest.mark.parametrize(
    ("reason", "code", "context"),
    [
        ("system", 1, {"systemInitiatedCancellation": {}}),
        ("developer", 3, {"developerInitiatedCancellation": {}}),
    ],
)
def test_other_cancellations_have_their_reason(
    state: GooglePlayState, reason: str, code: int, context: dict[str, Any]
) -> None:
    token = bought(state)
    state.cancel(token, reason)
    assert (v1(state, token)["cancelReason"], "userCancellationTimeMillis" in v1(state, token)) == (
        code,
        False,
    )
    assert v2(state, token)["canceledStateContext"] == context


def test_a_restart_undoes_the_cancellation(state: GooglePlayState) -> None:
    token = bought(state)
    state.cancel(token)
    step = state.restart(token)
    assert (step.notification_type, step.name) == (7, "SUBSCRIPTION_RESTARTED")
    body = v1(state, token)
    assert (body["autoRenewing"], "cancelReason" in body, "userCancellationTimeMillis" in body) == (
        True,
        False,
        False,
    )
    assert "canceledStateContext" not in v2(state, token)
    assert v2(state, token)["subscriptionState"] == "SUBSCRIPTION_STATE_ACTIVE"


def test_grace_keeps_access_for_the_grace_period_with_payment_pending(state: GooglePlayState) -> None:
    token = bought(state)
    assert state.grace(token).notification_type == 6
    body = v1(state, token)
    assert (body["paymentState"], body["expiryTimeMillis"], body["autoRenewing"]) == (
        0,
        str(NOW_MS + 7 * DAY_MS),
        True,
    )
    assert v2(state, token)["subscriptionState"] == "SUBSCRIPTION_STATE_IN_GRACE_PERIOD"
    assert v2(state, token)["lineItems"][0]["expiryTime"] == "2025-06-08T12:00:00.000Z"


def test_account_hold_ends_the_period_now(state: GooglePlayState, clock: Clock) -> None:
    token = bought(state)
    state.grace(token)
    clock.advance(timedelta(days=7))
    assert state.hold(token).notification_type == 5
    hold_ms = NOW_MS + 7 * DAY_MS
    assert (v1(state, token)["expiryTimeMillis"], v1(state, token)["paymentState"]) == (str(hold_ms), 0)
    body = v2(state, token)
    assert (body["subscriptionState"], body["lineItems"][0]["expiryTime"]) == (
        "SUBSCRIPTION_STATE_ON_HOLD",
        "2025-06-08T12:00:00.000Z",
    )
    assert body["lineItems"][0]["autoRenewingPlan"]["autoRenewEnabled"] is True


def test_recovery_is_a_new_order_and_period_from_now(state: GooglePlayState, clock: Clock) -> None:
    token = bought(state)
    state.hold(token)
    clock.advance(timedelta(days=2))
    assert state.recover(token).notification_type == 1
    body = v1(state, token)
    assert (body["orderId"], body["paymentState"], body["expiryTimeMillis"]) == (
        f"{FIRST_ORDER}..0",
        1,
        str(add_duration(NOW_MS + 2 * DAY_MS, "P1M")),
    )
    assert v2(state, token)["subscriptionState"] == "SUBSCRIPTION_STATE_ACTIVE"


def test_a_pause_ends_the_period_and_schedules_the_resumption(state: GooglePlayState) -> None:
    token = bought(state)
    assert state.pause(token, "P2M").notification_type == 10
    body = v1(state, token)
    assert (body["expiryTimeMillis"], body["autoResumeTimeMillis"], body["paymentState"]) == (
        str(NOW_MS),
        str(add_duration(NOW_MS, "P2M")),
        0,
    )
    body2 = v2(state, token)
    assert body2["subscriptionState"] == "SUBSCRIPTION_STATE_PAUSED"
    assert body2["pausedStateContext"] == {"autoResumeTime": "2025-08-01T12:00:00.000Z"}


def test_resuming_early_recovers_and_the_automatic_resumption_renews(state: GooglePlayState) -> None:
    early, automatic = bought(state), bought(state)
    for token in (early, automatic):
        state.pause(token)
    assert state.resume(early).notification_type == 1
    assert state.renew(automatic).notification_type == 2
    for token in (early, automatic):
        assert v1(state, token)["expiryTimeMillis"] == str(JULY_1)
        assert "autoResumeTimeMillis" not in v1(state, token)
        assert "pausedStateContext" not in v2(state, token)


def test_an_upgrade_is_a_new_token_linked_to_the_replaced_one(state: GooglePlayState) -> None:
    old = bought(state, obfuscated_external_account_id="braze-123", test_purchase=True)
    step = state.upgrade(old)
    new = step.purchase_token
    assert new is not None
    assert new != old
    assert (step.notification_type, step.product_id) == (4, FEAST_PRODUCT)
    body = v2(state, new)
    assert body["linkedPurchaseToken"] == old
    assert body["lineItems"][0]["offerDetails"]["basePlanId"] == "feast-annual"
    assert (body["externalAccountIdentifiers"], body["testPurchase"]) == (
        {"obfuscatedExternalAccountId": "braze-123"},
        {},
    )
    assert body["latestOrderId"] == "GPA.3300-0000-0000-00001"
    replaced = v2(state, old)
    assert (replaced["subscriptionState"], replaced["canceledStateContext"]) == (
        "SUBSCRIPTION_STATE_EXPIRED",
        {"replacementCancellation": {}},
    )
    assert replaced["lineItems"][0]["expiryTime"] == "2025-06-01T12:00:00.000Z"
    replaced1 = v1(state, old)
    assert (replaced1["cancelReason"], replaced1["autoRenewing"], "paymentState" in replaced1) == (
        2,
        False,
        False,
    )


def test_an_upgrade_to_another_product(state: GooglePlayState) -> None:
    old = state.purchase(LIVE, LIVE_PRODUCT).purchase_token
    assert old is not None
    step = state.upgrade(old, "guardian.subscription.annual.meteroffer")
    assert step.purchase_token is not None
    assert v1(state, step.purchase_token)["linkedPurchaseToken"] == old
    assert v2(state, step.purchase_token)["lineItems"][0]["offerDetails"]["basePlanId"] == "annual"


def test_a_revocation_expires_now_as_a_developer_cancellation(state: GooglePlayState) -> None:
    token = bought(state)
    assert state.revoke(token).notification_type == 12
    body = v1(state, token)
    assert (body["expiryTimeMillis"], body["cancelReason"], body["autoRenewing"], "paymentState" in body) == (
        str(NOW_MS),
        3,
        False,
        False,
    )
    assert v2(state, token)["subscriptionState"] == "SUBSCRIPTION_STATE_EXPIRED"


def test_an_expiry_after_a_cancellation_keeps_the_user_reason(state: GooglePlayState, clock: Clock) -> None:
    token = bought(state)
    state.cancel(token)
    clock.advance(timedelta(days=30))
    assert state.expire(token).notification_type == 13
    body = v2(state, token)
    assert body["canceledStateContext"] == {
        "userInitiatedCancellation": {"cancelTime": "2025-06-01T12:00:00.000Z"}
    }
    assert (body["subscriptionState"], body["lineItems"][0]["expiryTime"]) == (
        "SUBSCRIPTION_STATE_EXPIRED",
        "2025-07-01T12:00:00.000Z",
    )


def test_an_expiry_out_of_account_hold_is_a_system_cancellation(state: GooglePlayState) -> None:
    token = bought(state)
    state.hold(token)
    state.expire(token)
    assert v1(state, token)["cancelReason"] == 1
    assert v2(state, token)["canceledStateContext"] == {"systemInitiatedCancellation": {}}


def test_a_refund_voids_the_latest_order_and_revokes(state: GooglePlayState) -> None:
    token = bought(state)
    state.renew(token)
    step = state.refund(token)
    assert (step.kind, step.order_id, step.notification_type, step.name) == (
        VOIDED,
        f"{FIRST_ORDER}..0",
        None,
        VOIDED,
    )
    assert v2(state, token)["subscriptionState"] == "SUBSCRIPTION_STATE_EXPIRED"
    assert v1(state, token)["expiryTimeMillis"] == str(NOW_MS)
    assert state.get(token)["refunded"] is True


def test_a_refund_after_a_revocation_leaves_the_subscription_as_it_was(
    state: GooglePlayState, clock: Clock
) -> None:
    token = bought(state)
    state.revoke(token)
    clock.advance(timedelta(days=1))
    state.refund(token)
    assert v1(state, token)["expiryTimeMillis"] == str(NOW_MS)


def test_a_free_trial_has_payment_state_2_then_pays(state: GooglePlayState) -> None:
    token = bought(state, free_trial=True)
    assert (v1(state, token)["paymentState"], v1(state, token)["expiryTimeMillis"]) == (
        2,
        str(NOW_MS + 7 * DAY_MS),
    )
    assert v2(state, token)["lineItems"][0]["offerDetails"] == {
        "basePlanId": "feast-monthly",
        "offerId": "free-trial",
        "offerTags": [],
    }
    state.renew(token)
    assert (v1(state, token)["paymentState"], v1(state, token)["expiryTimeMillis"]) == (
        1,
        str(add_duration(NOW_MS + 7 * DAY_MS, "P1M")),
    )


def test_a_test_purchase_is_marked_in_both_apis(state: GooglePlayState) -> None:
    token = bought(state, test_purchase=True)
    assert v1(state, token)["purchaseType"] == 0
    assert v2(state, token)["testPurchase"] == {}
    assert "purchaseType" not in v1(state, bought(state))
    assert "testPurchase" not in v2(state, bought(state))


def test_an_unknown_product_gets_a_monthly_base_plan(state: GooglePlayState) -> None:
    token = state.purchase("com.example", "example.sku").purchase_token
    assert token is not None
    assert v2(state, token)["lineItems"][0]["offerDetails"]["basePlanId"] == "monthly"
    product = state.product("com.example", "example.sku")
    assert product is not None
    assert [(p["basePlanId"], p["billingPeriodDuration"]) for p in product["basePlans"]] == [
        ("monthly", "P1M")
    ]


def test_an_unknown_base_plan_of_a_known_product_is_refused(state: GooglePlayState) -> None:
    with pytest.raises(ValueError, match="has no base plan 'weekly'"):
        state.purchase(FEAST, FEAST_PRODUCT, base_plan_id="weekly")


@pytest.mark.parametrize(
    ("steps", "refused"),
    [
        (["expire"], "renew"),
        (["cancel"], "cancel"),
        ([], "restart"),
        ([], "recover"),
        ([], "resume"),
        (["revoke"], "expire"),
        (["pause"], "grace"),
    ],
)
def test_impossible_steps_are_refused(state: GooglePlayState, steps: list[str], refused: str) -> None:
    token = bought(state)
    for action in steps:
        state.apply(action, token)
    before = state.get(token)
    with pytest.raises(StepNotAllowed, match=f"cannot {refused} a subscription in "):
        state.apply(refused, token)
    assert state.get(token) == before


def test_unknown_tokens_actions_and_options_are_refused(state: GooglePlayState) -> None:
    token = bought(state)
    with pytest.raises(UnknownPurchase):
        state.renew("nope")
    with pytest.raises(ValueError, match="action must be one of renew, cancel"):
        state.apply("explode", token)
    with pytest.raises(ValueError, match="renew takes no option reason"):
        state.apply("renew", token, reason="user")
    with pytest.raises(ValueError, match="reason must be one of user, system, developer"):
        state.cancel(token, "bored")


def test_a_failed_upgrade_changes_nothing(state: GooglePlayState) -> None:
    old = bought(state)
    with pytest.raises(ValueError, match="has no base plan"):
        state.upgrade(old, FEAST_PRODUCT, "weekly")
    assert state.get(old)["state"] == "SUBSCRIPTION_STATE_ACTIVE"
    assert len(state.snapshot()["purchases"]) == 1


def test_purchases_are_gone_when_marked_or_60_days_after_expiry(state: GooglePlayState, clock: Clock) -> None:
    marked, expired = bought(state), bought(state)
    state.mark_gone(marked)
    state.expire(expired)
    assert (state.is_gone(state.get(marked)), state.is_gone(state.get(expired))) == (True, False)
    clock.advance(timedelta(days=60))
    assert state.is_gone(state.get(expired)) is False
    clock.advance(timedelta(milliseconds=1))
    assert state.is_gone(state.get(expired)) is True


def test_developer_notifications_of_each_kind(state: GooglePlayState) -> None:
    token = bought(state)
    assert developer_notification(state.renew(token)) == {
        "version": "1.0",
        "packageName": FEAST,
        "eventTimeMillis": str(NOW_MS),
        "subscriptionNotification": {
            "version": "1.0",
            "notificationType": 2,
            "purchaseToken": token,
            "subscriptionId": FEAST_PRODUCT,
        },
    }
    assert developer_notification(state.refund(token))["voidedPurchaseNotification"] == {
        "purchaseToken": token,
        "orderId": f"{FIRST_ORDER}..0",
        "productType": 1,
        "refundType": 1,
    }
    assert developer_notification(state.test_notification(LIVE)) == {
        "version": "1.0",
        "packageName": LIVE,
        "eventTimeMillis": str(NOW_MS),
        "testNotification": {"version": "1.0"},
    }
    one_time = state.one_time_purchase(LIVE, "guardian.puzzle.pack")
    assert developer_notification(one_time)["oneTimeProductNotification"] == {
        "version": "1.0",
        "notificationType": 1,
        "purchaseToken": one_time.purchase_token,
        "sku": "guardian.puzzle.pack",
    }


def test_purchases_persist_in_sqlite_across_instances(tmp_path: Path, clock: Clock) -> None:
    first = GooglePlayState(tmp_path / "play.sqlite3", clock=clock)
    token = first.purchase(FEAST, FEAST_PRODUCT).purchase_token
    assert token is not None
    first.close()
    second = GooglePlayState(tmp_path / "play.sqlite3", clock=clock)
    try:
        assert second.cancel(token).notification_type == 3
        assert second.purchase(FEAST, FEAST_PRODUCT).purchase_token != token
        assert v1(second, second.snapshot()["purchases"][1]["purchaseToken"])["orderId"] == (
            "GPA.3300-0000-0000-00001"
        )
    finally:
        second.close()


def test_durations_and_timestamps() -> None:
    january_31 = 1_738_324_800_000  # 2025-01-31T12:00:00Z
    assert rfc3339(add_duration(january_31, "P1M")) == "2025-02-28T12:00:00.000Z"
    assert rfc3339(add_duration(january_31, "P1Y")) == "2026-01-31T12:00:00.000Z"
    assert rfc3339(add_duration(january_31, "P1W")) == "2025-02-07T12:00:00.000Z"
    assert rfc3339(add_duration(january_31 + 5, "P3D")) == "2025-02-03T12:00:00.005Z"
    assert parse_duration("P1Y2M") == (1, 2, 0, 0)
    for bad in ("P", "1M", "PT1H", "P1X"):
        with pytest.raises(ValueError, match="is not an ISO 8601 duration"):
            parse_duration(bad)
