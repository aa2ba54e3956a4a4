"""The Play Developer API, the token endpoint and the control API over HTTP (in process)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from supporterflow.emulators.google.app import GONE_MESSAGE
from supporterflow.emulators.google.oauth import (
    GOOGLE_TOKEN_URI,
    JWT_BEARER_GRANT,
    ServiceAccount,
    sign_assertion,
)
from supporterflow.emulators.google.payloads import subscription_purchase_v1, subscription_purchase_v2
from supporterflow.emulators.google.store import GooglePlayState
from tests.integration.emulators.google.conftest import (
    API,
    FEAST,
    FEAST_PRODUCT,
    LIVE,
    NOW_MS,
    Clock,
    google_error,
    v1_path,
    v2_path,
)

MISSING = (
    "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie "
    "or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project."
)
INVALID = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other "
    "valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project."
)


async def buy(play: httpx.AsyncClient, **body: Any) -> str:
    response = await play.post(
        "/__emulator/purchases", json={"packageName": FEAST, "productId": FEAST_PRODUCT, **body}
    )
    assert response.status_code == 201, response.text
    token: str = response.json()["purchaseToken"]
    return token


async def act(play: httpx.AsyncClient, token: str, action: str, **body: Any) -> httpx.Response:
    return await play.post(f"/__emulator/purchases/{token}/{action}", json=body or None)


async def test_v1_and_v2_answer_the_purchase(
    play: httpx.AsyncClient, state: GooglePlayState, bearer: dict[str, str]
) -> None:
    token = await buy(play, obfuscatedExternalAccountId="abc")
    one = await play.get(v1_path(FEAST, FEAST_PRODUCT, token), headers=bearer)
    two = await play.get(v2_path(FEAST, token), headers=bearer)
    assert (one.status_code, one.json()) == (200, subscription_purchase_v1(state.get(token)))
    assert (two.status_code, two.json()) == (200, subscription_purchase_v2(state.get(token)))
    assert (one.json()["expiryTimeMillis"], two.json()["lineItems"][0]["expiryTime"]) == (
        "1751371200000",
        "2025-07-01T12:00:00.000Z",
    )


async def test_every_control_step_shows_in_the_api(
    play: httpx.AsyncClient, bearer: dict[str, str], clock: Clock
) -> None:
    """One subscription through its life, read back through v2 after each step."""
    token = await buy(play)
    expected = [
        ("renew", {}, 2, "SUBSCRIPTION_STATE_ACTIVE"),
        ("cancel", {"reason": "user"}, 3, "SUBSCRIPTION_STATE_CANCELED"),
        ("restart", {}, 7, "SUBSCRIPTION_STATE_ACTIVE"),
        ("grace", {}, 6, "SUBSCRIPTION_STATE_IN_GRACE_PERIOD"),
        ("hold", {}, 5, "SUBSCRIPTION_STATE_ON_HOLD"),
        ("recover", {}, 1, "SUBSCRIPTION_STATE_ACTIVE"),
        ("pause", {"duration": "P1W"}, 10, "SUBSCRIPTION_STATE_PAUSED"),
        ("resume", {}, 1, "SUBSCRIPTION_STATE_ACTIVE"),
        ("revoke", {}, 12, "SUBSCRIPTION_STATE_EXPIRED"),
    ]
    for action, body, code, subscription_state in expected:
        clock.advance(timedelta(hours=1))
        response = await act(play, token, action, **body)
        assert (response.status_code, response.json()["step"]["notification_type"]) == (200, code), action
        answer = (await play.get(v2_path(FEAST, token), headers=bearer)).json()
        assert answer["subscriptionState"] == subscription_state, action
    assert answer["lineItems"][0]["expiryTime"] == "2025-06-01T21:00:00.000Z"
    assert answer["latestOrderId"] == "GPA.3300-0000-0000-00000..2"


async def test_upgrade_refund_and_expire_through_the_control_api(
    play: httpx.AsyncClient, bearer: dict[str, str]
) -> None:
    old = await buy(play)
    upgraded = await act(play, old, "upgrade", productId=FEAST_PRODUCT, basePlanId="feast-annual")
    assert upgraded.status_code == 200
    new = upgraded.json()["purchaseToken"]
    assert upgraded.json()["step"] == {
        "kind": "subscriptionNotification",
        "package_name": FEAST,
        "purchase_token": new,
        "notification_type": 4,
        "product_id": FEAST_PRODUCT,
        "event_time_ms": NOW_MS,
        "order_id": None,
    }
    assert (await play.get(v2_path(FEAST, new), headers=bearer)).json()["linkedPurchaseToken"] == old
    refunded = await act(play, new, "refund")
    assert (refunded.json()["step"]["kind"], refunded.json()["step"]["order_id"]) == (
        "voidedPurchaseNotification",
        "GPA.3300-0000-0000-00001",
    )
    other = await buy(play)
    assert (await act(play, other, "expire")).json()["step"]["notification_type"] == 13


async def test_the_api_needs_a_bearer_token(
    play: httpx.AsyncClient, state: GooglePlayState, service_account: ServiceAccount
) -> None:
    token = await buy(play)
    missing = await play.get(v2_path(FEAST, token))
    assert (missing.status_code, missing.json()) == (
        401,
        google_error(401, MISSING, "required", "UNAUTHENTICATED"),
    )
    assert missing.headers["www-authenticate"] == 'Bearer realm="https://accounts.google.com/"'
    expired = service_account.issue_access_token(
        "https://www.googleapis.com/auth/androidpublisher", time.time() - 3600
    )
    other = ServiceAccount.generate().issue_access_token(
        "https://www.googleapis.com/auth/androidpublisher", time.time()
    )
    for bad in ("Bearer nonsense", f"Bearer {expired}", f"Bearer {other}", f"Basic {expired}"):
        response = await play.get(v1_path(FEAST, FEAST_PRODUCT, token), headers={"Authorization": bad})
        assert response.status_code == 401, bad
    invalid = await play.get(v2_path(FEAST, token), headers={"Authorization": f"Bearer {expired}"})
    assert invalid.json() == google_error(401, INVALID, "authError", "UNAUTHENTICATED")
    assert 'error="invalid_token"' in invalid.headers["www-authenticate"]
    monetization = await play.get(f"{API}/{FEAST}/subscriptions/{FEAST_PRODUCT}")
    assert monetization.status_code == 401


async def test_token_errors_as_google_sends_them(
    play: httpx.AsyncClient, bearer: dict[str, str], clock: Clock
) -> None:
    token = await buy(play)
    cases = [
        (
            v2_path(FEAST, "bad%20token!"),
            400,
            google_error(400, "Invalid Value", "invalid", "INVALID_ARGUMENT"),
        ),
        (
            v2_path(FEAST, "PURCHASE_TOKEN"),
            404,
            google_error(404, "The purchase token was not found.", "notFound", "NOT_FOUND"),
        ),
        (
            v2_path(LIVE, token),
            400,
            google_error(
                400,
                "The purchase token does not match the package name.",
                "purchaseTokenDoesNotMatchPackageName",
                "INVALID_ARGUMENT",
                "androidpublisher",
            ),
        ),
        (
            v1_path(FEAST, "another.product", token),
            400,
            google_error(400, "Invalid Value", "invalid", "INVALID_ARGUMENT"),
        ),
    ]
    for path, status, body in cases:
        response = await play.get(path, headers=bearer)
        assert (response.status_code, response.json()) == (status, body), path


async def test_a_gone_purchase_is_410_in_both_apis(
    play: httpx.AsyncClient, bearer: dict[str, str], clock: Clock
) -> None:
    gone, old = await buy(play), await buy(play)
    marked = await act(play, gone, "gone")
    assert marked.json() == {"step": None, "purchaseToken": gone, "gone": True}
    await act(play, old, "expire")
    clock.advance(timedelta(days=61))
    expected = google_error(
        410, GONE_MESSAGE, "subscriptionPurchaseNoLongerAvailable", None, "androidpublisher"
    )
    for token in (gone, old):
        for path in (v1_path(FEAST, FEAST_PRODUCT, token), v2_path(FEAST, token)):
            response = await play.get(path, headers=bearer)
            assert (response.status_code, response.json()) == (410, expected), path
    assert GONE_MESSAGE == (
        "The subscription purchase is no longer available for query because it has been expired for too long."
    )


async def test_monetization_answers_the_default_catalogue(
    play: httpx.AsyncClient, bearer: dict[str, str]
) -> None:
    response = await play.get(f"{API}/{FEAST}/subscriptions/{FEAST_PRODUCT}", headers=bearer)
    assert response.status_code == 200
    body = response.json()
    assert (body["packageName"], body["productId"]) == (FEAST, FEAST_PRODUCT)
    assert [
        (plan["basePlanId"], plan["state"], plan["autoRenewingBasePlanType"]["billingPeriodDuration"])
        for plan in body["basePlans"]
    ] == [("feast-monthly", "ACTIVE", "P1M"), ("feast-annual", "ACTIVE", "P1Y")]
    assert body["basePlans"][0]["autoRenewingBasePlanType"] == {
        "billingPeriodDuration": "P1M",
        "gracePeriodDuration": "P7D",
        "accountHoldDuration": "P30D",
        "resubscribeState": "RESUBSCRIBE_STATE_ACTIVE",
        "prorationMode": "SUBSCRIPTION_PRORATION_MODE_CHARGE_ON_NEXT_BILLING_DATE",
        "legacyCompatible": True,
    }
    assert body["basePlans"][1]["regionalConfigs"] == [
        {
            "regionCode": "GB",
            "newSubscriberAvailability": True,
            "price": {"currencyCode": "GBP", "units": "49", "nanos": 990_000_000},
        }
    ]
    assert body["listings"] == [{"languageCode": "en-GB", "title": FEAST_PRODUCT, "benefits": []}]
    missing = await play.get(f"{API}/{FEAST}/subscriptions/nope", headers=bearer)
    assert (missing.status_code, missing.json()) == (
        404,
        google_error(404, "Requested entity was not found.", "notFound", "NOT_FOUND"),
    )


async def test_a_configured_product_is_served_and_sold(
    play: httpx.AsyncClient, state: GooglePlayState, bearer: dict[str, str]
) -> None:
    configured = await play.post(
        "/__emulator/products",
        json={
            "packageName": LIVE,
            "productId": "guardian.weekly",
            "title": "Weekly",
            "basePlans": [
                {"basePlanId": "weekly", "billingPeriodDuration": "P1W", "gracePeriodDuration": "P3D"},
                {
                    "basePlanId": "quarterly",
                    "billingPeriodDuration": "P3M",
                    "price": {"currencyCode": "GBP", "units": "12"},
                },
            ],
        },
    )
    assert configured.status_code == 201, configured.text
    served = (await play.get(f"{API}/{LIVE}/subscriptions/guardian.weekly", headers=bearer)).json()
    assert served == configured.json()["product"]
    assert served["basePlans"][0]["autoRenewingBasePlanType"]["gracePeriodDuration"] == "P3D"
    assert served["basePlans"][1]["regionalConfigs"][0]["price"] == {
        "currencyCode": "GBP",
        "units": "12",
        "nanos": 0,
    }
    token = (
        await play.post(
            "/__emulator/purchases",
            json={"packageName": LIVE, "productId": "guardian.weekly", "basePlanId": "quarterly"},
        )
    ).json()["purchaseToken"]
    body = (await play.get(v1_path(LIVE, "guardian.weekly", token), headers=bearer)).json()
    assert (body["expiryTimeMillis"], body["priceAmountMicros"]) == ("1756728000000", "12000000")
    await act(play, token, "grace")
    assert state.get(token)["expiryTimeMs"] == NOW_MS + 7 * 86_400_000


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ([], ["A product is a JSON object"]),
        (
            {"packageName": "", "basePlans": []},
            [
                "packageName and productId must be non-empty strings",
                "basePlans must be a non-empty list of objects",
            ],
        ),
        (
            {
                "packageName": LIVE,
                "productId": "x",
                "basePlans": [{"basePlanId": "a", "billingPeriodDuration": "1M"}],
            },
            ["a: '1M' is not an ISO 8601 duration like P1M, P1Y or P7D"],
        ),
        (
            {
                "packageName": LIVE,
                "productId": "x",
                "basePlans": [{"basePlanId": "a", "price": {"units": 4}}],
            },
            ["a: price is {currencyCode, units (a string of digits), nanos}"],
        ),
    ],
)
async def test_a_malformed_product_is_a_400(play: httpx.AsyncClient, body: Any, errors: list[str]) -> None:
    response = await play.post("/__emulator/products", json=body)
    assert (response.status_code, response.json()["errors"]) == (400, errors)


async def test_control_api_errors(play: httpx.AsyncClient) -> None:
    bad = await play.post("/__emulator/purchases", json={"packageName": FEAST, "testPurchase": "yes"})
    assert (bad.status_code, bad.json()["errors"]) == (
        400,
        ["packageName and productId are required", "testPurchase must be a boolean"],
    )
    plan = await play.post(
        "/__emulator/purchases",
        json={"packageName": FEAST, "productId": FEAST_PRODUCT, "basePlanId": "weekly"},
    )
    assert plan.status_code == 400
    token = await buy(play)
    assert (await act(play, "no-such-token", "renew")).status_code == 404
    assert (await act(play, "no-such-token", "gone")).status_code == 404
    unknown = await act(play, token, "explode")
    assert (unknown.status_code, unknown.json()["message"]) == (
        400,
        "action must be one of renew, cancel, grace, hold, recover, pause, resume, restart, upgrade, revoke, "
        "expire, refund",
    )
    assert (await act(play, token, "cancel", reason="bored")).status_code == 400
    assert (await act(play, token, "renew", colour="red")).json()["errors"] == ["Unknown options: colour"]
    assert (await act(play, token, "renew", reason="user")).json()[
        "message"
    ] == "renew takes no option reason"
    refused = await act(play, token, "restart")
    assert (refused.status_code, refused.json()) == (
        409,
        {"message": "cannot restart a subscription in SUBSCRIPTION_STATE_ACTIVE"},
    )


async def test_state_lists_purchases_and_reset_forgets_them(
    play: httpx.AsyncClient, bearer: dict[str, str]
) -> None:
    token = await buy(play)
    await play.post(
        "/__emulator/products",
        json={"packageName": LIVE, "productId": "x", "basePlans": [{"basePlanId": "m"}]},
    )
    snapshot = (await play.get("/__emulator/state")).json()
    assert [p["purchaseToken"] for p in snapshot["purchases"]] == [token]
    assert [p["productId"] for p in snapshot["products"]] == ["x"]
    assert (await play.post("/__emulator/reset")).json() == {"reset": True}
    assert (await play.get("/__emulator/state")).json() == {"purchases": [], "products": []}
    assert (await play.get(v2_path(FEAST, token), headers=bearer)).status_code == 404


async def test_faults_have_googles_shape_and_retry_after(
    play: httpx.AsyncClient, bearer: dict[str, str]
) -> None:
    token = await buy(play)
    added = await play.post(
        "/__emulator/faults",
        json={"status": 503, "count": 1, "path_prefix": "/androidpublisher/", "retry_after_s": 30},
    )
    assert added.json()["fault"]["retry_after_s"] == 30
    faulted = await play.get(v2_path(FEAST, token), headers=bearer)
    assert (faulted.status_code, faulted.json(), faulted.headers["retry-after"]) == (
        503,
        google_error(503, "Service Unavailable", "backendError", "UNAVAILABLE"),
        "30",
    )
    assert (await play.get(v2_path(FEAST, token), headers=bearer)).status_code == 200
    await play.post("/__emulator/faults", json={"status": 429, "message": "Slow down"})
    limited = await play.get(v2_path(FEAST, token), headers=bearer)
    assert (limited.status_code, limited.json(), "retry-after" in limited.headers) == (
        429,
        google_error(429, "Slow down", "rateLimitExceeded", "RESOURCE_EXHAUSTED"),
        False,
    )
    await play.post("/__emulator/faults", json={"status": 503, "path_prefix": "/token", "retry_after_s": 0})
    oauth = await play.post("/token", data={"grant_type": JWT_BEARER_GRANT, "assertion": "x"})
    assert (oauth.status_code, oauth.json(), oauth.headers["retry-after"]) == (
        503,
        {"error": "temporarily_unavailable", "error_description": "Service Unavailable"},
        "0",
    )
    requests = (await play.get("/__emulator/requests")).json()["requests"]
    assert [(r["path"], r["status"], r["fault"]) for r in requests][-2:] == [
        (f"{API}/{FEAST}/purchases/subscriptionsv2/tokens/{token}", 429, True),
        ("/token", 503, True),
    ]


@pytest.mark.parametrize("retry_after", [-1, "30", 1.5, True])
async def test_a_bad_retry_after_is_a_400(play: httpx.AsyncClient, retry_after: Any) -> None:
    response = await play.post("/__emulator/faults", json={"status": 503, "retry_after_s": retry_after})
    assert (response.status_code, response.json()["errors"]) == (
        400,
        ["retry_after_s must be an integer >= 0 or null"],
    )


async def test_other_api_paths_are_a_google_404(play: httpx.AsyncClient, bearer: dict[str, str]) -> None:
    response = await play.post(
        f"{API}/{FEAST}/purchases/subscriptions/x/tokens/y:acknowledge", headers=bearer
    )
    assert (response.status_code, response.json()) == (
        404,
        google_error(404, "Requested entity was not found.", "notFound", "NOT_FOUND"),
    )


async def test_the_token_endpoint_grants_a_token_the_api_accepts(
    play: httpx.AsyncClient, service_account: ServiceAccount
) -> None:
    token = await buy(play)
    for audience in (GOOGLE_TOKEN_URI, "http://emulator/token", "http://play.test/token"):
        assertion = sign_assertion(service_account, time.time(), audience=audience)
        granted = await play.post("/token", data={"grant_type": JWT_BEARER_GRANT, "assertion": assertion})
        assert granted.status_code == 200, (audience, granted.text)
        body = granted.json()
        assert (body["expires_in"], body["token_type"], body["access_token"].startswith("ya29.")) == (
            3599,
            "Bearer",
            True,
        )
        headers = {"Authorization": f"Bearer {body['access_token']}"}
        assert (await play.get(v2_path(FEAST, token), headers=headers)).status_code == 200


SHORT_LIVED = (
    "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. "
    "Check your iat and exp values in the JWT claim."
)


@pytest.mark.parametrize(
    ("variant", "error", "description"),
    [
        ("other key", "invalid_grant", "Invalid JWT Signature."),
        ("other issuer", "invalid_grant", "Invalid grant: account not found"),
        (
            "other audience",
            "invalid_grant",
            "Invalid JWT: Failed audience check. The right audience is https://oauth2.googleapis.com/token",
        ),
        ("expired", "invalid_grant", SHORT_LIVED),
        ("issued in the future", "invalid_grant", SHORT_LIVED),
        ("lives two hours", "invalid_grant", SHORT_LIVED),
        ("other scope", "invalid_scope", "Invalid OAuth scope or ID token audience provided."),
        ("garbage", "invalid_grant", "Invalid JWT: malformed"),
    ],
)
async def test_a_bad_assertion_is_refused(
    play: httpx.AsyncClient,
    service_account: ServiceAccount,
    other_key: rsa.RSAPrivateKey,
    variant: str,
    error: str,
    description: str,
) -> None:
    now = time.time()
    assertions: dict[str, Callable[[], str]] = {
        "other key": lambda: sign_assertion(service_account, now, signing_key=other_key),
        "other issuer": lambda: sign_assertion(
            service_account, now, issuer="someone@else.iam.gserviceaccount.com"
        ),
        "other audience": lambda: sign_assertion(service_account, now, audience="https://example.com/token"),
        "expired": lambda: sign_assertion(service_account, now - 7200),
        "issued in the future": lambda: sign_assertion(service_account, now + 600),
        "lives two hours": lambda: sign_assertion(service_account, now, lifetime_s=7200),
        "other scope": lambda: sign_assertion(
            service_account, now, scope="https://www.googleapis.com/auth/pubsub"
        ),
        "garbage": lambda: "not.a.jwt",
    }
    response = await play.post(
        "/token", data={"grant_type": JWT_BEARER_GRANT, "assertion": assertions[variant]()}
    )
    assert (response.status_code, response.json()) == (
        400,
        {"error": error, "error_description": description},
    )


async def test_a_token_request_without_the_jwt_bearer_grant_is_refused(play: httpx.AsyncClient) -> None:
    wrong = await play.post("/token", data={"grant_type": "client_credentials"})
    assert (wrong.status_code, wrong.json()) == (
        400,
        {"error": "unsupported_grant_type", "error_description": "Invalid grant_type: client_credentials"},
    )
    missing = await play.post("/token", data={"grant_type": JWT_BEARER_GRANT})
    assert missing.json() == {
        "error": "invalid_request",
        "error_description": "Missing required parameter: assertion",
    }
