"""App Store routes: notifications (live and Feast), subscription status and promotional offers
(spec/mobile-purchases.md §5.1, §5.3, §7.1, §3.9). Each route reads the body and hands it to its
flow with the collaborators of this endpoint; the flow decides the answer."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, SecretStr
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from supporterflow.bootstrap import Container
from supporterflow.entrypoints.http.openapi import documented
from supporterflow.entrypoints.http.responses import read_json
from supporterflow.functions.answers import Answer
from supporterflow.functions.apple_offers import apple_fetch_offer_details
from supporterflow.functions.apple_pubsub import apple_pubsub
from supporterflow.functions.apple_status import apple_subscription_status


class StatusItem(BaseModel):
    """One subscription's state (spec §7.1); ``latestReceipt`` only for receipt entries."""

    originalTransactionId: str
    valid: bool
    autoRenewStatus: bool
    gracePeriod: bool
    trialPeriod: bool
    start: str
    end: str
    endWithGracePeriod: str
    product: str
    latestReceipt: str | None = None


class OfferDetails(BaseModel):
    nonce: str
    timestamp: int
    keyIdentifier: str
    signature: str


def _secret(value: SecretStr | None) -> str | None:
    return None if value is None else value.get_secret_value()


def _json(answer: Answer) -> Response:
    return JSONResponse(answer.body, status_code=answer.status)


def routes(container: Container) -> list[Route]:
    """The routes, when the topology has the Apple tables and queues (a test topology without
    them serves none)."""
    needed = ("apple-subscriptions-to-fetch", "feast-apple-subscriptions-to-fetch")
    if "subscription-events" not in container.tables or not all(q in container.queues for q in needed):
        return []
    settings = container.settings
    deps = container.dependencies()
    app_store = deps.get("app_store")

    def notifications(to_fetch: str, pubsub_secret: SecretStr | None, shared_secret: SecretStr | None) -> Any:
        @documented(responses={200: "stored and queued", 400: "not a notification", 401: "not authentic"})
        async def receive(request: Request) -> Response:
            """Receive an App Store server notification: V2 `{"signedPayload"}` or legacy V1.

            V2 must verify to the configured Apple root; V1 needs `?secret=` and the body
            `password` when those are configured. A 200 means the event and its fetch are stored."""
            answer = await apple_pubsub(
                await read_json(request),
                query_secret=request.query_params.get("secret"),
                pubsub_secret=_secret(pubsub_secret),
                shared_secret=_secret(shared_secret),
                app_store=app_store,
                subscription_events=deps["subscription_events"],
                subscriptions_to_fetch=deps[to_fetch],
                clock=container.clock,
            )
            return _json(answer)

        return receive

    @documented(responses={200: StatusItem, 400: "not a status request", 503: "Apple did not answer"})
    async def status(request: Request) -> Response:
        """The state of App Store subscriptions, from their receipts or original transaction ids."""
        answer = await apple_subscription_status(
            await read_json(request), receipts=deps["receipts"], app_store=app_store, clock=container.clock
        )
        return _json(answer)

    @documented(responses={200: OfferDetails, 400: "not an offer request", 503: "no offer key configured"})
    async def offer(request: Request) -> Response:
        """Sign an App Store promotional offer for a user, product and offer."""
        answer = await apple_fetch_offer_details(
            await read_json(request), offers=deps.get("offers"), clock=container.clock
        )
        return _json(answer)

    live = notifications(
        "apple_subscriptions_to_fetch", settings.apple_pubsub_secret, settings.apple_shared_secret
    )
    feast = notifications(
        "feast_apple_subscriptions_to_fetch",
        settings.feast_apple_pubsub_secret,
        settings.feast_apple_shared_secret,
    )
    return [
        Route("/apple/pubsub", live, methods=["POST"], name="apple_pubsub"),
        Route("/feast/apple/pubsub", feast, methods=["POST"], name="feast_apple_pubsub"),
        Route("/apple/subscription/status", status, methods=["POST"]),
        Route("/apple/fetchOfferDetails", offer, methods=["POST"]),
    ]
