"""Google Play routes: notifications (live and Feast) and a purchase's status
(spec/mobile-purchases.md §5.2, §5.4, §7.2)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, SecretStr
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from supporterflow.bootstrap import Container
from supporterflow.entrypoints.http.openapi import documented
from supporterflow.entrypoints.http.responses import read_json
from supporterflow.functions.google_pubsub import authenticate, google_pubsub
from supporterflow.functions.google_status import google_subscription_status


class PurchaseStatus(BaseModel):
    subscriptionHasLapsed: bool
    subscriptionExpiryDate: str


def _secret(value: SecretStr | None) -> str | None:
    return None if value is None else value.get_secret_value()


def routes(container: Container) -> list[Route]:
    """The routes, when the topology has the Google tables and queues."""
    needed = ("google-subscriptions-to-fetch", "feast-google-subscriptions-to-fetch")
    if "subscription-events" not in container.tables or not all(q in container.queues for q in needed):
        return []
    settings = container.settings
    deps = container.dependencies()

    def notifications(to_fetch: str, pubsub_secret: SecretStr | None) -> Any:
        @documented(responses={200: "stored and queued", 400: "not a notification", 401: "not authentic"})
        async def receive(request: Request) -> Response:
            """Receive a Google Play real-time developer notification (Pub/Sub push).

            Authentic with Google's OIDC push token (when `SF_GOOGLE_PUSH_AUDIENCE` is set) or
            the legacy `?secret=`. A 200 means the event and its fetch are stored."""
            # Who is asking comes first: a stranger learns nothing about what we accept.
            refused = await authenticate(
                push=deps.get("push_authenticator"),
                authorization=request.headers.get("authorization"),
                pubsub_secret=_secret(pubsub_secret),
                query_secret=request.query_params.get("secret"),
            )
            answer = refused or await google_pubsub(
                await read_json(request),
                subscription_events=deps["subscription_events"],
                subscriptions_to_fetch=deps[to_fetch],
                clock=container.clock,
            )
            return JSONResponse(answer.body, status_code=answer.status)

        return receive

    @documented(responses={200: PurchaseStatus, 400: "no purchase token", 404: "unknown purchase"})
    async def status(request: Request) -> Response:
        """Whether a Google Play purchase has lapsed (token in `Play-Purchase-Token`)."""
        answer = await google_subscription_status(
            request.path_params["subscriptionId"],
            purchase_token=request.headers.get("play-purchase-token"),
            package_name=request.headers.get("package-name"),
            subscriptions=deps["subscriptions"],
            google_play=deps.get("google_play"),
            clock=container.clock,
        )
        return JSONResponse(answer.body, status_code=answer.status)

    live = notifications("google_subscriptions_to_fetch", settings.google_pubsub_secret)
    feast = notifications("feast_google_subscriptions_to_fetch", settings.feast_google_pubsub_secret)
    return [
        Route("/google/pubsub", live, methods=["POST"], name="google_pubsub"),
        Route("/feast/google/pubsub", feast, methods=["POST"], name="feast_google_pubsub"),
        Route("/google/subscription/{subscriptionId}/status", status, methods=["GET"]),
    ]
