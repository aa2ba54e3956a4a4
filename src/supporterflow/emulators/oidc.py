"""An emulated OIDC issuer (Okta's authorization server as the apps' access tokens come from it,
spec/mobile-purchases.md §2.6): its discovery document, its JWKS, and tokens minted on demand.

Okta publishes ``GET {issuer}/.well-known/openid-configuration`` and ``GET {issuer}/v1/keys``
(``{"keys": [{"kty": "RSA", "alg": "RS256", "kid", "use": "sig", "n", "e"}]}``) and signs
access tokens RS256 with header ``{"kid", "alg"}``. The claims of an access token: ``ver``,
``jti`` (``AT.…``), ``iss``, ``aud``, ``iat``, ``exp`` (an hour later), ``cid`` (the client),
``uid`` (Okta's user id), ``scp`` (a list of scopes), ``auth_time``, ``sub`` (the login) and
the Guardian's custom claim ``legacy_identity_id`` (the identity id).

Access tokens are minted on demand: ``POST /__emulator/tokens`` (and :meth:`OidcIssuer.token`
in-process) mint a token for whatever claims the caller asks, which is what tests and the demo
need. For the dashboard's sign-in there is also the authorization code flow (OpenID Connect Core
§3.1 with PKCE, RFC 7636): ``GET /v1/authorize`` approves at once, as the configured operator
(``POST /__emulator/sign-in`` changes who, makes it answer an ``error`` instead, or makes the ID
tokens misbehave), and ``POST /v1/token`` exchanges the code, once, for an ID token carrying the
``nonce``, after checking the client, the redirect URI and the PKCE verifier.
``POST /__emulator/rotate`` signs with a new key from then on and keeps publishing the old one
for the tokens already issued, as issuers do. Written from Okta's documented formats, not from
supporterflow's adapter: it never imports ``supporterflow.domain``, ``functions`` or
``adapters``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qs, unquote_plus, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from supporterflow.emulators.control import (
    CONTROL_PREFIX,
    BadRequest,
    EmulatorControl,
    bad_request,
    emulator_app,
    read_json,
)

DEFAULT_ISSUER: Final = "http://oidc.emulator"
"""The issuer (``iss``) unless told otherwise; only compared, never resolved."""
DEFAULT_AUDIENCE: Final = "supporterflow-local"
DEFAULT_SCOPE: Final = "guardian.mobile-purchases-api.update.self"
DEFAULT_USER_ID: Final = "100000001"
"""The ``legacy_identity_id`` of a token minted without one."""
DEFAULT_CLIENT_ID: Final = "sf-emulator-app"
USER_ID_CLAIM: Final = "legacy_identity_id"
TOKEN_LIFETIME_S: Final = 3600
JWKS_MAX_AGE_S: Final = 3600

DEFAULT_LOGIN_CLIENT_ID: Final = "sf-dashboard"
"""The client the authorization endpoint knows unless told otherwise (the dashboard)."""
DEFAULT_OPERATOR: Final[dict[str, Any]] = {
    "sub": "00uoperator000000001",
    "email": "operator@example.com",
    "email_verified": True,
}
"""Who the authorization endpoint signs in unless told otherwise."""
CODE_LIFETIME_S: Final = 60

DISCOVERY_PATH: Final = "/.well-known/openid-configuration"
JWKS_PATH: Final = "/v1/keys"
AUTHORIZE_PATH: Final = "/v1/authorize"
TOKEN_PATH: Final = "/v1/token"  # noqa: S105 (a path)
KEY_FILE_PATTERN: Final = "oidc-key-{:04d}.pem"
_KEY_FILE = re.compile(r"oidc-key-(\d{4,})\.pem")


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _b64url_uint(value: int) -> str:
    return _b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


def public_jwk(key: rsa.RSAPrivateKey) -> dict[str, str]:
    """The public half of ``key`` as Okta publishes it; ``kid`` is the RFC 7638 thumbprint."""
    numbers = key.public_key().public_numbers()
    n, e = _b64url_uint(numbers.n), _b64url_uint(numbers.e)
    return {"kty": "RSA", "alg": "RS256", "kid": rsa_thumbprint(n, e), "use": "sig", "e": e, "n": n}


def rsa_thumbprint(n: str, e: str) -> str:
    """The RFC 7638 JWK thumbprint (SHA-256) of an RSA public key given as base64url ``n``, ``e``."""
    canonical = json.dumps({"e": e, "kty": "RSA", "n": n}, separators=(",", ":"), sort_keys=True)
    return _b64url(hashlib.sha256(canonical.encode()).digest())


def key_id(key: rsa.RSAPrivateKey) -> str:
    return public_jwk(key)["kid"]


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(65537, 2048)


def _pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@dataclass
class OidcIssuer:
    """The issuer's signing keys, oldest first (the last one signs), its URL and the audience of
    the tokens it mints. With a ``directory`` the keys are files there, so the emulator
    (``supporterflow emulate oidc``) and the token command (``emulate oidc-token``) agree, and a
    rotation survives a restart."""

    keys: list[rsa.RSAPrivateKey]
    url: str = DEFAULT_ISSUER
    audience: str = DEFAULT_AUDIENCE
    directory: Path | None = None
    minted: int = field(default=0, compare=False)
    _numbers: list[int] = field(default_factory=list, repr=False, compare=False)
    # The authorization code flow (the dashboard's sign-in).
    login_client_id: str = DEFAULT_LOGIN_CLIENT_ID
    login_client_secret: str | None = None
    """None: a public client (PKCE alone); else the token endpoint wants it (basic or post)."""
    operator: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_OPERATOR))
    """The claims of the person ``/v1/authorize`` signs in (``sub``, ``email``, ``groups``…)."""
    sign_in_error: str | None = None
    """When set, ``/v1/authorize`` sends the browser back with this ``error`` (``access_denied``)."""
    id_token_claims: dict[str, Any] = field(default_factory=dict)
    """Claims replaced in every ID token (None removes one): a provider misbehaving on purpose
    (another ``nonce``, ``aud``, an ``exp`` in the past)."""
    _grants: dict[str, _Grant] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.keys:
            raise ValueError("an issuer needs at least one signing key")
        if len(self._numbers) != len(self.keys):
            self._numbers = list(range(1, len(self.keys) + 1))

    @classmethod
    def generate(cls, url: str = DEFAULT_ISSUER, *, audience: str = DEFAULT_AUDIENCE) -> OidcIssuer:
        """An issuer with one new key, in memory."""
        return cls([_new_key()], url, audience)

    @classmethod
    def load_or_create(
        cls, directory: Path, issuer_url: str = DEFAULT_ISSUER, *, audience: str = DEFAULT_AUDIENCE
    ) -> OidcIssuer:
        """The keys saved in ``directory`` (``oidc-key-0001.pem``, ``-0002``… in rotation
        order), or a new one saved there."""
        found: list[tuple[int, Path]] = []
        if directory.is_dir():
            for path in directory.iterdir():
                match = _KEY_FILE.fullmatch(path.name)
                if match:
                    found.append((int(match.group(1)), path))
        if not found:
            issuer = cls([_new_key()], issuer_url, audience, directory)
            issuer._save(1, issuer.keys[0])
            return issuer
        found.sort()
        keys: list[rsa.RSAPrivateKey] = []
        for _, path in found:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
            if not isinstance(key, rsa.RSAPrivateKey):
                raise ValueError(f"{path} is not an RSA private key")
            keys.append(key)
        return cls(keys, issuer_url, audience, directory, _numbers=[number for number, _ in found])

    def _save(self, number: int, key: rsa.RSAPrivateKey) -> None:
        if self.directory is None:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / KEY_FILE_PATTERN.format(number)
        path.write_bytes(_pem(key))
        path.chmod(0o600)

    @property
    def signing_key(self) -> rsa.RSAPrivateKey:
        return self.keys[-1]

    @property
    def key_id(self) -> str:
        """The ``kid`` of the key that signs now."""
        return key_id(self.signing_key)

    @property
    def key_ids(self) -> list[str]:
        """Every published ``kid``, oldest first."""
        return [key_id(key) for key in self.keys]

    def jwks(self) -> dict[str, Any]:
        """``GET /v1/keys``: every key still published, the signing one first (as Okta lists
        the active key first)."""
        return {"keys": [public_jwk(key) for key in reversed(self.keys)]}

    def discovery(self, base_url: str) -> dict[str, Any]:
        """``GET /.well-known/openid-configuration``; ``base_url`` is where the emulator was
        reached (the issuer URL is only a name here, the keys are served where it listens)."""
        base = base_url.rstrip("/")
        return {
            "issuer": self.url,
            "authorization_endpoint": f"{base}{AUTHORIZE_PATH}",
            "token_endpoint": f"{base}{TOKEN_PATH}",
            "jwks_uri": f"{base}{JWKS_PATH}",
            "response_types_supported": ["code", "token", "id_token"],
            "grant_types_supported": ["authorization_code"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "profile", "email", "groups", DEFAULT_SCOPE],
            "claims_supported": [
                "iss",
                "sub",
                "aud",
                "exp",
                "iat",
                "nonce",
                "email",
                "email_verified",
                "groups",
                USER_ID_CLAIM,
            ],
        }

    def rotate(self, *, retire_previous: bool = False) -> str:
        """Sign with a new key from now on; its ``kid``. The old keys stay published (tokens
        they signed are still good) unless ``retire_previous``: then only the new one is."""
        key = _new_key()
        number = self._numbers[-1] + 1
        self._save(number, key)
        if retire_previous:
            if self.directory is not None:
                for old in self._numbers:
                    (self.directory / KEY_FILE_PATTERN.format(old)).unlink(missing_ok=True)
            self.keys, self._numbers = [], []
        self.keys.append(key)
        self._numbers.append(number)
        return key_id(key)

    def claims(self, *, now_s: float | None = None, lifetime_s: int = TOKEN_LIFETIME_S) -> dict[str, Any]:
        """The claims of a default access token: the default user, scope and this audience."""
        issued = int(time.time() if now_s is None else now_s)
        subject = f"user-{DEFAULT_USER_ID}@example.com"
        return {
            "ver": 1,
            "jti": f"AT.{secrets.token_urlsafe(32)}",
            "iss": self.url,
            "aud": self.audience,
            "iat": issued,
            "exp": issued + lifetime_s,
            "cid": DEFAULT_CLIENT_ID,
            "uid": _okta_uid(subject),
            "scp": [DEFAULT_SCOPE],
            "auth_time": issued,
            "sub": subject,
            USER_ID_CLAIM: DEFAULT_USER_ID,
        }

    def token(
        self,
        *,
        signing_key: rsa.RSAPrivateKey | None = None,
        now_s: float | None = None,
        lifetime_s: int = TOKEN_LIFETIME_S,
        headers: dict[str, Any] | None = None,
        **overrides: Any,
    ) -> str:
        """An RS256 access token. Each keyword claim replaces the default one, ``None`` removes
        it (``legacy_identity_id=None``, ``scp=None``); a new ``legacy_identity_id`` also gives
        the token its own ``sub``/``uid``. The bad tokens tests need: ``iss=``/``aud=`` another,
        ``now_s`` in the past (expired), ``signing_key`` not the published one (the header still
        names the signing ``kid``: a forgery), ``headers`` replacing header fields."""
        claims = self.claims(now_s=now_s, lifetime_s=lifetime_s)
        user_id = overrides.get(USER_ID_CLAIM)
        if isinstance(user_id, str) and user_id:
            claims["sub"] = f"user-{user_id}@example.com"
            claims["uid"] = _okta_uid(claims["sub"])
        for name, value in overrides.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        header = {"kid": self.key_id, **(headers or {})}
        self.minted += 1
        return jwt.encode(claims, signing_key or self.signing_key, algorithm="RS256", headers=header)

    def grant(self, *, client_id: str, redirect_uri: str, code_challenge: str, nonce: str | None) -> str:
        """A new authorization code for the operator, good once within ``CODE_LIFETIME_S``."""
        now = time.monotonic()
        self._grants = {code: g for code, g in self._grants.items() if g.expires_s > now}
        code = secrets.token_urlsafe(32)
        self._grants[code] = _Grant(
            client_id, redirect_uri, code_challenge, nonce, dict(self.operator), now + CODE_LIFETIME_S
        )
        return code

    def redeem(self, code: str) -> _Grant | None:
        """What ``code`` was granted for, once; None when unknown, used or expired."""
        grant = self._grants.pop(code, None)
        return grant if grant is not None and grant.expires_s > time.monotonic() else None

    def id_token(self, grant: _Grant, *, now_s: float | None = None) -> str:
        """The ID token of a redeemed code (OIDC Core §2): the operator's claims, this client as
        the audience, the ``nonce`` the client sent; then ``id_token_claims`` over them."""
        issued = int(time.time() if now_s is None else now_s)
        claims: dict[str, Any] = {
            **grant.user,
            "iss": self.url,
            "aud": grant.client_id,
            "iat": issued,
            "exp": issued + TOKEN_LIFETIME_S,
            "auth_time": issued,
        }
        if grant.nonce is not None:
            claims["nonce"] = grant.nonce
        for name, value in self.id_token_claims.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        self.minted += 1
        return jwt.encode(claims, self.signing_key, algorithm="RS256", headers={"kid": self.key_id})

    # The control API's view of the issuer (EmulatorState).

    def reset(self) -> None:
        """Keys stay, as tokens already handed out must verify; the count, the codes not yet
        redeemed and any misbehaviour are forgotten, and the default operator signs in again."""
        self.minted = 0
        self._grants.clear()
        self.operator = dict(DEFAULT_OPERATOR)
        self.sign_in_error = None
        self.id_token_claims = {}

    def snapshot(self) -> dict[str, Any]:
        return {
            "issuer": self.url,
            "audience": self.audience,
            "signing_key_id": self.key_id,
            "key_ids": self.key_ids,
            "tokens_minted": self.minted,
        }

    def sign_in_snapshot(self) -> dict[str, Any]:
        """What ``POST /__emulator/sign-in`` set: who signs in, how it misbehaves."""
        return {
            "login_client_id": self.login_client_id,
            "operator": self.operator,
            "sign_in_error": self.sign_in_error,
            "id_token_claims": sorted(self.id_token_claims),
            "codes_outstanding": len(self._grants),
        }

    def close(self) -> None:
        """Nothing is held open (the keys are written when made)."""


@dataclass(frozen=True)
class _Grant:
    """What an authorization code stands for until it is redeemed (once)."""

    client_id: str
    redirect_uri: str
    code_challenge: str
    nonce: str | None
    user: dict[str, Any]
    expires_s: float


def _pkce_challenge(verifier: str) -> str:
    return _b64url(hashlib.sha256(verifier.encode("ascii", "replace")).digest())


def _okta_uid(subject: str) -> str:
    """Okta's user ids are ``00u`` and 17 more characters; stable per subject here."""
    return "00u" + hashlib.sha256(subject.encode()).hexdigest()[:17]


def _strings(value: Any, *, allow_empty: bool) -> bool:
    """A string or a list of strings (non-empty unless ``allow_empty``)."""
    if isinstance(value, str):
        return allow_empty or bool(value)
    return isinstance(value, list) and (allow_empty or bool(value)) and all(isinstance(v, str) for v in value)


def parse_token_request(body: Any) -> tuple[dict[str, Any], int]:
    """``(claim overrides, expires_in)`` of ``POST /__emulator/tokens``: ``sub``,
    ``legacy_identity_id`` (null: no such claim), ``scp`` (a list or a space-separated string;
    null: none), ``aud``, ``expires_in`` (seconds, negative for an expired token) and ``claims``
    (any further claims, applied last)."""
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object")
    errors: list[str] = []
    overrides: dict[str, Any] = {}
    if "sub" in body:
        if not isinstance(body["sub"], str) or not body["sub"]:
            errors.append("sub must be a non-empty string")
        else:
            overrides["sub"] = body["sub"]
    if USER_ID_CLAIM in body:
        user_id = body[USER_ID_CLAIM]
        if user_id is not None and not isinstance(user_id, str):
            errors.append(f"{USER_ID_CLAIM} must be a string or null")
        else:
            overrides[USER_ID_CLAIM] = user_id
    if "scp" in body:
        scopes = body["scp"]
        if scopes is None or _strings(scopes, allow_empty=True):
            overrides["scp"] = scopes
        else:
            errors.append("scp must be a list of strings, a string or null")
    if "aud" in body:
        audience = body["aud"]
        if _strings(audience, allow_empty=False):
            overrides["aud"] = audience
        else:
            errors.append("aud must be a non-empty string or list of strings")
    expires_in = body.get("expires_in", TOKEN_LIFETIME_S)
    if not isinstance(expires_in, int) or isinstance(expires_in, bool):
        errors.append("expires_in must be an integer (seconds)")
    extra = body.get("claims", {})
    if not isinstance(extra, dict):
        errors.append("claims must be an object")
    else:
        overrides.update(extra)
    unknown = sorted(set(body) - {"sub", USER_ID_CLAIM, "scp", "aud", "expires_in", "claims"})
    if unknown:
        errors.append(f"unknown fields: {', '.join(unknown)} (put other claims under 'claims')")
    if errors:
        raise BadRequest(*errors)
    return overrides, int(expires_in)


def _oauth_error(status: int, error: str, description: str) -> JSONResponse:
    """An error as RFC 6749 §5.2 writes it."""
    return JSONResponse(
        {"error": error, "error_description": description},
        status_code=status,
        headers={"cache-control": "no-store"},
    )


def _client_credentials(request: Request, form: dict[str, list[str]]) -> tuple[str, str | None] | None:
    """``(client_id, client_secret)`` from HTTP Basic (RFC 6749 §2.3.1: each form-encoded first)
    or from the form; None when the Basic header cannot be read."""
    authorization = request.headers.get("authorization", "")
    if authorization.startswith("Basic "):
        try:
            decoded = base64.b64decode(authorization.removeprefix("Basic "), validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            return None
        client_id, _, client_secret = decoded.partition(":")
        return unquote_plus(client_id), unquote_plus(client_secret)
    secret = form.get("client_secret")
    return (form.get("client_id") or [""])[0], secret[0] if secret else None


def parse_sign_in(body: Any) -> dict[str, Any]:
    """The changes ``POST /__emulator/sign-in`` asks for: ``operator`` (the claims of who signs in,
    with a ``sub``), ``error`` (an OAuth error code the authorization endpoint answers with;
    null: approve again) and ``id_token_claims`` (claims replaced in every ID token)."""
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object")
    errors: list[str] = []
    changes: dict[str, Any] = {}
    if "operator" in body:
        operator = body["operator"]
        if not isinstance(operator, dict) or not isinstance(operator.get("sub"), str) or not operator["sub"]:
            errors.append("operator must be an object of claims with a non-empty sub")
        else:
            changes["operator"] = operator
    if "error" in body:
        if body["error"] is not None and not (isinstance(body["error"], str) and body["error"]):
            errors.append("error must be an OAuth error code (e.g. access_denied) or null")
        else:
            changes["sign_in_error"] = body["error"]
    if "id_token_claims" in body:
        if not isinstance(body["id_token_claims"], dict):
            errors.append("id_token_claims must be an object")
        else:
            changes["id_token_claims"] = body["id_token_claims"]
    unknown = sorted(set(body) - {"operator", "error", "id_token_claims"})
    if unknown:
        errors.append(f"unknown fields: {', '.join(unknown)}")
    if errors:
        raise BadRequest(*errors)
    return changes


def create_oidc_app(
    issuer: OidcIssuer, *, latency_ms: float = 0.0, jwks_max_age_s: int = JWKS_MAX_AGE_S
) -> Starlette:
    """The issuer as an ASGI app; the JWKS is sent with ``Cache-Control: max-age=jwks_max_age_s``."""

    async def discovery(request: Request) -> Response:
        return JSONResponse(issuer.discovery(str(request.base_url)))

    async def keys(request: Request) -> Response:
        return JSONResponse(
            issuer.jwks(), headers={"Cache-Control": f"max-age={jwks_max_age_s}, must-revalidate"}
        )

    async def mint(request: Request) -> Response:
        try:
            overrides, expires_in = parse_token_request(await read_json(request))
        except BadRequest as error:
            return bad_request(error)
        token = issuer.token(lifetime_s=expires_in, **overrides)
        scopes = overrides.get("scp", [DEFAULT_SCOPE])
        scope = " ".join(scopes) if isinstance(scopes, list) else (scopes or "")
        return JSONResponse(
            {"access_token": token, "token_type": "Bearer", "expires_in": expires_in, "scope": scope}
        )

    async def authorize(request: Request) -> Response:
        """Approves at once as ``issuer.operator``. A request naming another client or a
        redirect URI that is not an absolute URL is answered here, not redirected (RFC 6749
        §4.1.2.1); anything else wrong goes back to the client as ``error``."""
        query = request.query_params
        if query.get("client_id") != issuer.login_client_id:
            return _oauth_error(400, "invalid_client", "unknown client_id")
        redirect_uri = query.get("redirect_uri", "")
        target = urlsplit(redirect_uri)
        if target.scheme not in ("http", "https") or not target.netloc or target.fragment:
            return _oauth_error(400, "invalid_request", "redirect_uri must be an absolute http(s) URL")
        state = query.get("state")

        def back(**values: str) -> Response:
            if state is not None:
                values["state"] = state
            separator = "&" if target.query else "?"
            return RedirectResponse(f"{redirect_uri}{separator}{urlencode(values)}", status_code=302)

        if issuer.sign_in_error is not None:
            return back(error=issuer.sign_in_error, error_description="The emulated provider said no")
        if query.get("response_type") != "code":
            return back(error="unsupported_response_type", error_description="Only code is supported")
        if "openid" not in query.get("scope", "").split():
            return back(error="invalid_scope", error_description="The scope must include openid")
        challenge = query.get("code_challenge", "")
        if query.get("code_challenge_method") != "S256" or not challenge:
            return back(error="invalid_request", error_description="PKCE (S256) is required")
        code = issuer.grant(
            client_id=issuer.login_client_id,
            redirect_uri=redirect_uri,
            code_challenge=challenge,
            nonce=query.get("nonce"),
        )
        return back(code=code)

    async def token_endpoint(request: Request) -> Response:
        """The code, with its PKCE verifier, for an ID token (and an access token)."""
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        credentials = _client_credentials(request, form)
        if credentials is None or credentials[0] != issuer.login_client_id:
            return _oauth_error(401, "invalid_client", "unknown client")
        expected_secret = issuer.login_client_secret
        given_secret = credentials[1] or ""
        if expected_secret is not None and not hmac.compare_digest(
            given_secret.encode(), expected_secret.encode()
        ):
            return _oauth_error(401, "invalid_client", "wrong client secret")

        def one(name: str) -> str:
            return (form.get(name) or [""])[0]

        if one("grant_type") != "authorization_code":
            return _oauth_error(400, "unsupported_grant_type", "only authorization_code")
        grant = issuer.redeem(one("code"))
        if grant is None:
            return _oauth_error(400, "invalid_grant", "unknown, expired or already used code")
        if grant.client_id != credentials[0] or grant.redirect_uri != one("redirect_uri"):
            return _oauth_error(
                400, "invalid_grant", "the code was issued for another client or redirect_uri"
            )
        if not hmac.compare_digest(_pkce_challenge(one("code_verifier")), grant.code_challenge):
            return _oauth_error(400, "invalid_grant", "the PKCE code_verifier does not match")
        subject = str(grant.user.get("sub", ""))
        no_user_id: dict[str, Any] = {USER_ID_CLAIM: None}
        access_token = issuer.token(sub=subject, scp=["openid"], **no_user_id)
        return JSONResponse(
            {
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": TOKEN_LIFETIME_S,
                "id_token": issuer.id_token(grant),
                "scope": "openid",
            },
            headers={"cache-control": "no-store"},
        )

    async def sign_in(request: Request) -> Response:
        try:
            changes = parse_sign_in(await read_json(request))
        except BadRequest as error:
            return bad_request(error)
        for name, value in changes.items():
            setattr(issuer, name, value)
        return JSONResponse(issuer.sign_in_snapshot())

    async def rotate(request: Request) -> Response:
        raw = await request.body()
        retire = False
        if raw.strip():
            try:
                body = await read_json(request)
            except BadRequest as error:
                return bad_request(error)
            retire_value = body.get("retire_previous", False) if isinstance(body, dict) else None
            if not isinstance(retire_value, bool):
                return bad_request(BadRequest('The body must be {"retire_previous": true|false}'))
            retire = retire_value
        kid = issuer.rotate(retire_previous=retire)
        return JSONResponse({"kid": kid, "keys": issuer.key_ids})

    return emulator_app(
        routes=[
            Route(DISCOVERY_PATH, discovery, methods=["GET"]),
            Route(JWKS_PATH, keys, methods=["GET"]),
            Route(AUTHORIZE_PATH, authorize, methods=["GET"]),
            Route(TOKEN_PATH, token_endpoint, methods=["POST"]),
        ],
        state=issuer,
        control=EmulatorControl(latency_ms),
        control_routes=[
            Route(f"{CONTROL_PREFIX}/tokens", mint, methods=["POST"]),
            Route(f"{CONTROL_PREFIX}/rotate", rotate, methods=["POST"]),
            Route(f"{CONTROL_PREFIX}/sign-in", sign_in, methods=["POST"]),
        ],
    )
