"""User access tokens (spec/mobile-purchases.md §2.6, Okta token resolution): the user id an
OIDC access token carries, once PyJWT has verified it against the issuer's JWKS.

What proves a token is PyJWT: the signature (with the key the JWKS publishes under the token's
``kid``, and only that key's algorithm), ``iss``, ``aud`` and ``exp`` (all three required), with
30 s of leeway for clocks. This module adds the plumbing and the two claims of the spec:

- the JWKS is fetched through our ``Transport`` (so the issuer is configuration: Okta, or the
  emulator in-process) and kept for as long as its ``Cache-Control: max-age`` says (an hour when
  it says nothing; never less than a minute nor more than a day); a token naming a key we do not
  have makes it fetched again at once, at most once a minute, which is how an issuer's key
  rotation is followed (``PyJWKClient`` is not used: it fetches with urllib, blocking the loop);
- only RSA keys (RS256) and P-256 keys (ES256) are used, each with its own algorithm: a token
  saying ``alg: none``, ``HS256`` (the public key as an HMAC secret) or any other algorithm is
  refused whatever it is signed with;
- ``scp`` must hold the configured scope (Okta sends a list; a space-separated string, as other
  issuers send ``scope``, is accepted too) -> otherwise ``incorrect-scope``; the user-id claim
  (``legacy_identity_id`` unless configured) must be a non-empty string (or a number) ->
  otherwise ``missing-identity-id``;
- a token that passed every check is remembered until it expires (an app sends the same token
  with every request for its lifetime), and forgotten when the keys are fetched again.

The token is the ``Authorization`` header with ``"Bearer "`` removed. The original removed the
first ``"Bearer "`` substring wherever it was (``replace``), case-sensitively; here the header
must start with it, still case-sensitively (``bearer x`` is refused, as the original would have
failed to verify it). The one header the original accepted and this refuses is a bare token
without the scheme. The rejection reasons are logged and may be answered: they never contain
the token, nor anything decoded from it.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Mapping
from typing import Any, Final

import jwt
import structlog
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from supporterflow.adapters import pyjwt_speedup
from supporterflow.adapters.outbound import Transport, call
from supporterflow.ports import Retry, TokenRejected
from supporterflow.runtime.metrics import Metrics

log = structlog.get_logger(__name__)

# PyJWT checks the base64url alphabet of each segment one character at a time: see the module.
pyjwt_speedup.install()

BEARER: Final = "Bearer "
LEEWAY_S: Final = 30
REQUIRED_CLAIMS: Final = ("exp", "iss", "aud")
_KEYS_MIN_REFETCH_S: Final = 60.0
_DEFAULT_KEYS_MAX_AGE_S: Final = 3600.0
_KEYS_MAX_AGE_BOUNDS_S: Final = (60.0, 86_400.0)
_MAX_AGE = re.compile(r"max-age=(\d+)")
_ACCEPTED_TOKENS: Final = 1024

#: PyJWT's errors whose messages are fixed texts (no part of the token in them). Other
#: ``DecodeError``s may quote what was decoded: they are answered as "malformed".
_FIXED_MESSAGES: Final = (
    jwt.InvalidSignatureError,
    jwt.ExpiredSignatureError,
    jwt.InvalidAudienceError,
    jwt.InvalidIssuerError,
    jwt.InvalidIssuedAtError,
    jwt.ImmatureSignatureError,
    jwt.InvalidAlgorithmError,
    jwt.MissingRequiredClaimError,
)
_MALFORMED: Final = "access token: malformed (not a signed JWT)"


def usable_key(key: jwt.PyJWK) -> bool:
    """A public signing key with a ``kid``, of a type we verify with its own algorithm: RSA with
    RS256, P-256 with ES256 (whatever the JWK's ``alg`` says, PyJWT built the key from it)."""
    if key.public_key_use not in (None, "sig") or not isinstance(key.key_id, str) or not key.key_id:
        return False
    public = key.key
    if isinstance(public, rsa.RSAPublicKey):
        return key.algorithm_name == "RS256"
    if isinstance(public, ec.EllipticCurvePublicKey):
        return isinstance(public.curve, ec.SECP256R1) and key.algorithm_name == "ES256"
    return False


def _expires_later(expiry: float) -> bool:
    return expiry > time.time()


def _without_token(reason: str, token: str) -> str:
    """``reason``, unless it quotes the token or one of its segments (a later PyJWT's message)."""
    quoted = [part for part in (token, *token.split(".")) if len(part) >= 8]
    return _MALFORMED if any(part in reason for part in quoted) else reason


class OidcUserTokens:
    """The port ``UserTokens`` for an OIDC issuer (Okta): ``jwks_path`` is the JWKS on
    ``transport`` (Okta: ``{issuer}/v1/keys``); ``issuer``, ``audience``, ``scope`` and
    ``user_id_claim`` are the ``SF_OIDC_*`` settings."""

    def __init__(
        self,
        transport: Transport,
        jwks_path: str,
        *,
        issuer: str,
        audience: str,
        scope: str,
        user_id_claim: str,
        metrics: Metrics | None = None,
    ) -> None:
        self._transport = transport
        self._jwks_path = jwks_path
        self._issuer = issuer
        self._audience = audience
        self._scope = scope
        self._user_id_claim = user_id_claim
        self._metrics = metrics
        self._keys: dict[str, jwt.PyJWK] = {}
        self._keys_until = 0.0
        self._fetched_at = 0.0
        self._fetch_lock = asyncio.Lock()
        # token -> (user id, exp): checked once, good until it expires or the keys change.
        self._accepted: dict[str, tuple[str, float]] = {}

    async def user_id(self, authorization: str | None) -> str:
        if authorization is None:
            raise TokenRejected("incorrect-token", "no Authorization header")
        if not authorization.startswith(BEARER):
            raise TokenRejected("incorrect-token", "the Authorization header is not 'Bearer <token>'")
        token = authorization.removeprefix(BEARER)
        if not token:
            raise TokenRejected("incorrect-token", "the Authorization header has no token")
        if time.monotonic() >= self._keys_until:
            await self._refresh_keys(expired=True)
        accepted = self._accepted.get(token)
        if accepted is not None and _expires_later(accepted[1]):
            return accepted[0]
        claims = await self._verified(token)
        user_id = self._check_claims(claims)
        self._remember(token, user_id, claims["exp"])
        return user_id

    async def _verified(self, token: str) -> dict[str, Any]:
        """The claims of a token PyJWT verified: signature, issuer, audience, expiry."""
        try:
            header = jwt.get_unverified_header(token)
        except (jwt.PyJWTError, ValueError):
            raise TokenRejected("incorrect-token", _MALFORMED) from None
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise TokenRejected("incorrect-token", "access token: no key id (kid) in its header")
        key = self._keys.get(kid)
        if key is None and time.monotonic() - self._fetched_at >= _KEYS_MIN_REFETCH_S:
            # Perhaps a key the issuer added since we fetched (rotation): look once more.
            await self._refresh_keys(expired=False)
            key = self._keys.get(kid)
        if key is None:
            raise TokenRejected(
                "incorrect-token", "access token: signed with a key the issuer does not publish"
            )
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[key.algorithm_name],
                audience=self._audience,
                issuer=self._issuer,
                leeway=LEEWAY_S,
                options={"require": list(REQUIRED_CLAIMS)},
            )
        except _FIXED_MESSAGES as error:
            raise TokenRejected("incorrect-token", _without_token(f"access token: {error}", token)) from None
        except (jwt.PyJWTError, ValueError):
            raise TokenRejected("incorrect-token", _MALFORMED) from None
        return claims

    def _check_claims(self, claims: Mapping[str, Any]) -> str:
        """The user id of verified claims: the scope first, then the user-id claim (§2.6)."""
        scopes = claims.get("scp")
        granted = scopes.split() if isinstance(scopes, str) else scopes if isinstance(scopes, list) else []
        if self._scope not in granted:
            raise TokenRejected("incorrect-scope", f"access token: scope {self._scope} not granted")
        user_id = claims.get(self._user_id_claim)
        if user_id is None:
            raise TokenRejected("missing-identity-id", f"access token: no {self._user_id_claim} claim")
        if isinstance(user_id, bool) or not isinstance(user_id, str | int):
            raise TokenRejected(
                "missing-identity-id", f"access token: the {self._user_id_claim} claim is not a string"
            )
        if user_id == "":
            raise TokenRejected(
                "missing-identity-id", f"access token: the {self._user_id_claim} claim is empty"
            )
        return str(user_id)

    def _remember(self, token: str, user_id: str, expiry: float) -> None:
        if len(self._accepted) >= _ACCEPTED_TOKENS:
            self._accepted = {t: a for t, a in self._accepted.items() if _expires_later(a[1])}
            if len(self._accepted) >= _ACCEPTED_TOKENS:
                self._accepted.clear()
        self._accepted[token] = (user_id, float(expiry))

    async def _refresh_keys(self, *, expired: bool) -> None:
        """Fetch the JWKS, once for all the callers waiting: when the copy ``expired``, unless
        another caller has fetched since; for an unknown ``kid``, unless one did less than a
        minute ago."""
        async with self._fetch_lock:
            now = time.monotonic()
            if expired and now < self._keys_until:
                return
            if not expired and now - self._fetched_at < _KEYS_MIN_REFETCH_S:
                return
            await self._fetch_keys()

    async def _fetch_keys(self) -> None:
        reply = await call(
            self._transport, "GET", self._jwks_path, service="oidc", endpoint="jwks", metrics=self._metrics
        )
        if reply.status != 200:
            raise Retry(f"the OIDC issuer's keys: HTTP {reply.status}")
        try:
            body = reply.json()
        except ValueError:
            raise Retry("the OIDC issuer's keys are not JSON") from None
        if not isinstance(body, dict):
            raise Retry("the OIDC issuer's keys are not a JWK Set")
        try:
            keys = {key.key_id: key for key in jwt.PyJWKSet.from_dict(body) if usable_key(key)}
        except jwt.PyJWTError as error:
            raise Retry(f"the OIDC issuer's keys: {error}") from None
        if not keys:
            raise Retry("the OIDC issuer publishes no RS256 or ES256 signing key with a kid")
        match = _MAX_AGE.search(reply.headers.get("cache-control", ""))
        max_age = float(match.group(1)) if match else _DEFAULT_KEYS_MAX_AGE_S
        low, high = _KEYS_MAX_AGE_BOUNDS_S
        now = time.monotonic()
        self._keys = {str(kid): key for kid, key in keys.items()}
        self._fetched_at = now
        self._keys_until = now + min(max(max_age, low), high)
        # Tokens are trusted again only against what the issuer publishes now (a withdrawn key).
        self._accepted.clear()
        log.info("OIDC issuer keys fetched", key_ids=sorted(self._keys))
