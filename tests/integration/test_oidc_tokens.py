"""``OidcUserTokens`` (spec/mobile-purchases.md §2.6) against the OIDC issuer emulator, in-process
through ``AsgiTransport``: what it accepts, the outcome and reason of everything it refuses, and
how it keeps and refetches the issuer's keys.

Why: the user id is what the link endpoints write subscriptions against, so a token must prove
itself exactly as Okta's verifier made it (signature, issuer, audience, expiry, then scope,
then the user-id claim), the classic JWT attacks must fail, and a reason that is logged and
answered must never carry the token.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from types import SimpleNamespace
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from supporterflow.adapters import oidc as oidc_adapter
from supporterflow.adapters.oidc import OidcUserTokens
from supporterflow.adapters.outbound import AsgiTransport, Reply, Unreachable
from supporterflow.emulators.control import Fault
from supporterflow.emulators.oidc import (
    DEFAULT_AUDIENCE,
    DEFAULT_ISSUER,
    DEFAULT_SCOPE,
    DEFAULT_USER_ID,
    OidcIssuer,
    create_oidc_app,
)
from supporterflow.ports import Retry, TokenRejected

KEYS = "/v1/keys"
CLAIM = "legacy_identity_id"
NOT_GRANTED = f"access token: scope {DEFAULT_SCOPE} not granted"
MALFORMED = "access token: malformed (not a signed JWT)"
UNPUBLISHED = "access token: signed with a key the issuer does not publish"
NOT_ALLOWED = "access token: The specified alg value is not allowed"


@pytest.fixture(scope="module")
def rsa_keys() -> tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey]:
    """Two keys for the module: the issuer's, and another (2048-bit keys take a while)."""
    return OidcIssuer.generate().signing_key, OidcIssuer.generate().signing_key


@pytest.fixture
def issuer(rsa_keys: tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey]) -> OidcIssuer:
    return OidcIssuer([rsa_keys[0]])


@pytest.fixture
def other_key(rsa_keys: tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey]) -> rsa.RSAPrivateKey:
    return rsa_keys[1]


def verifier(
    app: Any, *, scope: str = DEFAULT_SCOPE, user_id_claim: str = CLAIM
) -> tuple[OidcUserTokens, AsgiTransport]:
    transport = AsgiTransport(app, "oidc")
    tokens = OidcUserTokens(
        transport,
        KEYS,
        issuer=DEFAULT_ISSUER,
        audience=DEFAULT_AUDIENCE,
        scope=scope,
        user_id_claim=user_id_claim,
    )
    return tokens, transport


@asynccontextmanager
async def tokens_of(app: Any, **options: str) -> AsyncIterator[OidcUserTokens]:
    tokens, transport = verifier(app, **options)
    try:
        yield tokens
    finally:
        await transport.aclose()


def key_fetches(app: Starlette) -> int:
    return sum(1 for request in app.state.control.requests if request["path"] == KEYS)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _segment(value: dict[str, Any]) -> str:
    return _b64(json.dumps(value, separators=(",", ":")).encode())


def unsigned(issuer: OidcIssuer) -> str:
    """``alg: none``, with the published ``kid`` and valid claims."""
    return f"{_segment({'alg': 'none', 'kid': issuer.key_id})}.{_segment(issuer.claims())}."


def hmac_with_public_key(issuer: OidcIssuer) -> str:
    """The algorithm-confusion attack: HS256, keyed with the issuer's public key (PEM), which a
    verifier that takes ``alg`` from the token would use as the HMAC secret."""
    public_pem = issuer.signing_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = f"{_segment({'alg': 'HS256', 'kid': issuer.key_id})}.{_segment(issuer.claims())}"
    signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def no_kid(issuer: OidcIssuer) -> str:
    """Signed by the right key, without saying which."""
    return jwt.encode(issuer.claims(), issuer.signing_key, algorithm="RS256")


def rs512(issuer: OidcIssuer) -> str:
    """Signed by the right key, with an algorithm the key is not published for."""
    return jwt.encode(issuer.claims(), issuer.signing_key, algorithm="RS512", headers={"kid": issuer.key_id})


async def rejected(tokens: OidcUserTokens, authorization: str | None) -> TokenRejected:
    with pytest.raises(TokenRejected) as caught:
        await tokens.user_id(authorization)
    return caught.value


def assert_no_token_in(error: TokenRejected, authorization: str | None) -> None:
    token = (authorization or "").removeprefix("Bearer ")
    parts = [part for part in (token, *token.split(".")) if len(part) >= 8]
    assert not any(part in str(error) for part in parts)


# --- what is accepted --------------------------------------------------------------------------


async def test_a_valid_token_gives_the_user_id(issuer: OidcIssuer) -> None:
    async with tokens_of(create_oidc_app(issuer)) as tokens:
        assert await tokens.user_id(f"Bearer {issuer.token(legacy_identity_id='123')}") == "123"
        assert await tokens.user_id(f"Bearer {issuer.token()}") == DEFAULT_USER_ID


async def test_a_numeric_user_id_claim_is_the_user_id_as_a_string(issuer: OidcIssuer) -> None:
    async with tokens_of(create_oidc_app(issuer)) as tokens:
        assert await tokens.user_id(f"Bearer {issuer.token(legacy_identity_id=123)}") == "123"


async def test_a_scope_given_as_a_space_separated_string_is_accepted(issuer: OidcIssuer) -> None:
    token = issuer.token(scp=f"openid {DEFAULT_SCOPE} profile")
    async with tokens_of(create_oidc_app(issuer)) as tokens:
        assert await tokens.user_id(f"Bearer {token}") == DEFAULT_USER_ID


async def test_clocks_may_differ_by_30_seconds(issuer: OidcIssuer) -> None:
    token = issuer.token(now_s=time.time() - 3600 - 20)  # expired 20 s ago
    async with tokens_of(create_oidc_app(issuer)) as tokens:
        assert await tokens.user_id(f"Bearer {token}") == DEFAULT_USER_ID


async def test_es256_keys_are_used_with_es256() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    jwk = {**ECAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": "ec-1", "use": "sig"}
    app = _jwks_app({"keys": [jwk]})
    claims = {"iss": DEFAULT_ISSUER, "aud": DEFAULT_AUDIENCE, "exp": int(time.time()) + 60}
    token = jwt.encode({**claims, "scp": [DEFAULT_SCOPE], CLAIM: "9"}, key, "ES256", headers={"kid": "ec-1"})
    async with tokens_of(app) as tokens:
        assert await tokens.user_id(f"Bearer {token}") == "9"


# --- incorrect-token (401) -----------------------------------------------------------------------

Header = Callable[[OidcIssuer, rsa.RSAPrivateKey], str | None]

INCORRECT: dict[str, tuple[Header, str]] = {
    "wrong issuer": (
        lambda i, _: f"Bearer {i.token(iss='https://other.example/oauth2/x')}",
        "access token: Invalid issuer",
    ),
    "wrong audience": (
        lambda i, _: f"Bearer {i.token(aud='someone-else')}",
        "access token: Audience doesn't match",
    ),
    "wrong key, same kid": (
        lambda i, other: f"Bearer {i.token(signing_key=other)}",
        "access token: Signature verification failed",
    ),
    "expired": (
        lambda i, _: f"Bearer {i.token(now_s=time.time() - 3600 - 31)}",
        "access token: Signature has expired",
    ),
    "issued in the future": (
        lambda i, _: f"Bearer {i.token(now_s=time.time() + 120)}",
        "access token: The token is not yet valid (iat)",
    ),
    "no exp": (lambda i, _: f"Bearer {i.token(exp=None)}", 'access token: Token is missing the "exp" claim'),
    "no iss": (lambda i, _: f"Bearer {i.token(iss=None)}", 'access token: Token is missing the "iss" claim'),
    "no aud": (lambda i, _: f"Bearer {i.token(aud=None)}", 'access token: Token is missing the "aud" claim'),
    "alg none": (lambda i, _: f"Bearer {unsigned(i)}", NOT_ALLOWED),
    "HS256 keyed with the public key": (lambda i, _: f"Bearer {hmac_with_public_key(i)}", NOT_ALLOWED),
    "RS512": (lambda i, _: f"Bearer {rs512(i)}", NOT_ALLOWED),
    "no kid": (
        lambda i, _: f"Bearer {no_kid(i)}",
        "access token: no key id (kid) in its header",
    ),
    "unknown kid": (lambda i, _: f"Bearer {i.token(headers={'kid': 'rotated-away'})}", UNPUBLISHED),
    "garbage": (lambda i, _: "Bearer not-a-jwt-at-all", MALFORMED),
    "three garbage segments": (lambda i, _: "Bearer aaaaaaaaaa.bbbbbbbbbb.cccccccccc", MALFORMED),
    "a header that is not JSON": (lambda i, _: f"Bearer {_b64(b'{not json')}.e30.c2ln", MALFORMED),
    "no header": (lambda i, _: None, "no Authorization header"),
    "empty header": (lambda i, _: "", "the Authorization header is not 'Bearer <token>'"),
    "no scheme": (lambda i, _: i.token(), "the Authorization header is not 'Bearer <token>'"),
    "lower-case scheme": (
        lambda i, _: f"bearer {i.token()}",
        "the Authorization header is not 'Bearer <token>'",
    ),
    "another scheme": (lambda i, _: f"Basic {i.token()}", "the Authorization header is not 'Bearer <token>'"),
    "Bearer without a token": (lambda i, _: "Bearer ", "the Authorization header has no token"),
    "two spaces": (lambda i, _: f"Bearer  {i.token()}", MALFORMED),
}


@pytest.mark.parametrize(("make", "reason"), INCORRECT.values(), ids=INCORRECT.keys())
async def test_a_token_that_does_not_verify_is_an_incorrect_token(
    issuer: OidcIssuer, other_key: rsa.RSAPrivateKey, make: Header, reason: str
) -> None:
    authorization = make(issuer, other_key)
    async with tokens_of(create_oidc_app(issuer)) as tokens:
        error = await rejected(tokens, authorization)
    assert (error.outcome, error.reason) == ("incorrect-token", reason)
    assert_no_token_in(error, authorization)


def test_a_reason_that_would_quote_the_token_is_replaced() -> None:
    """PyJWT's messages today are fixed texts; one that quoted the token (a later release) would
    not reach a log or an answer."""
    token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"
    assert (
        oidc_adapter._without_token("access token: Invalid issuer", token) == "access token: Invalid issuer"
    )
    assert oidc_adapter._without_token(f"access token: bad {token}", token) == MALFORMED
    assert oidc_adapter._without_token("access token: bad eyJzdWIiOiIxIn0 payload", token) == MALFORMED


async def test_a_key_type_we_do_not_verify_with_is_not_used(issuer: OidcIssuer) -> None:
    """An HMAC key published beside the RSA one (a misconfigured issuer) verifies nothing: a
    token signed with it names a key that, for us, is not published."""
    secret = b"0123456789abcdef0123456789abcdef"
    oct_key = {"kty": "oct", "kid": "hmac-1", "alg": "HS256", "k": _b64(secret)}
    app = _jwks_app({"keys": [oct_key, *issuer.jwks()["keys"]]})
    token = jwt.encode({**issuer.claims()}, secret, algorithm="HS256", headers={"kid": "hmac-1"})
    async with tokens_of(app) as tokens:
        error = await rejected(tokens, f"Bearer {token}")
        assert (error.outcome, error.reason) == ("incorrect-token", UNPUBLISHED)
        assert await tokens.user_id(f"Bearer {issuer.token()}") == DEFAULT_USER_ID


# --- incorrect-scope (403), missing-identity-id (400) --------------------------------------------

OTHER_OUTCOMES: dict[str, tuple[dict[str, Any], str, str]] = {
    "no scp": ({"scp": None}, "incorrect-scope", NOT_GRANTED),
    "empty scp": ({"scp": []}, "incorrect-scope", NOT_GRANTED),
    "another scope": ({"scp": ["openid", "profile"]}, "incorrect-scope", NOT_GRANTED),
    "a longer scope as a string": ({"scp": f"{DEFAULT_SCOPE}.more"}, "incorrect-scope", NOT_GRANTED),
    "scp not a list": ({"scp": {"scope": DEFAULT_SCOPE}}, "incorrect-scope", NOT_GRANTED),
    "no user id": ({CLAIM: None}, "missing-identity-id", f"access token: no {CLAIM} claim"),
    "empty user id": ({CLAIM: ""}, "missing-identity-id", f"access token: the {CLAIM} claim is empty"),
    "user id a list": (
        {CLAIM: ["1"]},
        "missing-identity-id",
        f"access token: the {CLAIM} claim is not a string",
    ),
    "scope checked before the user id": ({"scp": None, CLAIM: None}, "incorrect-scope", NOT_GRANTED),
}


@pytest.mark.parametrize(("claims", "outcome", "reason"), OTHER_OUTCOMES.values(), ids=OTHER_OUTCOMES.keys())
async def test_a_verified_token_without_the_scope_or_the_user_id_is_refused(
    issuer: OidcIssuer, claims: dict[str, Any], outcome: str, reason: str
) -> None:
    authorization = f"Bearer {issuer.token(**claims)}"
    async with tokens_of(create_oidc_app(issuer)) as tokens:
        error = await rejected(tokens, authorization)
    assert (error.outcome, error.reason) == (outcome, reason)
    assert_no_token_in(error, authorization)


async def test_the_scope_and_the_user_id_claim_are_configurable(issuer: OidcIssuer) -> None:
    app = create_oidc_app(issuer)
    async with tokens_of(app, scope="custom.scope", user_id_claim="identity_id") as tokens:
        assert await tokens.user_id(f"Bearer {issuer.token(scp=['custom.scope'], identity_id='77')}") == "77"
        error = await rejected(tokens, f"Bearer {issuer.token(scp=['custom.scope'])}")
        assert (error.outcome, error.reason) == ("missing-identity-id", "access token: no identity_id claim")
        error = await rejected(tokens, f"Bearer {issuer.token(identity_id='77')}")
        assert (error.outcome, error.reason) == (
            "incorrect-scope",
            "access token: scope custom.scope not granted",
        )


async def test_a_token_minted_through_the_control_api_is_accepted(issuer: OidcIssuer) -> None:
    tokens, transport = verifier(create_oidc_app(issuer))
    try:
        minted = await transport.request("POST", "/__emulator/tokens", json={CLAIM: "555"})
        assert await tokens.user_id(f"Bearer {minted.json()['access_token']}") == "555"
    finally:
        await transport.aclose()


# --- keys: caching, rotation, failures ----------------------------------------------------------


class Monotonic:
    """``time`` as the adapter sees it: a monotonic clock the test moves; wall time is real
    unless ``ahead_s`` moves it too."""

    def __init__(self) -> None:
        self.now = 10_000.0
        self.ahead_s = 0.0

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return time.time() + self.ahead_s


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Monotonic:
    fake = Monotonic()
    monkeypatch.setattr(oidc_adapter, "time", SimpleNamespace(monotonic=fake.monotonic, time=fake.time))
    return fake


async def test_concurrent_first_requests_fetch_the_keys_once(issuer: OidcIssuer, clock: Monotonic) -> None:
    app = create_oidc_app(issuer, latency_ms=5)  # the fetch waits: the other calls queue behind it
    async with tokens_of(app) as tokens:
        ids = await asyncio.gather(
            *(tokens.user_id(f"Bearer {issuer.token(legacy_identity_id=str(n))}") for n in range(5))
        )
        assert (ids, key_fetches(app)) == (["0", "1", "2", "3", "4"], 1)


async def test_a_key_rotated_in_after_the_first_fetch_is_found_by_fetching_again(
    issuer: OidcIssuer, clock: Monotonic
) -> None:
    """The issuer signs with a new key before our cached copy expires: a token naming an unknown
    ``kid`` makes the adapter fetch again, at most once a minute."""
    app = create_oidc_app(issuer)
    async with tokens_of(app) as tokens:
        old_token = issuer.token()
        assert await tokens.user_id(f"Bearer {old_token}") == DEFAULT_USER_ID
        issuer.rotate()
        new_token = issuer.token(legacy_identity_id="2")

        clock.now += 30  # the first fetch was 30 s ago: not again yet
        error = await rejected(tokens, f"Bearer {new_token}")
        assert (error.outcome, error.reason, key_fetches(app)) == ("incorrect-token", UNPUBLISHED, 1)

        clock.now += 30  # a minute after the fetch
        assert await tokens.user_id(f"Bearer {new_token}") == "2"
        assert key_fetches(app) == 2
        assert await tokens.user_id(f"Bearer {old_token}") == DEFAULT_USER_ID  # still published
        assert key_fetches(app) == 2


async def test_an_unknown_kid_fetches_once_a_minute_at_most(issuer: OidcIssuer, clock: Monotonic) -> None:
    """Tokens naming keys nobody published cannot make the adapter hammer the issuer."""
    app = create_oidc_app(issuer)
    unknown = f"Bearer {issuer.token(headers={'kid': 'nobody-published-this'})}"
    async with tokens_of(app) as tokens:
        await tokens.user_id(f"Bearer {issuer.token()}")
        for _ in range(5):
            clock.now += 10
            assert (await rejected(tokens, unknown)).reason == UNPUBLISHED
        assert key_fetches(app) == 1
        clock.now += 10  # 60 s after the fetch
        assert (await rejected(tokens, unknown)).reason == UNPUBLISHED
        assert key_fetches(app) == 2


async def test_keys_are_kept_as_long_as_cache_control_says_and_a_withdrawn_key_stops_working(
    issuer: OidcIssuer, clock: Monotonic
) -> None:
    app = create_oidc_app(issuer, jwks_max_age_s=120)
    async with tokens_of(app) as tokens:
        old_token = f"Bearer {issuer.token()}"
        await tokens.user_id(old_token)
        issuer.rotate(retire_previous=True)
        clock.now += 119
        assert await tokens.user_id(old_token) == DEFAULT_USER_ID  # the copy is still good
        assert key_fetches(app) == 1
        clock.now += 1
        # Fetched again: the old key is gone, and so is the memory of tokens it verified.
        error = await rejected(tokens, old_token)
        assert (error.reason, key_fetches(app)) == (UNPUBLISHED, 2)
        assert await tokens.user_id(f"Bearer {issuer.token(legacy_identity_id='3')}") == "3"
        assert key_fetches(app) == 2


async def test_a_zero_max_age_still_keeps_the_keys_a_minute(issuer: OidcIssuer, clock: Monotonic) -> None:
    app = create_oidc_app(issuer, jwks_max_age_s=0)
    async with tokens_of(app) as tokens:
        await tokens.user_id(f"Bearer {issuer.token()}")
        clock.now += 59
        await tokens.user_id(f"Bearer {issuer.token()}")
        assert key_fetches(app) == 1
        clock.now += 1
        await tokens.user_id(f"Bearer {issuer.token()}")
        assert key_fetches(app) == 2


async def test_without_cache_control_keys_are_kept_an_hour(issuer: OidcIssuer, clock: Monotonic) -> None:
    fetches: list[int] = []
    app = _jwks_app(issuer.jwks(), fetches)
    async with tokens_of(app) as tokens:
        await tokens.user_id(f"Bearer {issuer.token()}")
        clock.now += 3599
        await tokens.user_id(f"Bearer {issuer.token()}")
        assert len(fetches) == 1
        clock.now += 1
        await tokens.user_id(f"Bearer {issuer.token()}")
        assert len(fetches) == 2


async def test_a_token_that_passed_every_check_is_not_checked_again_until_it_expires(
    issuer: OidcIssuer, clock: Monotonic, monkeypatch: pytest.MonkeyPatch
) -> None:
    decodes: list[str] = []
    real_decode = jwt.decode

    def counting(token: str, *args: Any, **kwargs: Any) -> Any:
        decodes.append(token)
        return real_decode(token, *args, **kwargs)

    monkeypatch.setattr(jwt, "decode", counting)
    async with tokens_of(create_oidc_app(issuer)) as tokens:
        token = f"Bearer {issuer.token(lifetime_s=600)}"
        for _ in range(3):
            assert await tokens.user_id(token) == DEFAULT_USER_ID
        assert len(decodes) == 1
        clock.ahead_s = 601  # past its exp by our clock: checked again (PyJWT's clock is real)
        assert await tokens.user_id(token) == DEFAULT_USER_ID
        assert len(decodes) == 2


async def test_refused_tokens_are_not_remembered(issuer: OidcIssuer) -> None:
    async with tokens_of(create_oidc_app(issuer)) as tokens:
        no_scope = f"Bearer {issuer.token(scp=None)}"
        for _ in range(2):
            assert (await rejected(tokens, no_scope)).outcome == "incorrect-scope"


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ({"status": 503}, "oidc jwks: HTTP 503"),
        ({"status": 429, "retry_after_s": 7}, "oidc jwks: HTTP 429"),
        ({"status": 404}, "the OIDC issuer's keys: HTTP 404"),
    ],
)
async def test_keys_that_cannot_be_fetched_are_a_retry(
    issuer: OidcIssuer, fault: dict[str, Any], message: str
) -> None:
    app = create_oidc_app(issuer)
    app.state.control.faults.append(_fault(fault))
    async with tokens_of(app) as tokens:
        with pytest.raises(Retry, match=f"^{message}$"):
            await tokens.user_id(f"Bearer {issuer.token()}")
        assert await tokens.user_id(f"Bearer {issuer.token()}") == DEFAULT_USER_ID  # the fault is spent


async def test_an_unreachable_issuer_is_a_retry(issuer: OidcIssuer) -> None:
    class Down:
        async def request(self, method: str, path: str, **_: Any) -> Reply:
            raise Unreachable("unreachable (ConnectError)")

        async def aclose(self) -> None:
            pass

    tokens = OidcUserTokens(
        Down(),
        KEYS,
        issuer=DEFAULT_ISSUER,
        audience=DEFAULT_AUDIENCE,
        scope=DEFAULT_SCOPE,
        user_id_claim=CLAIM,
    )
    with pytest.raises(Retry, match=r"^oidc jwks: unreachable \(ConnectError\)$"):
        await tokens.user_id(f"Bearer {issuer.token()}")


async def test_a_failed_refetch_for_an_unknown_kid_is_a_retry(issuer: OidcIssuer, clock: Monotonic) -> None:
    app = create_oidc_app(issuer)
    async with tokens_of(app) as tokens:
        await tokens.user_id(f"Bearer {issuer.token()}")
        issuer.rotate()
        app.state.control.faults.append(_fault({"status": 503}))
        clock.now += 60
        with pytest.raises(Retry, match=r"^oidc jwks: HTTP 503$"):
            await tokens.user_id(f"Bearer {issuer.token()}")


@pytest.mark.parametrize(
    ("jwks", "message"),
    [
        ({"keys": []}, "the OIDC issuer's keys: The JWK Set did not contain any keys"),
        ([1], "the OIDC issuer's keys are not a JWK Set"),
        (
            {"keys": [{"kty": "oct", "kid": "h", "k": "c2VjcmV0"}]},
            "the OIDC issuer publishes no RS256 or ES256 signing key with a kid",
        ),
    ],
)
async def test_a_jwks_without_usable_keys_is_a_retry(jwks: Any, message: str) -> None:
    async with tokens_of(_jwks_app(jwks)) as tokens:
        with pytest.raises(Retry, match=f"^{message}$"):
            await tokens.user_id("Bearer x.y.z")


# --- helpers ------------------------------------------------------------------------------------


def _jwks_app(jwks: Any, fetches: list[int] | None = None) -> Starlette:
    """``jwks`` served as it is, without ``Cache-Control``; each fetch appends to ``fetches``."""

    async def keys(request: Request) -> Response:
        if fetches is not None:
            fetches.append(1)
        return JSONResponse(jwks)

    return Starlette(routes=[Route(KEYS, keys)])


def _fault(body: dict[str, Any]) -> Fault:
    return Fault.parse({**body, "path_prefix": KEYS})
