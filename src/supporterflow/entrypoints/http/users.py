"""A user's purchases: linking them (``POST /apple/linkToSubscriptions``,
``POST /google/linkToSubscriptions``, spec §6) and reading them
(``GET /user/subscriptions/{userId}``, spec §7.3).

Who is asking comes first: the caller's access token (or, for the read, an API key) is checked
before the body is read, so a stranger learns nothing about what is accepted. The user token
checker is the ``user_tokens`` collaborator; without one (no OIDC issuer configured) only the
API keys of ``SF_USER_API_KEYS`` get an answer other than 401."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from supporterflow.bootstrap import Container
from supporterflow.entrypoints.http.openapi import documented
from supporterflow.entrypoints.http.responses import read_json
from supporterflow.functions.answers import Answer
from supporterflow.functions.link import link_apple_subscriptions, link_google_subscriptions, user_of
from supporterflow.functions.user_subscriptions import reader_of, user_subscriptions


class AppleLink(BaseModel):
    receipt: str
    originalTransactionId: str


class AppleLinkRequest(BaseModel):
    """``receipt`` may be left out for ``ios-feast``: nothing is fetched for Feast links."""

    platform: Literal["ios", "ios-puzzles", "ios-edition", "newsstand", "ios-feast"]
    subscriptions: list[AppleLink]


class GoogleLink(BaseModel):
    purchaseToken: str
    subscriptionId: str


class GoogleLinkRequest(BaseModel):
    platform: Literal["android", "android-puzzles", "android-edition"]
    subscriptions: list[GoogleLink]


class UserSubscription(BaseModel):
    """One linked subscription; attributes its row lacks are left out."""

    subscriptionId: str
    from_: str | None = Field(default=None, alias="from")
    to: str | None = None
    cancellationTimestamp: str | None = None
    valid: bool
    gracePeriod: bool
    autoRenewing: bool | None = None
    productId: str | None = None
    softOptInProductName: Literal["InAppPurchase", "FeastInAppPurchase"]
    platform: str | None = None

    model_config = ConfigDict(populate_by_name=True)


class UserSubscriptions(BaseModel):
    """The user's subscriptions, by end ascending."""

    subscriptions: list[UserSubscription]


def _json(answer: Answer) -> Response:
    return JSONResponse(answer.body, status_code=answer.status)


_LINK_RESPONSES: dict[int, type[BaseModel] | str] = {
    200: "linked; unknown purchases queued for fetching",
    400: "not a link request, an unsupported platform, or a token without a user id",
    401: "no valid access token",
    403: "the token lacks the scope",
    503: "the token issuer's keys cannot be fetched",
}


def routes(container: Container) -> list[Route]:
    """The routes whose tables and queues the topology has."""
    if not all(table in container.tables for table in ("user-subscriptions", "subscriptions")):
        return []
    deps = container.dependencies()
    user_tokens = deps.get("user_tokens")

    @documented(request=AppleLinkRequest, responses=_LINK_RESPONSES)
    async def apple_link(request: Request) -> Response:
        """Link the caller to App Store purchases (`Authorization: Bearer <access token>`).

        Purchases not stored yet are queued for fetching (not for `ios-feast`). Links are
        written once: calling again changes nothing."""
        user_id = await user_of(request.headers.get("authorization"), user_tokens)
        if isinstance(user_id, Answer):
            return _json(user_id)
        answer = await link_apple_subscriptions(
            await read_json(request),
            user_id=user_id,
            user_subscriptions=deps["user_subscriptions"],
            subscriptions=deps["subscriptions"],
            apple_subscriptions_to_fetch=deps["apple_subscriptions_to_fetch"],
            clock=container.clock,
        )
        return _json(answer)

    @documented(request=GoogleLinkRequest, responses=_LINK_RESPONSES)
    async def google_link(request: Request) -> Response:
        """Link the caller to Google Play purchases (`Authorization: Bearer <access token>`).

        Purchases not stored yet are queued for fetching with the package of the platform.
        Links are written once: calling again changes nothing."""
        user_id = await user_of(request.headers.get("authorization"), user_tokens)
        if isinstance(user_id, Answer):
            return _json(user_id)
        answer = await link_google_subscriptions(
            await read_json(request),
            user_id=user_id,
            user_subscriptions=deps["user_subscriptions"],
            subscriptions=deps["subscriptions"],
            google_subscriptions_to_fetch=deps["google_subscriptions_to_fetch"],
            clock=container.clock,
        )
        return _json(answer)

    api_keys = [key.get_secret_value() for key in container.settings.user_api_keys]

    @documented(
        responses={
            200: UserSubscriptions,
            400: "an access token without a user id",
            401: "neither an API key nor a valid access token",
            403: "the token lacks the scope",
            503: "the token issuer's keys cannot be fetched",
        }
    )
    async def read(request: Request) -> Response:
        """The subscriptions linked to a user, sorted by end, with whether each is valid now.

        `Authorization: Bearer <key>` with a key of `SF_USER_API_KEYS` reads the user of the
        path; with a user's access token it reads that user, whatever the path says. Purchases
        replaced by an upgrade or downgrade are left out."""
        user_id = await reader_of(
            request.path_params["userId"],
            request.headers.get("authorization"),
            api_keys=api_keys,
            user_tokens=user_tokens,
        )
        if isinstance(user_id, Answer):
            return _json(user_id)
        answer = await user_subscriptions(
            user_id,
            user_subscriptions=deps["user_subscriptions"],
            subscriptions=deps["subscriptions"],
            clock=container.clock,
        )
        return _json(answer)

    found = [Route("/user/subscriptions/{userId}", read, methods=["GET"], name="user_subscriptions")]
    if "apple-subscriptions-to-fetch" in container.queues:
        found.append(Route("/apple/linkToSubscriptions", apple_link, methods=["POST"]))
    if "google-subscriptions-to-fetch" in container.queues:
        found.append(Route("/google/linkToSubscriptions", google_link, methods=["POST"]))
    return found
