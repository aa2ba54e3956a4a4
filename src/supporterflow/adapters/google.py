"""Google: service-account OAuth, the Play Developer API, and Pub/Sub push authentication.

What proves something comes from ``google-auth``: the service account's JWT grant and token
parsing (``google.oauth2.service_account.Credentials``) and the verification of push OIDC tokens
(``google.auth.jwt.decode`` against Google's certificates). What this module adds is plumbing:

- google-auth refreshes tokens through a synchronous ``Request``; :class:`_BridgeRequest` runs
  that refresh in a worker thread and sends its HTTP exchange through our ``Transport`` on the
  event loop, so the token endpoint is configuration (Google, or the emulator in-process) and
  failures mean ``Retry`` as for every other outbound call;
- ``google.oauth2.id_token.verify_token`` downloads the certificates on every call; here they are
  kept for as long as Google's ``Cache-Control`` allows, and fetched again at once when a token
  names a key we do not have (Google rotates them);
- the Play Developer API is three GETs, sent with a cached access token; a 401 refreshes the token
  and tries once more.
"""

from __future__ import annotations

import asyncio
import re
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import google.auth.exceptions
import google.auth.jwt
import google.auth.transport
import structlog
from google.oauth2 import service_account

from supporterflow.adapters.outbound import Reply, Transport, Unreachable, call
from supporterflow.ports import GiveUp, Gone, PushRejected, Retry
from supporterflow.runtime.metrics import Metrics

log = structlog.get_logger(__name__)

ANDROID_PUBLISHER_SCOPE: Final = "https://www.googleapis.com/auth/androidpublisher"
GOOGLE_ISSUERS: Final = ("accounts.google.com", "https://accounts.google.com")
# Refresh a token this long before Google says it expires: a call never leaves with one that
# dies on the way.
_REFRESH_MARGIN: Final = timedelta(minutes=5)
_CERTS_MIN_REFETCH_S: Final = 60.0
_DEFAULT_CERTS_MAX_AGE_S: Final = 3600.0
_MAX_AGE = re.compile(r"max-age=(\d+)")
_ACCEPTED_TOKENS: Final = 64


def _expires_later(claims: Mapping[str, Any]) -> bool:
    """The token's ``exp`` is still ahead (google-auth checked it was a number)."""
    expiry = claims.get("exp")
    return isinstance(expiry, int | float) and expiry > time.time()


#: google-auth's messages that quote the token, or a decoded segment of it.
_QUOTES_THE_TOKEN: Final = (
    "Wrong number of segments",
    "Can't parse segment",
    "Header segment",
    "Payload segment",
)


@dataclass(frozen=True)
class _BridgeResponse(google.auth.transport.Response):
    reply: Reply

    @property
    def status(self) -> int:
        return self.reply.status

    @property
    def headers(self) -> Mapping[str, str]:
        return self.reply.headers

    @property
    def data(self) -> bytes:
        return self.reply.body


class _BridgeRequest(google.auth.transport.Request):
    """google-auth's synchronous request, carried out by ``transport`` on ``loop``; called from
    a worker thread only (it blocks until the loop has the answer). Measured as the outbound call
    ``google-oauth`` ``token`` (the token endpoint is the only URL google-auth asks for)."""

    def __init__(
        self, transport: Transport, loop: asyncio.AbstractEventLoop, metrics: Metrics | None = None
    ) -> None:
        self._transport = transport
        self._loop = loop
        self._metrics = metrics

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> google.auth.transport.Response:
        parts = urllib.parse.urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        request = self._transport.request(method, path, content=body, headers=headers)
        started = time.perf_counter()
        outcome = "error"
        try:
            reply = asyncio.run_coroutine_threadsafe(request, self._loop).result(timeout or 30)
            outcome = str(reply.status)
        except (Unreachable, TimeoutError) as error:
            raise google.auth.exceptions.TransportError(str(error) or "timed out") from None  # type: ignore[no-untyped-call]
        finally:
            if self._metrics is not None:
                self._metrics.outbound_calls.labels("google-oauth", "token", outcome).observe(
                    time.perf_counter() - started
                )
        return _BridgeResponse(reply)


class GoogleAccessTokens:
    """Access tokens of a service account, cached and refreshed before they expire."""

    def __init__(
        self, credentials: service_account.Credentials, transport: Transport, metrics: Metrics | None = None
    ) -> None:
        self._credentials = credentials.with_scopes([ANDROID_PUBLISHER_SCOPE])
        self._transport = transport
        self._metrics = metrics
        self._lock = asyncio.Lock()

    @classmethod
    def from_file(
        cls, path: str, transport: Transport, *, token_uri: str | None = None, metrics: Metrics | None = None
    ) -> GoogleAccessTokens:
        credentials = service_account.Credentials.from_service_account_file(path)  # type: ignore[no-untyped-call]
        if token_uri:
            credentials = credentials.with_token_uri(token_uri)
        return cls(credentials, transport, metrics)

    def _fresh(self) -> bool:
        expiry = self._credentials.expiry  # naive UTC, as google-auth keeps it
        return (
            bool(self._credentials.token)
            and expiry is not None
            and (expiry.replace(tzinfo=UTC) - _REFRESH_MARGIN > datetime.now(UTC))
        )

    async def token(self) -> str:
        if not self._fresh():
            async with self._lock:
                if not self._fresh():
                    await self._refresh()
        return str(self._credentials.token)

    async def refresh(self) -> tuple[str, datetime | None]:
        """A new token now (the 15-minute schedule of spec §4.5), and when it expires."""
        async with self._lock:
            await self._refresh()
        expiry = self._credentials.expiry
        return str(self._credentials.token), expiry.replace(tzinfo=UTC) if expiry else None

    async def _refresh(self) -> None:
        request = _BridgeRequest(self._transport, asyncio.get_running_loop(), self._metrics)
        try:
            await asyncio.to_thread(self._credentials.refresh, request)
        except google.auth.exceptions.RefreshError as error:
            # A refused grant is a key or clock problem an operator fixes; the messages wait.
            raise Retry(f"Google refused the service account's token request: {error}") from None
        except google.auth.exceptions.TransportError as error:
            raise Retry(f"Google's token endpoint did not answer: {error}") from None
        log.info("Google access token refreshed", expires=str(self._credentials.expiry))

    def invalidate(self) -> None:
        """Google said 401: the next call gets a new token."""
        self._credentials.token = None


def _error_message(reply: Reply) -> str:
    try:
        body = reply.json()
    except ValueError:
        return reply.text[:200]
    error = body.get("error") if isinstance(body, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    return str(message) if message else str(body)[:200]


def _segment(value: str) -> str:
    return urllib.parse.quote(value, safe="")


class GooglePlayApi:
    """``purchases.subscriptions.get`` (v1), ``purchases.subscriptionsv2.get`` and
    ``monetization.subscriptions.get``. 404 -> None, 410 -> ``Gone``, 400 "Invalid Value" and
    other refusals -> ``GiveUp``, unavailable -> ``Retry``. Purchase tokens never reach a log
    or a metric label."""

    def __init__(
        self, transport: Transport, tokens: GoogleAccessTokens, metrics: Metrics | None = None
    ) -> None:
        self._transport = transport
        self._tokens = tokens
        self._metrics = metrics

    async def subscription_v1(
        self, package_name: str, subscription_id: str, purchase_token: str
    ) -> dict[str, Any] | None:
        path = (
            f"/androidpublisher/v3/applications/{_segment(package_name)}/purchases/subscriptions/"
            f"{_segment(subscription_id)}/tokens/{_segment(purchase_token)}"
        )
        return await self._get(path, "purchases.subscriptions.get")

    async def subscription_v2(self, package_name: str, purchase_token: str) -> dict[str, Any] | None:
        path = (
            f"/androidpublisher/v3/applications/{_segment(package_name)}/purchases/subscriptionsv2/"
            f"tokens/{_segment(purchase_token)}"
        )
        return await self._get(path, "purchases.subscriptionsv2.get")

    async def monetization_subscription(self, package_name: str, product_id: str) -> dict[str, Any] | None:
        path = (
            f"/androidpublisher/v3/applications/{_segment(package_name)}/subscriptions/{_segment(product_id)}"
        )
        return await self._get(path, "monetization.subscriptions.get")

    async def _get(self, path: str, endpoint: str) -> dict[str, Any] | None:
        reply = await self._call(path, endpoint)
        if reply.status == 401:
            # Google no longer takes the cached token: a new one, and one more try.
            self._tokens.invalidate()
            reply = await self._call(path, endpoint)
        return self._answer(reply, endpoint)

    async def _call(self, path: str, endpoint: str) -> Reply:
        return await call(
            self._transport,
            "GET",
            path,
            service="google-play",
            endpoint=endpoint,
            metrics=self._metrics,
            headers={"Authorization": f"Bearer {await self._tokens.token()}"},
        )

    @staticmethod
    def _answer(reply: Reply, endpoint: str) -> dict[str, Any] | None:
        if reply.status == 404:
            return None
        if reply.status == 410:
            raise Gone(f"google-play {endpoint}: the purchase expired too long ago (HTTP 410)")
        if reply.status == 401:
            raise Retry(f"google-play {endpoint}: HTTP 401 with a new token")
        if not 200 <= reply.status < 300:
            message = _error_message(reply)
            if reply.status == 400 and message == "Invalid Value":
                raise GiveUp("Invalid token value")
            raise GiveUp(f"google-play {endpoint}: HTTP {reply.status}: {message}")
        try:
            body = reply.json()
        except ValueError:
            raise Retry(f"google-play {endpoint}: the answer is not JSON") from None
        if not isinstance(body, dict):
            raise Retry(f"google-play {endpoint}: the answer is not a JSON object")
        return body


class PushTokenVerifier:
    """Pub/Sub push authentication: the ``Authorization: Bearer`` OIDC token Google signs for
    the push subscription's service account (audience, issuer, email, expiry, signature)."""

    def __init__(
        self,
        transport: Transport,
        certs_path: str,
        *,
        audience: str,
        service_account: str | None,
        metrics: Metrics | None = None,
    ) -> None:
        self._transport = transport
        self._metrics = metrics
        self._certs_path = certs_path
        self._audience = audience
        self._email = service_account
        self._certs: dict[str, str] = {}
        self._certs_until = 0.0
        self._fetched_at = 0.0
        # Pub/Sub sends the same token with every push for about an hour: once it has passed
        # every check it is as good until it expires, so it is not checked again.
        self._accepted: dict[str, dict[str, Any]] = {}

    async def _fetch_certs(self) -> None:
        reply = await call(
            self._transport,
            "GET",
            self._certs_path,
            service="google-oauth",
            endpoint="certs",
            metrics=self._metrics,
        )
        if reply.status != 200:
            raise Retry(f"Google's push certificates: HTTP {reply.status}")
        try:
            certs = reply.json()
        except ValueError:
            raise Retry("Google's push certificates are not JSON") from None
        if not isinstance(certs, dict) or not all(isinstance(v, str) for v in certs.values()):
            raise Retry("Google's push certificates are not a {kid: PEM} object")
        match = _MAX_AGE.search(reply.headers.get("cache-control", ""))
        now = time.monotonic()
        self._certs, self._fetched_at = certs, now
        # Tokens are trusted again only against what Google publishes now (a withdrawn key).
        self._accepted.clear()
        self._certs_until = now + (float(match.group(1)) if match else _DEFAULT_CERTS_MAX_AGE_S)

    async def verify(self, authorization: str | None) -> dict[str, Any]:
        """The token's claims; ``PushRejected`` says why a push is not authentic. Google not
        answering for its certificates raises ``Retry`` (the HTTP layer answers 503: Pub/Sub
        retries)."""
        if not authorization or not authorization.startswith("Bearer "):
            raise PushRejected("no Authorization: Bearer token")
        token = authorization.removeprefix("Bearer ").strip()
        if time.monotonic() >= self._certs_until:
            await self._fetch_certs()
        accepted = self._accepted.get(token)
        if accepted is not None and _expires_later(accepted):
            return accepted
        try:
            claims = self._decode(token)
        except google.auth.exceptions.MalformedError as error:
            # Perhaps a key Google added since we fetched: look once more, not more than once a minute.
            if "not found" not in str(error) or time.monotonic() - self._fetched_at < _CERTS_MIN_REFETCH_S:
                raise PushRejected(f"push token: {error}") from None
            await self._fetch_certs()
            try:
                claims = self._decode(token)
            except google.auth.exceptions.MalformedError as again:
                raise PushRejected(f"push token: {again}") from None
        if claims.get("iss") not in GOOGLE_ISSUERS:
            raise PushRejected("push token: not issued by Google")
        if self._email is not None and (
            claims.get("email") != self._email or claims.get("email_verified") is not True
        ):
            raise PushRejected("push token: not the configured push service account")
        if len(self._accepted) >= _ACCEPTED_TOKENS:
            self._accepted = {t: c for t, c in self._accepted.items() if _expires_later(c)}
            if len(self._accepted) >= _ACCEPTED_TOKENS:
                self._accepted.clear()
        self._accepted[token] = claims
        return claims

    def _decode(self, token: str) -> dict[str, Any]:
        try:
            claims = google.auth.jwt.decode(  # type: ignore[no-untyped-call]
                token, certs=self._certs, audience=self._audience, clock_skew_in_seconds=10
            )
        except google.auth.exceptions.MalformedError as error:
            if str(error).startswith(_QUOTES_THE_TOKEN):
                # The reason is logged and answered: it must not carry what the header carried.
                raise PushRejected("push token: malformed (not a JWT)") from None
            raise
        except (google.auth.exceptions.GoogleAuthError, ValueError) as error:
            raise PushRejected(f"push token: {error}") from None
        return dict(claims)
