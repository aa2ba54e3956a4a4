"""Pub/Sub push: OIDC tokens Google's library verifies against the served certificates, the bad
tokens it (or a service's claim checks) must refuse, and the envelope the sender POSTs."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import google.auth.transport.requests
import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from google.oauth2 import id_token
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from supporterflow.emulators.google.app import create_play_app
from supporterflow.emulators.google.oauth import ServiceAccount
from supporterflow.emulators.google.push import DEFAULT_PUSH_EMAIL, PushSigner, push_body
from supporterflow.emulators.google.sender import USER_AGENT, send_notification, with_secret
from supporterflow.emulators.google.store import GooglePlayState
from supporterflow.emulators.serving import RunningEmulator, start_in_thread
from tests.integration.emulators.google.conftest import FEAST, FEAST_PRODUCT, NOW_MS, google_decode

AUDIENCE = "https://supporterflow.test/google/pubsub"
GOOGLE_ISSUERS = ("https://accounts.google.com", "accounts.google.com")


@pytest.fixture
def served(
    state: GooglePlayState, service_account: ServiceAccount, push_signer: PushSigner
) -> Iterator[RunningEmulator]:
    with start_in_thread(
        create_play_app(state, service_account=service_account, push_signer=push_signer)
    ) as running:
        yield running


@pytest.fixture
def received() -> list[tuple[dict[str, str], str, dict[str, Any]]]:
    return []


@pytest.fixture
def receiver(received: list[tuple[dict[str, str], str, dict[str, Any]]]) -> Iterator[RunningEmulator]:
    """A stand-in for the service: records headers, query and JSON body of each POST."""

    async def pubsub(request: Request) -> Response:
        received.append((dict(request.headers), request.url.query, await request.json()))
        return Response(status_code=200)

    with start_in_thread(Starlette(routes=[Route("/google/pubsub", pubsub, methods=["POST"])])) as running:
        yield running


def verify_push(token: str, certs: Mapping[str, str], audience: str = AUDIENCE) -> Mapping[str, Any]:
    """What a service checks: the library's signature, time and audience checks, then the claims
    the library leaves to the caller (issuer, push account, verified email)."""
    claims: Mapping[str, Any] = google_decode(token, certs=certs, audience=audience)
    if claims["iss"] not in GOOGLE_ISSUERS:
        raise ValueError(f"wrong issuer {claims['iss']}")
    if claims["email"] != DEFAULT_PUSH_EMAIL or claims["email_verified"] is not True:
        raise ValueError(f"not the push account: {claims['email']}")
    return claims


def test_verify_token_accepts_a_push_token_from_the_served_certs(
    served: RunningEmulator, push_signer: PushSigner
) -> None:
    token = push_signer.token(AUDIENCE)
    request = google.auth.transport.requests.Request()
    for certs_path in ("/oauth2/v1/certs", "/oauth2/v3/certs"):
        claims = id_token.verify_token(token, request, audience=AUDIENCE, certs_url=served.url + certs_path)
        assert (claims["iss"], claims["aud"], claims["email"], claims["email_verified"]) == (
            "https://accounts.google.com",
            AUDIENCE,
            DEFAULT_PUSH_EMAIL,
            True,
        )
        assert claims["exp"] - claims["iat"] == 3600
        assert claims["sub"] == claims["azp"]
        assert (len(claims["sub"]), claims["sub"].isdigit()) == (21, True)


def test_the_certs_are_googles_format(served: RunningEmulator, push_signer: PushSigner) -> None:
    certs = httpx.get(served.url + "/oauth2/v1/certs").json()
    assert certs == push_signer.certs()
    [(kid, pem)] = certs.items()
    assert (len(kid), kid == push_signer.key_id) == (40, True)
    certificate = x509.load_pem_x509_certificate(pem.encode())
    assert certificate.public_key() == push_signer.key.public_key()
    [jwk] = httpx.get(served.url + "/oauth2/v3/certs").json()["keys"]
    assert {k: jwk[k] for k in ("kty", "alg", "use", "kid", "e")} == {
        "kty": "RSA",
        "alg": "RS256",
        "use": "sig",
        "kid": kid,
        "e": "AQAB",
    }
    header = json.loads(base64.urlsafe_b64decode(push_signer.token(AUDIENCE).split(".")[0] + "=="))
    assert header == {"alg": "RS256", "kid": kid, "typ": "JWT"}


def test_jwt_decode_accepts_a_push_token_with_the_certs(push_signer: PushSigner) -> None:
    claims = verify_push(push_signer.token(AUDIENCE), push_signer.certs())
    assert claims["aud"] == AUDIENCE


@pytest.mark.parametrize(
    ("variant", "refusal"),
    [
        ("other audience", "Token has wrong audience"),
        ("expired", "Token expired"),
        ("other key", "Could not verify token signature"),
        ("unknown kid", "Certificate for key id"),
        ("other issuer", "wrong issuer https://evil.example.com"),
        ("other email", "not the push account: someone@else.iam.gserviceaccount.com"),
        ("unverified email", "not the push account"),
    ],
)
def test_bad_push_tokens_are_refused(
    push_signer: PushSigner, other_key: rsa.RSAPrivateKey, variant: str, refusal: str
) -> None:
    tokens: dict[str, Callable[[], str]] = {
        "other audience": lambda: push_signer.token("https://elsewhere.test/pubsub"),
        "expired": lambda: push_signer.token(AUDIENCE, now_s=time.time() - 7200),
        "other key": lambda: push_signer.token(AUDIENCE, signing_key=other_key),
        "unknown kid": lambda: PushSigner(other_key, push_signer.certificate_pem).token(AUDIENCE),
        "other issuer": lambda: push_signer.token(AUDIENCE, issuer="https://evil.example.com"),
        "other email": lambda: push_signer.token(AUDIENCE, email="someone@else.iam.gserviceaccount.com"),
        "unverified email": lambda: push_signer.token(AUDIENCE, email_verified=False),
    }
    with pytest.raises(ValueError, match=refusal):
        verify_push(tokens[variant](), push_signer.certs())


def test_the_library_checks_audience_time_and_key_but_not_issuer_or_email(push_signer: PushSigner) -> None:
    """Why :func:`verify_push` checks the claims itself: Google's decode accepts these."""
    for token in (
        push_signer.token(AUDIENCE, issuer="https://evil.example.com"),
        push_signer.token(AUDIENCE, email="someone@else.iam.gserviceaccount.com"),
    ):
        assert google_decode(token, certs=push_signer.certs(), audience=AUDIENCE)["aud"] == AUDIENCE


def test_the_envelope_carries_the_developer_notification() -> None:
    notification = {"version": "1.0", "packageName": FEAST, "eventTimeMillis": "1"}
    body = push_body(notification, "42", "2025-06-01T12:00:00.000Z", "projects/p/subscriptions/s", {"k": "v"})
    assert json.loads(base64.b64decode(body["message"].pop("data"))) == notification
    assert body == {
        "message": {
            "messageId": "42",
            "message_id": "42",
            "publishTime": "2025-06-01T12:00:00.000Z",
            "publish_time": "2025-06-01T12:00:00.000Z",
            "attributes": {"k": "v"},
        },
        "subscription": "projects/p/subscriptions/s",
    }
    assert "attributes" not in push_body(notification, "1", "t")["message"]


def test_send_notification_posts_a_signed_push(
    state: GooglePlayState,
    push_signer: PushSigner,
    receiver: RunningEmulator,
    received: list[tuple[dict[str, str], str, dict[str, Any]]],
) -> None:
    step = state.purchase(FEAST, FEAST_PRODUCT)
    url = f"{receiver.url}/google/pubsub"
    assert send_notification(url, step, state, push_signer, audience=AUDIENCE).status_code == 200
    assert send_notification(
        url, state.renew(step.purchase_token or ""), state, push_signer, secret="s3"
    ).is_success
    [(headers, query, body), (headers2, query2, body2)] = received
    assert headers["user-agent"] == USER_AGENT
    assert (
        verify_push(headers["authorization"].removeprefix("Bearer "), push_signer.certs())["aud"] == AUDIENCE
    )
    assert (query, query2) == ("", "secret=s3")
    # Pub/Sub's default audience is the push endpoint as configured, query included.
    claims = verify_push(
        headers2["authorization"].removeprefix("Bearer "), push_signer.certs(), f"{url}?secret=s3"
    )
    assert claims["email"] == DEFAULT_PUSH_EMAIL
    message = body["message"]
    assert json.loads(base64.b64decode(message["data"])) == {
        "version": "1.0",
        "packageName": FEAST,
        "eventTimeMillis": str(NOW_MS),
        "subscriptionNotification": {
            "version": "1.0",
            "notificationType": 4,
            "purchaseToken": step.purchase_token,
            "subscriptionId": FEAST_PRODUCT,
        },
    }
    assert (message["messageId"], message["publishTime"], body["subscription"]) == (
        "10000000000000000",
        "2025-06-01T12:00:00.000Z",
        "projects/sf-emulator/subscriptions/play-rtdn-push",
    )
    assert (
        body2["message"]["message_id"],
        json.loads(base64.b64decode(body2["message"]["data"]))["subscriptionNotification"][
            "notificationType"
        ],
    ) == ("10000000000000001", 2)


def test_an_unauthenticated_push_has_no_token(
    state: GooglePlayState,
    receiver: RunningEmulator,
    received: list[tuple[dict[str, str], str, dict[str, Any]]],
) -> None:
    send_notification(f"{receiver.url}/google/pubsub", state.test_notification(FEAST), state, None)
    [(headers, _, body)] = received
    assert "authorization" not in headers
    assert json.loads(base64.b64decode(body["message"]["data"]))["testNotification"] == {"version": "1.0"}


def test_with_secret_replaces_an_existing_secret() -> None:
    assert with_secret("http://h/p?a=1&secret=old", "new") == "http://h/p?a=1&secret=new"
    assert with_secret("http://h/p", None) == "http://h/p"
