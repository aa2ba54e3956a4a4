"""The emulated App Store as an ASGI app: the App Store Server API's Get All Subscription
Statuses, the legacy ``verifyReceipt`` (production and sandbox hosts as two path prefixes), and
the shared ``/__emulator/`` control API with App Store extras:

* ``POST /__emulator/subscriptions`` ``{"bundleId", "productId", "environment"?, "appAccountToken"?}``
  subscribes;
* ``POST /__emulator/subscriptions/{originalTransactionId}/{action}`` runs a life-cycle step;
* ``POST /__emulator/verify-receipt-status`` ``{"status", "count"?}`` makes the next
  ``verifyReceipt`` calls answer that status (e.g. 21100-21199, which carry ``is-retryable``).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from supporterflow.emulators.apple import legacy
from supporterflow.emulators.apple.auth import ApiKey, bearer_bundle_id
from supporterflow.emulators.apple.payloads import last_transaction_item
from supporterflow.emulators.apple.signing import AppStoreSigner
from supporterflow.emulators.apple.store import (
    PRODUCTION,
    SANDBOX,
    AppleStoreState,
    UnknownSubscription,
    parse_receipt_data,
)
from supporterflow.emulators.control import (
    CONTROL_PREFIX,
    BadRequest,
    EmulatorControl,
    bad_request,
    emulator_app,
    read_json,
)

TRANSACTION_NOT_FOUND = {"errorCode": 4040010, "errorMessage": "Transaction id not found."}
INVALID_TRANSACTION_ID = {"errorCode": 4000006, "errorMessage": "Invalid transaction id."}
INVALID_STATUS = {"errorCode": 4000031, "errorMessage": "Invalid status."}


def _receipt_status(status: int) -> dict[str, Any]:
    """A non-zero ``verifyReceipt`` body; Apple marks 21100-21199 as retryable."""
    body: dict[str, Any] = {"status": status}
    if 21100 <= status <= 21199:
        body["is-retryable"] = True
    return body


def create_app_store_app(
    state: AppleStoreState,
    *,
    signer: AppStoreSigner,
    api_key: ApiKey,
    environment: str = SANDBOX,
    app_apple_id: int | None = None,
    shared_secret: str | None = None,
    latency_ms: float = 0.0,
) -> Starlette:
    """The emulator; the Server API answers for subscriptions of ``environment`` only (Apple's
    production and sandbox API hosts hold separate data). ``shared_secret``, when set, must be
    the ``password`` of ``verifyReceipt`` calls (else 21004)."""

    async def subscription_statuses(request: Request) -> Response:
        bundle_id = bearer_bundle_id(request.headers.get("authorization"), api_key)
        if bundle_id is None:
            return PlainTextResponse("Unauthenticated", status_code=401)
        transaction_id = request.path_params["transaction_id"]
        if not transaction_id.isdigit():
            return JSONResponse(INVALID_TRANSACTION_ID, status_code=400)
        wanted = request.query_params.getlist("status")
        if not all(value in {"1", "2", "3", "4", "5"} for value in wanted):
            return JSONResponse(INVALID_STATUS, status_code=400)
        try:
            subscription = state.find(transaction_id)
        except UnknownSubscription:
            return JSONResponse(TRANSACTION_NOT_FOUND, status_code=404)
        if subscription["bundleId"] != bundle_id or subscription["environment"] != environment:
            return JSONResponse(TRANSACTION_NOT_FOUND, status_code=404)
        items = []
        if not wanted or str(subscription["status"]) in wanted:
            items.append(last_transaction_item(subscription, signer, state.now_ms()))
        body: dict[str, Any] = {
            "environment": environment,
            "bundleId": bundle_id,
            "data": [
                {
                    "subscriptionGroupIdentifier": subscription["subscriptionGroupIdentifier"],
                    "lastTransactions": items,
                }
            ]
            if items
            else [],
        }
        if app_apple_id is not None:
            body["appAppleId"] = app_apple_id
        return JSONResponse(body)

    async def verify_receipt(request: Request, endpoint: str) -> Response:
        if state.forced_receipt_statuses:
            return JSONResponse(_receipt_status(state.forced_receipt_statuses.pop(0)))
        try:
            body = await read_json(request)
        except BadRequest:
            return JSONResponse(_receipt_status(legacy.MALFORMED))
        receipt = body.get("receipt-data") if isinstance(body, dict) else None
        parsed = parse_receipt_data(receipt)
        if parsed is None or not isinstance(receipt, str):
            return JSONResponse(_receipt_status(legacy.MALFORMED))
        if shared_secret is not None and body.get("password") != shared_secret:
            return JSONResponse(_receipt_status(legacy.WRONG_SECRET))
        original_transaction_id, receipt_environment = parsed
        if receipt_environment != endpoint:
            status = (
                legacy.SANDBOX_RECEIPT_IN_PRODUCTION
                if endpoint == PRODUCTION
                else legacy.PRODUCTION_RECEIPT_IN_SANDBOX
            )
            return JSONResponse(_receipt_status(status))
        try:
            subscription = state.get(original_transaction_id)
        except UnknownSubscription:
            return JSONResponse(_receipt_status(legacy.NOT_AUTHENTIC))
        return JSONResponse(
            legacy.verify_receipt_response(
                subscription,
                receipt,
                exclude_old_transactions=body.get("exclude-old-transactions") is True,
                request_ms=state.now_ms(),
            )
        )

    async def verify_production(request: Request) -> Response:
        return await verify_receipt(request, PRODUCTION)

    async def verify_sandbox(request: Request) -> Response:
        return await verify_receipt(request, SANDBOX)

    routes: list[BaseRoute] = [
        Route("/inApps/v1/subscriptions/{transaction_id}", subscription_statuses, methods=["GET"]),
        Route("/verifyReceipt", verify_production, methods=["POST"]),
        Route("/sandbox/verifyReceipt", verify_sandbox, methods=["POST"]),
    ]
    return emulator_app(
        routes=routes,
        state=state,
        control=EmulatorControl(latency_ms),
        control_routes=_app_store_control_routes(state),
    )


def _app_store_control_routes(state: AppleStoreState) -> list[BaseRoute]:
    async def subscribe(request: Request) -> Response:
        try:
            body = await read_json(request)
            if not isinstance(body, dict):
                raise BadRequest("A subscription is a JSON object")
            bundle_id, product_id = body.get("bundleId"), body.get("productId")
            environment = body.get("environment", SANDBOX)
            token = body.get("appAccountToken")
            if not isinstance(bundle_id, str) or not isinstance(product_id, str):
                raise BadRequest("bundleId and productId must be strings")
            if token is not None and not isinstance(token, str):
                raise BadRequest("appAccountToken must be a string (a UUID the app chose)")
            if environment not in (SANDBOX, PRODUCTION):
                raise BadRequest(f"environment must be {SANDBOX!r} or {PRODUCTION!r}")
        except BadRequest as error:
            return bad_request(error)
        step = state.subscribe(
            bundle_id=bundle_id, product_id=product_id, environment=environment, app_account_token=token
        )
        return JSONResponse(
            {"step": asdict(step), "receipt": state.receipt(step.original_transaction_id)}, 201
        )

    async def act(request: Request) -> Response:
        try:
            step = state.apply(request.path_params["action"], request.path_params["original_transaction_id"])
        except ValueError as error:
            return bad_request(BadRequest(str(error)))
        except UnknownSubscription:
            return JSONResponse({"message": "No such subscription"}, status_code=404)
        return JSONResponse({"step": asdict(step)})

    async def force_receipt_status(request: Request) -> Response:
        try:
            body = await read_json(request)
            status = body.get("status") if isinstance(body, dict) else None
            count = body.get("count", 1) if isinstance(body, dict) else None
            if not isinstance(status, int) or not isinstance(count, int) or status == 0 or count < 1:
                raise BadRequest("status must be a non-zero integer and count a positive integer")
        except BadRequest as error:
            return bad_request(error)
        state.forced_receipt_statuses.extend([status] * count)
        return JSONResponse({"pending": state.forced_receipt_statuses}, status_code=201)

    return [
        Route(f"{CONTROL_PREFIX}/subscriptions", subscribe, methods=["POST"]),
        Route(
            f"{CONTROL_PREFIX}/subscriptions/{{original_transaction_id}}/{{action}}", act, methods=["POST"]
        ),
        Route(f"{CONTROL_PREFIX}/verify-receipt-status", force_receipt_status, methods=["POST"]),
    ]
