"""Outbound calls are named by their route's template in metrics: never by a path, which carries
transaction ids, order ids and purchase tokens."""

from __future__ import annotations

import pytest

from supporterflow.adapters.route_templates import APP_STORE_SERVER_API, UNKNOWN, RouteTemplates

TRANSACTION_ID = "2000000123456789"


@pytest.mark.parametrize(
    ("method", "path", "endpoint"),
    [
        ("GET", f"/inApps/v1/subscriptions/{TRANSACTION_ID}", "GET /inApps/v1/subscriptions/{transactionId}"),
        (
            "GET",
            f"/inApps/v1/subscriptions/{TRANSACTION_ID}?status=1&status=2",
            "GET /inApps/v1/subscriptions/{transactionId}",
        ),
        (
            "GET",
            f"/inApps/v2/history/{TRANSACTION_ID}?sort=ASCENDING",
            "GET /inApps/v2/history/{transactionId}",
        ),
        ("GET", f"/inApps/v1/transactions/{TRANSACTION_ID}", "GET /inApps/v1/transactions/{transactionId}"),
        ("GET", "/inApps/v1/lookup/MK5TTTVWJH", "GET /inApps/v1/lookup/{orderId}"),
        ("POST", "/inApps/v1/subscriptions/extend/mass", "POST /inApps/v1/subscriptions/extend/mass"),
        (
            "PUT",
            f"/inApps/v1/subscriptions/extend/{TRANSACTION_ID}",
            "PUT /inApps/v1/subscriptions/extend/{originalTransactionId}",
        ),
        (
            "PUT",
            f"/inApps/v1/transactions/consumption/{TRANSACTION_ID}",
            "PUT /inApps/v1/transactions/consumption/{transactionId}",
        ),
        ("GET", "/inApps/v1/messaging/image/list", "GET /inApps/v1/messaging/image/list"),
        (
            "get",
            "/inApps/v1/notifications/test/abc",
            "GET /inApps/v1/notifications/test/{testNotificationToken}",
        ),
    ],
)
def test_an_app_store_call_is_named_by_its_route_template(method: str, path: str, endpoint: str) -> None:
    assert APP_STORE_SERVER_API.endpoint(method, path) == endpoint


@pytest.mark.parametrize(
    "path",
    [
        f"/inApps/v3/subscriptions/{TRANSACTION_ID}",
        f"/inApps/v1/subscriptions/{TRANSACTION_ID}/extra",
        f"/{TRANSACTION_ID}",
        "/",
    ],
)
def test_a_path_matching_no_template_is_unknown_and_never_passed_through(path: str) -> None:
    endpoint = APP_STORE_SERVER_API.endpoint("GET", path)
    assert endpoint == f"GET {UNKNOWN}"
    assert TRANSACTION_ID not in endpoint


def test_the_template_with_more_literal_segments_wins_whatever_the_order() -> None:
    routes = RouteTemplates(["/a/{id}", "/a/list"])
    assert (routes.template("/a/list"), routes.template("/a/7")) == ("/a/list", "/a/{id}")
