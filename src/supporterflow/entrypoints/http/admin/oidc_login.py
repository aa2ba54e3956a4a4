"""Signing in to the dashboard with OpenID Connect: the authorization code flow (OIDC Core §3.1)
with PKCE (RFC 7636, S256), ``state`` and ``nonce``, for a confidential or a public client.

``GET /admin/login/oidc`` (``start``) reads the provider's discovery document, makes a ``state``,
a ``nonce`` and a PKCE verifier, keeps the three in a short-lived signed cookie and sends the
browser to the authorization endpoint. That cookie is ``SameSite=Lax``: the provider sends the
browser back with a cross-site top-level GET, which a ``Strict`` cookie would not ride on. It
stays ``HttpOnly`` and is scoped to ``/admin/login/oidc``.

``GET /admin/login/oidc/callback`` (``finish``) checks ``state`` against the cookie, exchanges
the code (with the verifier) at the token endpoint, and verifies the ID token with PyJWT against
the provider's JWKS: signature (RS256 or ES256, the key's own algorithm only), ``iss`` (the
discovered issuer), ``aud`` (the client id; ``azp`` too when there are several audiences),
``exp``, ``iat``, then the ``nonce``. Last, the allow-list (``SF_ADMIN_OIDC_ALLOWED``) must name
the person. Every refusal is a ``SignInRefused`` with the status, the words the page shows and a
reason for the log; neither holds a token or an email address in clear.

The provider is called through the service's outbound ``Transport`` (``call``: a timeout,
connection failure, 429 or 5xx is ``Retry``, shown as 503). The discovery document is kept for
an hour; the keys until a token names one we do not have (looked up again at most once a
minute), which is how a provider's key rotation is followed. ``adapters/oidc.py`` verifies users'
*access* tokens the same way but checks claims an ID token does not carry (scope, user id), so
only its rules are shared, not its class.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlencode

import jwt
import structlog
from pydantic import SecretStr
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from supporterflow.adapters.oidc import usable_key
from supporterflow.adapters.outbound import Transport, call
from supporterflow.bootstrap import Container
from supporterflow.entrypoints.http.admin.auth import oidc_secret, shown_subject
from supporterflow.logs import fingerprint
from supporterflow.ports import Retry
from supporterflow.runtime.metrics import Metrics

__all__ = ["CALLBACK_PATH", "START_PATH", "Allowed", "OidcLogin", "SignInRefused", "oidc_login_for"]

START_PATH: Final = "/admin/login/oidc"
CALLBACK_PATH: Final = "/admin/login/oidc/callback"
FLOW_COOKIE: Final = "sf_admin_oidc"
FLOW_SECONDS: Final = 600
DISCOVERY_SECONDS: Final = 3600.0
KEYS_MIN_REFETCH_S: Final = 60.0
LEEWAY_S: Final = 30
SERVICE: Final = "admin-oidc"
_ALGORITHMS: Final = ("RS256", "ES256")
_ERROR_CODE: Final = re.compile(r"[A-Za-z0-9_.-]{1,64}")

log = structlog.get_logger(__name__)


class SignInRefused(Exception):
    """A sign-in that ends here: ``status`` and ``text`` for the page, ``reason`` for the log."""

    def __init__(self, status: int, text: str, reason: str, **details: Any) -> None:
        super().__init__(reason)
        self.status = status
        self.text = text
        self.reason = reason
        self.details = details  # for the log: fingerprints and shown subjects only


@dataclass(frozen=True)
class Allowed:
    """``SF_ADMIN_OIDC_ALLOWED``: ``email:<address>`` (compared without case, and only when the
    provider does not say ``email_verified: false``), ``sub:<subject>`` (exact), ``group:<name>``
    (one of the values of the ``groups_claim``, a string or a list). Empty admits nobody."""

    emails: frozenset[str]
    subjects: frozenset[str]
    groups: frozenset[str]
    groups_claim: str = "groups"

    @classmethod
    def parse(cls, entries: Sequence[str], groups_claim: str = "groups") -> Allowed:
        found: dict[str, set[str]] = {"email": set(), "sub": set(), "group": set()}
        for entry in entries:
            kind, _, value = entry.partition(":")
            found[kind].add(value.strip().lower() if kind == "email" else value.strip())
        return cls(
            frozenset(found["email"]), frozenset(found["sub"]), frozenset(found["group"]), groups_claim
        )

    @property
    def empty(self) -> bool:
        return not (self.emails or self.subjects or self.groups)

    def admits(self, claims: Mapping[str, Any]) -> str | None:
        """The kind of entry that admits these verified claims (``email``, ``sub``, ``group``),
        or None."""
        if claims.get("sub") in self.subjects:
            return "sub"
        email = claims.get("email")
        if (
            isinstance(email, str)
            and email.lower() in self.emails
            and claims.get("email_verified") is not False
        ):
            return "email"
        groups = claims.get(self.groups_claim)
        held = [groups] if isinstance(groups, str) else groups if isinstance(groups, list) else []
        if any(isinstance(group, str) and group in self.groups for group in held):
            return "group"
        return None


@dataclass(frozen=True)
class Provider:
    """What the discovery document says (OIDC Discovery §3)."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    basic_auth: bool  # client_secret_basic (the default) rather than client_secret_post


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class OidcLogin:
    """The flow for one provider and client. ``secret`` signs the flow cookie (see
    ``auth.oidc_secret``)."""

    def __init__(
        self,
        transport: Transport,
        *,
        issuer: str,
        client_id: str,
        client_secret: SecretStr | None,
        scopes: str,
        allowed: Allowed,
        redirect_url: str | None,
        secret: bytes,
        metrics: Metrics | None = None,
    ) -> None:
        self._transport = transport
        self.issuer = issuer
        self._client_id = client_id
        self._client_secret = client_secret
        self._scopes = scopes
        self.allowed = allowed
        self._redirect_url = redirect_url
        self.secret = secret  # AdminAuth signs the sessions with it
        self._flow_key = hmac.new(secret, b"sign-in flow", hashlib.sha256).digest()
        self._metrics = metrics
        self._provider: Provider | None = None
        self._provider_until = 0.0
        self._keys: dict[str, jwt.PyJWK] = {}
        self._keys_fetched_at: float | None = None

    # --- the two steps ---------------------------------------------------------------------

    async def start(self, request: Request) -> Response:
        """The redirect to the provider, with the flow cookie."""
        provider = await self._discover()
        state, nonce, verifier = (secrets.token_urlsafe(32) for _ in range(3))
        redirect_uri = self._redirect_url or str(request.base_url).rstrip("/") + CALLBACK_PATH
        challenge = _b64url(hashlib.sha256(verifier.encode()).digest())
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self._client_id,
                "redirect_uri": redirect_uri,
                "scope": self._scopes,
                "state": state,
                "nonce": nonce,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            }
        )
        separator = "&" if "?" in provider.authorization_endpoint else "?"
        response = RedirectResponse(f"{provider.authorization_endpoint}{separator}{query}", status_code=303)
        flow = {
            "s": state,
            "n": nonce,
            "v": verifier,
            "r": redirect_uri,
            "e": int(time.time()) + FLOW_SECONDS,
        }
        response.set_cookie(
            FLOW_COOKIE,
            self._seal(flow),
            max_age=FLOW_SECONDS,
            path=START_PATH,
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )
        return response

    async def finish(self, request: Request) -> str:
        """The subject of the person the provider signed in, once every check has passed."""
        params = request.query_params
        error = params.get("error")
        if error is not None:
            code = error if _ERROR_CODE.fullmatch(error) else "unreadable"
            raise SignInRefused(
                401,
                f"The provider did not sign you in ({code}).",
                f"the provider answered error={code}",
            )
        flow = self._open(request.cookies.get(FLOW_COOKIE, ""))
        if flow is None:
            raise SignInRefused(
                400,
                "This sign-in expired or was started in another browser. Start again.",
                "no valid sign-in flow cookie (expired, missing or not ours)",
            )
        if not hmac.compare_digest(params.get("state", "").encode(), str(flow["s"]).encode()):
            raise SignInRefused(
                400,
                "This sign-in does not match the one this browser started. Start again.",
                "state does not match the flow cookie",
            )
        code = params.get("code", "")
        if not code:
            raise SignInRefused(400, "The provider sent no code. Start again.", "callback without a code")
        provider = await self._discover()
        id_token = await self._exchange(provider, code, str(flow["v"]), str(flow["r"]))
        claims = await self._verified(provider, id_token)
        if not hmac.compare_digest(str(claims.get("nonce", "")).encode(), str(flow["n"]).encode()):
            raise _bad_token("wrong nonce")  # an answer for another sign-in: replayed or injected
        subject = str(claims["sub"])
        matched = self.allowed.admits(claims)
        email = claims.get("email")
        who = {
            "subject": shown_subject(subject),
            "email_fingerprint": fingerprint(email) if isinstance(email, str) else None,
        }
        if matched is None:
            raise SignInRefused(
                403,
                "You are signed in with the provider, but not allowed into this dashboard.",
                "not on SF_ADMIN_OIDC_ALLOWED",
                **who,
            )
        log.info("dashboard sign-in", method="oidc", matched=matched, **who)
        return subject

    @staticmethod
    def forget_flow(response: Response) -> None:
        response.delete_cookie(FLOW_COOKIE, path=START_PATH)

    # --- the flow cookie -------------------------------------------------------------------

    def _seal(self, flow: dict[str, Any]) -> str:
        body = _b64url(json.dumps(flow, separators=(",", ":")).encode())
        return f"{body}.{_b64url(hmac.new(self._flow_key, body.encode(), hashlib.sha256).digest())}"

    def _open(self, cookie: str) -> dict[str, Any] | None:
        body, _, signature = cookie.partition(".")
        expected = _b64url(hmac.new(self._flow_key, body.encode(), hashlib.sha256).digest())
        if not body or not hmac.compare_digest(signature.encode(), expected.encode()):
            return None
        try:
            flow = json.loads(_unb64url(body))
        except (binascii.Error, ValueError):
            return None
        if not isinstance(flow, dict) or not isinstance(flow.get("e"), int) or flow["e"] <= time.time():
            return None
        return flow

    # --- the provider ----------------------------------------------------------------------

    async def _get_json(self, url: str, endpoint: str) -> Any:
        """A provider's JSON document; ``SignInRefused(503)`` when it cannot be had."""
        try:
            reply = await call(
                self._transport, "GET", url, service=SERVICE, endpoint=endpoint, metrics=self._metrics
            )
        except Retry as error:
            raise _unavailable(str(error)) from None
        if reply.status != 200:
            raise _unavailable(f"{SERVICE} {endpoint}: HTTP {reply.status}")
        try:
            return reply.json()
        except ValueError:
            raise _unavailable(f"{SERVICE} {endpoint}: not JSON") from None

    async def _discover(self) -> Provider:
        if self._provider is not None and time.monotonic() < self._provider_until:
            return self._provider
        url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
        document = await self._get_json(url, "discovery")
        fields = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")
        if not isinstance(document, dict) or not all(isinstance(document.get(f), str) for f in fields):
            raise _unavailable(f"{SERVICE} discovery: lacks one of {', '.join(fields)}")
        if document["issuer"].rstrip("/") != self.issuer.rstrip("/"):
            # OIDC Discovery §4.3: the document must be the configured issuer's own.
            raise _unavailable(f"{SERVICE} discovery: names another issuer than SF_ADMIN_OIDC_ISSUER")
        methods = document.get("token_endpoint_auth_methods_supported")
        if not isinstance(methods, list) or not methods:
            methods = ["client_secret_basic"]  # the default, OIDC Discovery §3
        self._provider = Provider(
            issuer=document["issuer"],
            authorization_endpoint=document["authorization_endpoint"],
            token_endpoint=document["token_endpoint"],
            jwks_uri=document["jwks_uri"],
            basic_auth="client_secret_basic" in methods or "client_secret_post" not in methods,
        )
        self._provider_until = time.monotonic() + DISCOVERY_SECONDS
        return self._provider

    async def _exchange(self, provider: Provider, code: str, verifier: str, redirect_uri: str) -> str:
        """The ID token the token endpoint gives for ``code`` (RFC 6749 §4.1.3, RFC 7636 §4.5)."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
            "client_id": self._client_id,
        }
        headers = {"content-type": "application/x-www-form-urlencoded", "accept": "application/json"}
        if self._client_secret is not None:
            secret = self._client_secret.get_secret_value()
            if provider.basic_auth:
                # RFC 6749 §2.3.1: each part form-encoded before the Basic encoding.
                pair = f"{_form(self._client_id)}:{_form(secret)}".encode()
                headers["authorization"] = "Basic " + base64.b64encode(pair).decode()
            else:
                form["client_secret"] = secret
        try:
            reply = await call(
                self._transport,
                "POST",
                provider.token_endpoint,
                service=SERVICE,
                endpoint="token",
                metrics=self._metrics,
                content=urlencode(form).encode(),
                headers=headers,
            )
        except Retry as error:
            raise _unavailable(str(error)) from None
        try:
            body = reply.json()
        except ValueError:
            body = None
        if reply.status != 200:
            said = body.get("error") if isinstance(body, dict) else None
            shown = said if isinstance(said, str) and _ERROR_CODE.fullmatch(said) else "unreadable"
            if shown == "invalid_client" or reply.status == 401:
                raise _unavailable(
                    f"{SERVICE} token: the provider refused the client ({shown}): check "
                    "SF_ADMIN_OIDC_CLIENT_ID and SF_ADMIN_OIDC_CLIENT_SECRET"
                )
            raise SignInRefused(
                400,
                f"The provider refused to complete this sign-in ({shown}). Start again.",
                f"{SERVICE} token: HTTP {reply.status} {shown}",
            )
        id_token = body.get("id_token") if isinstance(body, dict) else None
        if not isinstance(id_token, str) or not id_token:
            raise SignInRefused(
                401, "The provider did not send an ID token.", f"{SERVICE} token: no id_token in the answer"
            )
        return id_token

    async def _key(self, provider: Provider, kid: str) -> jwt.PyJWK | None:
        key = self._keys.get(kid)
        fetched = self._keys_fetched_at
        if key is None and (fetched is None or time.monotonic() - fetched >= KEYS_MIN_REFETCH_S):
            document = await self._get_json(provider.jwks_uri, "jwks")
            try:
                found = jwt.PyJWKSet.from_dict(document) if isinstance(document, dict) else None
            except jwt.PyJWTError:
                found = None
            if found is None:
                raise _unavailable(f"{SERVICE} jwks: not a usable JWK Set")
            self._keys = {str(k.key_id): k for k in found.keys if usable_key(k)}
            self._keys_fetched_at = time.monotonic()
            key = self._keys.get(kid)
        return key

    async def _verified(self, provider: Provider, id_token: str) -> dict[str, Any]:
        """The ID token's claims, once PyJWT has checked signature, issuer, audience and times."""
        try:
            header = jwt.get_unverified_header(id_token)
        except (jwt.PyJWTError, ValueError):
            raise _bad_token("malformed") from None
        kid = header.get("kid")
        key = await self._key(provider, kid) if isinstance(kid, str) and kid else None
        if key is None:
            raise _bad_token("signed with a key the provider does not publish")
        try:
            claims: dict[str, Any] = jwt.decode(
                id_token,
                key,
                algorithms=[key.algorithm_name],
                audience=self._client_id,
                issuer=provider.issuer,
                leeway=LEEWAY_S,
                options={"require": ["iss", "sub", "aud", "exp", "iat"]},
            )
        except jwt.ExpiredSignatureError:
            raise _bad_token("expired") from None
        except jwt.InvalidAudienceError:
            raise _bad_token("for another audience") from None
        except jwt.InvalidIssuerError:
            raise _bad_token("from another issuer") from None
        except jwt.InvalidSignatureError:
            raise _bad_token("bad signature") from None
        except jwt.MissingRequiredClaimError as error:
            raise _bad_token(f"no {error.claim} claim") from None
        except (jwt.PyJWTError, ValueError):
            raise _bad_token("not valid") from None
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != self._client_id:
            raise _bad_token("several audiences and azp is not this client")  # OIDC Core §3.1.3.7
        if not isinstance(claims["sub"], str) or not claims["sub"]:
            raise _bad_token("empty sub")
        return claims


def oidc_login_for(container: Container) -> OidcLogin | None:
    """The OIDC sign-in the settings configure, None without ``SF_ADMIN_OIDC_ISSUER``. Its
    secret is ``auth.oidc_secret`` of the identity hash key and the settings that decide who
    gets in, so the same secret signs the sessions (``AdminAuth``)."""
    settings = container.settings
    dependencies = container.dependencies()
    transport = dependencies.get("admin_oidc_transport")
    if not settings.admin_oidc_issuer or not settings.admin_oidc_client_id or transport is None:
        return None
    allowed = Allowed.parse(settings.admin_oidc_allowed, settings.admin_oidc_groups_claim)
    if allowed.empty:
        log.warning("SF_ADMIN_OIDC_ALLOWED is empty: signing in with OIDC refuses everyone")
    secret = oidc_secret(
        dependencies["identity_key"],
        settings.admin_oidc_issuer,
        settings.admin_oidc_client_id,
        settings.admin_oidc_groups_claim,
        *sorted(settings.admin_oidc_allowed),
    )
    return OidcLogin(
        transport,
        issuer=settings.admin_oidc_issuer,
        client_id=settings.admin_oidc_client_id,
        client_secret=settings.admin_oidc_client_secret,
        scopes=settings.admin_oidc_scopes,
        allowed=allowed,
        redirect_url=settings.admin_oidc_redirect_url,
        secret=secret,
        metrics=container.metrics,
    )


def _form(value: str) -> str:
    return urlencode({"": value})[1:]


def _unavailable(reason: str) -> SignInRefused:
    return SignInRefused(
        503, "Signing in with the provider is not possible now. Try again later, or use an admin key.", reason
    )


def _bad_token(what: str) -> SignInRefused:
    return SignInRefused(401, "The provider's answer could not be trusted.", f"ID token: {what}")
