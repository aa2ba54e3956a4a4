"""The emulated Google Play as one ASGI app: the Play Developer API endpoints supporterflow calls,
the OAuth token endpoint, Google's OAuth certificates (which verify Pub/Sub push tokens), and
the shared ``/__emulator/`` control API with Google extras:

* ``POST /__emulator/purchases`` ``{"packageName", "productId", "basePlanId"?, "offerId"?,
  "obfuscatedExternalAccountId"?, "testPurchase"?, "freeTrial"?}`` buys a subscription;
* ``POST /__emulator/purchases/{purchaseToken}/{action}`` runs a life-cycle step (body options:
  ``{"reason"}`` for ``cancel``, ``{"duration"}`` for ``pause``, ``{"productId", "basePlanId"?}``
  for ``upgrade``), or ``gone`` (the API answers 410 from then on);
* ``POST /__emulator/products`` ``{"packageName", "productId", "basePlans": [...], "title"?}``
  configures a product's base plans.

The API needs ``Authorization: Bearer`` with a token from ``POST /token``; errors have Google's
shape ``{"error": {"code", "message", "errors": [{"message", "domain", "reason"}], "status"}}``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from supporterflow.emulators.control import (
    CONTROL_PREFIX,
    BadRequest,
    EmulatorControl,
    bad_request,
    emulator_app,
    read_json,
    text_field,
)
from supporterflow.emulators.google.oauth import GOOGLE_TOKEN_URI, GrantError, ServiceAccount, grant
from supporterflow.emulators.google.payloads import (
    monetization_subscription,
    subscription_purchase_v1,
    subscription_purchase_v2,
)
from supporterflow.emulators.google.push import PushSigner
from supporterflow.emulators.google.store import (
    CANCEL_REASONS,
    GooglePlayState,
    StepNotAllowed,
    UnknownPurchase,
    base_plan,
    parse_duration,
    product,
)
from supporterflow.emulators.storage import Document

API = "/androidpublisher/v3/applications/{package_name}"
TOKEN_PATH = "/token"  # noqa: S105 (a path)
CERTS_PATH = "/oauth2/v1/certs"
JWKS_PATH = "/oauth2/v3/certs"
GONE_MESSAGE = (
    "The subscription purchase is no longer available for query because it has been expired for too long."
)
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9._-]{1,2048}")
_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
"""Google's canonical error codes; a status without one (410) is sent without ``status``."""
_REASONS = {
    400: "badRequest",
    401: "authError",
    403: "forbidden",
    404: "notFound",
    409: "conflict",
    429: "rateLimitExceeded",
    500: "backendError",
    503: "backendError",
}
_MISSING_CREDENTIALS = (
    "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie "
    "or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project."
)
_INVALID_CREDENTIALS = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other "
    "valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project."
)

WallClock = Callable[[], float]


def google_error(
    status: int,
    message: str,
    *,
    reason: str | None = None,
    domain: str = "global",
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """An error as Google's APIs send it."""
    error: dict[str, Any] = {
        "code": status,
        "message": message,
        "errors": [
            {"message": message, "domain": domain, "reason": reason or _REASONS.get(status, "unknown")}
        ],
    }
    if status in _STATUS_NAMES:
        error["status"] = _STATUS_NAMES[status]
    return JSONResponse({"error": error}, status_code=status, headers=headers)


class GoogleFaultResponse(Response):
    """An injected fault in the format of the endpoint it hits: the token endpoint answers OAuth's
    ``{"error", "error_description"}``, everything else Google's API error."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(status_code=status)
        self.message = message

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response: Response
        if scope.get("path") == TOKEN_PATH:
            error = "temporarily_unavailable" if self.status_code == 503 else "invalid_request"
            if self.status_code >= 500 and self.status_code != 503:
                error = "internal_failure"
            body = {"error": error, "error_description": self.message}
            response = JSONResponse(body, status_code=self.status_code)
        else:
            response = google_error(self.status_code, self.message)
        await response(scope, receive, send)


def create_play_app(
    state: GooglePlayState,
    *,
    service_account: ServiceAccount,
    push_signer: PushSigner,
    token_uri: str | None = None,
    latency_ms: float = 0.0,
    wall_clock: WallClock = time.time,
) -> Starlette:
    """The emulator. Assertions may be addressed to Google's token URI (what Google's libraries
    sign), to ``token_uri`` (what the service-account file names), or to the URL the token
    endpoint was reached at. ``wall_clock`` times OAuth (assertions, access tokens): those are
    checked against real time even when ``state``'s clock is frozen."""

    def authenticated(request: Request) -> Response | None:
        """None for a valid bearer token, else the 401 Google answers."""
        authorization = request.headers.get("authorization")
        if authorization is None or not authorization.startswith("Bearer "):
            return google_error(
                401,
                _MISSING_CREDENTIALS,
                reason="required",
                headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'},
            )
        if not service_account.access_token_valid(authorization.removeprefix("Bearer "), wall_clock()):
            return google_error(
                401,
                _INVALID_CREDENTIALS,
                reason="authError",
                headers={
                    "WWW-Authenticate": 'Bearer realm="https://accounts.google.com/", error="invalid_token"'
                },
            )
        return None

    def purchase_for(request: Request) -> Document | Response:
        """The purchase the path names, or Google's error for it."""
        token: str = request.path_params["token"]
        if not _TOKEN_SHAPE.fullmatch(token):
            return google_error(400, "Invalid Value", reason="invalid")
        purchase = state.find(token)
        if purchase is None:
            return google_error(404, "The purchase token was not found.", reason="notFound")
        if purchase["packageName"] != request.path_params["package_name"]:
            return google_error(
                400,
                "The purchase token does not match the package name.",
                reason="purchaseTokenDoesNotMatchPackageName",
                domain="androidpublisher",
            )
        if state.is_gone(purchase):
            return google_error(
                410, GONE_MESSAGE, reason="subscriptionPurchaseNoLongerAvailable", domain="androidpublisher"
            )
        return purchase

    async def subscription_v1(request: Request) -> Response:
        denied = authenticated(request)
        found = denied if denied is not None else purchase_for(request)
        if isinstance(found, Response):
            return found
        if found["productId"] != request.path_params["subscription_id"]:
            return google_error(400, "Invalid Value", reason="invalid")
        return JSONResponse(subscription_purchase_v1(found))

    async def subscription_v2(request: Request) -> Response:
        denied = authenticated(request)
        found = denied if denied is not None else purchase_for(request)
        if isinstance(found, Response):
            return found
        return JSONResponse(subscription_purchase_v2(found))

    async def monetization(request: Request) -> Response:
        denied = authenticated(request)
        if denied is not None:
            return denied
        found = state.product(request.path_params["package_name"], request.path_params["product_id"])
        if found is None:
            return google_error(404, "Requested entity was not found.", reason="notFound")
        return JSONResponse(monetization_subscription(found))

    async def unknown_api(request: Request) -> Response:
        return google_error(404, "Requested entity was not found.", reason="notFound")

    async def token(request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode("utf-8", errors="replace")))
        here = str(request.url.replace(query=""))
        audiences = {GOOGLE_TOKEN_URI, here, *([token_uri] if token_uri else [])}
        try:
            answer = grant(service_account, form, audiences, wall_clock())
        except GrantError as error:
            return JSONResponse(error.body(), status_code=400)
        return JSONResponse(
            answer, headers={"Cache-Control": "no-cache, no-store, max-age=0, must-revalidate"}
        )

    async def certs(request: Request) -> Response:
        return JSONResponse(push_signer.certs(), headers={"Cache-Control": "public, max-age=3600"})

    async def jwks(request: Request) -> Response:
        return JSONResponse(push_signer.jwks(), headers={"Cache-Control": "public, max-age=3600"})

    routes: list[BaseRoute] = [
        Route(
            API + "/purchases/subscriptions/{subscription_id}/tokens/{token}",
            subscription_v1,
            methods=["GET"],
        ),
        Route(API + "/purchases/subscriptionsv2/tokens/{token}", subscription_v2, methods=["GET"]),
        Route(API + "/subscriptions/{product_id}", monetization, methods=["GET"]),
        Route(
            "/androidpublisher/{rest:path}", unknown_api, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]
        ),
        Route(TOKEN_PATH, token, methods=["POST"]),
        Route(CERTS_PATH, certs, methods=["GET"]),
        Route(JWKS_PATH, jwks, methods=["GET"]),
    ]
    return emulator_app(
        routes=routes,
        state=state,
        control=EmulatorControl(latency_ms),
        fault_response=GoogleFaultResponse,
        control_routes=_play_control_routes(state),
    )


def _optional(body: dict[str, Any], field: str, errors: list[str]) -> str | None:
    return text_field(body, field, errors, required=False, null_named=False)


def _purchase_request(body: Any) -> dict[str, Any]:
    """Keyword arguments of :meth:`GooglePlayState.purchase` from the control body."""
    if not isinstance(body, dict):
        raise BadRequest("A purchase is a JSON object")
    errors: list[str] = []
    package_name = _optional(body, "packageName", errors)
    product_id = _optional(body, "productId", errors)
    if package_name is None or product_id is None:
        errors.append("packageName and productId are required")
    options = {
        "base_plan_id": _optional(body, "basePlanId", errors),
        "offer_id": _optional(body, "offerId", errors),
        "obfuscated_external_account_id": _optional(body, "obfuscatedExternalAccountId", errors),
    }
    for field in ("testPurchase", "freeTrial"):
        if not isinstance(body.get(field, False), bool):
            errors.append(f"{field} must be a boolean")
    if errors:
        raise BadRequest(*dict.fromkeys(errors))
    return {
        "package_name": package_name,
        "product_id": product_id,
        **options,
        "test_purchase": body.get("testPurchase", False),
        "free_trial": body.get("freeTrial", False),
    }


def _step_options(body: Any) -> dict[str, Any]:
    """Keyword arguments of a life-cycle step from its (optional) control body."""
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise BadRequest("Step options are a JSON object")
    fields = {
        "reason": "reason",
        "duration": "duration",
        "productId": "product_id",
        "basePlanId": "base_plan_id",
    }
    unknown = sorted(set(body) - set(fields))
    if unknown:
        raise BadRequest(f"Unknown options: {', '.join(unknown)}")
    options = {fields[name]: value for name, value in body.items()}
    if any(not isinstance(value, str) for value in options.values()):
        raise BadRequest("Step options are strings")
    if "reason" in options and options["reason"] not in CANCEL_REASONS:
        raise BadRequest(f"reason must be one of {', '.join(CANCEL_REASONS)}")
    return options


def _product_request(body: Any) -> Document:
    """A catalogue product from the control body, checked field by field."""
    if not isinstance(body, dict):
        raise BadRequest("A product is a JSON object")
    package_name, product_id, plans = body.get("packageName"), body.get("productId"), body.get("basePlans")
    errors: list[str] = []
    if (
        not isinstance(package_name, str)
        or not isinstance(product_id, str)
        or not package_name
        or not product_id
    ):
        errors.append("packageName and productId must be non-empty strings")
    if not isinstance(plans, list) or not plans or not all(isinstance(plan, dict) for plan in plans):
        errors.append("basePlans must be a non-empty list of objects")
        plans = []
    built: list[Document] = []
    for plan in plans:
        plan_id = plan.get("basePlanId")
        durations = {
            "billing_period": plan.get("billingPeriodDuration", "P1M"),
            "grace_period": plan.get("gracePeriodDuration", "P7D"),
            "account_hold": plan.get("accountHoldDuration", "P30D"),
        }
        price = plan.get("price")
        if not isinstance(plan_id, str) or not plan_id:
            errors.append("basePlanId must be a non-empty string")
            continue
        try:
            for duration in durations.values():
                parse_duration(duration if isinstance(duration, str) else "")
        except ValueError as error:
            errors.append(f"{plan_id}: {error}")
            continue
        if price is not None and not (
            isinstance(price, dict)
            and isinstance(price.get("currencyCode"), str)
            and isinstance(price.get("units"), str)
            and price["units"].isdigit()
            and isinstance(price.get("nanos", 0), int)
        ):
            errors.append(f"{plan_id}: price is {{currencyCode, units (a string of digits), nanos}}")
            continue
        built.append(base_plan(plan_id, **durations, price=price and {"nanos": 0, **price}))
    title = body.get("title")
    if title is not None and not isinstance(title, str):
        errors.append("title must be a string")
    if errors:
        raise BadRequest(*errors)
    return product(str(package_name), str(product_id), built, title)


def _play_control_routes(state: GooglePlayState) -> list[BaseRoute]:
    async def buy(request: Request) -> Response:
        try:
            arguments = _purchase_request(await read_json(request))
            step = state.purchase(**arguments)
        except BadRequest as error:
            return bad_request(error)
        except ValueError as error:
            return bad_request(BadRequest(str(error)))
        return JSONResponse({"step": asdict(step), "purchaseToken": step.purchase_token}, status_code=201)

    async def act(request: Request) -> Response:
        action, purchase_token = request.path_params["action"], request.path_params["purchase_token"]
        try:
            if action == "gone":
                state.mark_gone(purchase_token)
                return JSONResponse({"step": None, "purchaseToken": purchase_token, "gone": True})
            raw = await request.body()
            options = _step_options(await read_json(request) if raw.strip() else None)
            step = state.apply(action, purchase_token, **options)
        except BadRequest as error:
            return bad_request(error)
        except UnknownPurchase:
            return JSONResponse({"message": "No such purchase token"}, status_code=404)
        except StepNotAllowed as error:
            return JSONResponse({"message": str(error)}, status_code=409)
        except ValueError as error:
            return bad_request(BadRequest(str(error)))
        return JSONResponse({"step": asdict(step), "purchaseToken": step.purchase_token})

    async def configure(request: Request) -> Response:
        try:
            configured = _product_request(await read_json(request))
        except BadRequest as error:
            return bad_request(error)
        state.configure_product(configured)
        return JSONResponse({"product": monetization_subscription(configured)}, status_code=201)

    return [
        Route(f"{CONTROL_PREFIX}/purchases", buy, methods=["POST"]),
        Route(f"{CONTROL_PREFIX}/purchases/{{purchase_token}}/{{action}}", act, methods=["POST"]),
        Route(f"{CONTROL_PREFIX}/products", configure, methods=["POST"]),
    ]
