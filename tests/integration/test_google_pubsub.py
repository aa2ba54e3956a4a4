"""``POST /google/pubsub`` and ``POST /feast/google/pubsub`` through the ASGI app (spec §4.1,
§4.2, §5.2, §5.4, §12.1 cases 1-3, §12.11; docs/compatibility.md, Google Play).

Why: Pub/Sub redelivers a push until it gets a 2xx, so a 200 must mean "the event row and its
fetch reference are committed", a redelivery must not store or queue twice, and any other
answer must leave nothing behind. Each test therefore reads the table and both fetch queues, not
only the status code. Push tokens are signed by the in-process Play emulator's push key, the key
whose certificate the service fetches (as ``google send-notification`` signs them).

The tests of the endpoints run on both profiles (``[local]``, ``[aws]``): the local one on SQLite
with the app in process, the aws one on a moto server provisioned from the CloudFormation template
through the Lambda ``http`` handler (Mangum), where a fetch reference is written with its event row
to the transactional outbox (no relay runs here, so it stays there). Both mount the same Play
emulator (on aws beside the unused database path of ``aws_settings``). The tests of the verifier
on its own (certificate caching and rotation, the trusted-token cache) involve no store and run once.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import shutil
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3  # type: ignore[import-untyped]
import google.auth.jwt
import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from structlog.testing import capture_logs

from supporterflow.adapters import google as google_adapter
from supporterflow.adapters.google import PushTokenVerifier
from supporterflow.adapters.outbound import AsgiTransport
from supporterflow.bootstrap import (
    EMULATED_TOKEN_URI,
    LOCAL_PUSH_AUDIENCE,
    Container,
    bootstrap,
    google_emulator_directory,
)
from supporterflow.bootstrap.aws import queue_urls
from supporterflow.config import Settings
from supporterflow.emulators.google.oauth import ServiceAccount
from supporterflow.emulators.google.push import DEFAULT_PUSH_EMAIL, PushSigner, push_body
from supporterflow.ports import PushRejected
from supporterflow.topology import TOPOLOGY
from tests.aws.conftest import REGION
from tests.aws.test_aws_runtime import (  # noqa: F401 (endpoint, moto_endpoint: fixtures of the aws profile)
    aws_settings,
    endpoint,
    moto_endpoint,
    provisioned,
)
from tests.support import runtime_for, settings_for

LIVE_PATH, FEAST_PATH = "/google/pubsub", "/feast/google/pubsub"
LIVE_QUEUE, FEAST_QUEUE = "google-subscriptions-to-fetch", "feast-google-subscriptions-to-fetch"
OK = {"status": 200, "message": "OK"}
SPEC_SECRET = "MYSECRET"  # §12.1: env Secret=MYSECRET
FEAST_SECRET = "test_secret"
MESSAGE_ID = "2070443601311540"
PUBLISH_TIME = "2017-08-21T21:06:07.123Z"
SPEC_KEY = "2017-08-21T21:06:06.168Z|SUBSCRIPTION_PURCHASED"


def spec_notification(
    package_name: str = "com.guardian.debug", sku: str = "my.sku", notification_type: int = 4
) -> dict[str, Any]:
    """§12.1 case 1's decoded notification (§12.11's with the Feast package and SKU)."""
    return {
        "version": "1.0",
        "packageName": package_name,
        "eventTimeMillis": "1503349566168",
        "subscriptionNotification": {
            "version": "1.0",
            "notificationType": notification_type,
            "purchaseToken": "PURCHASE_TOKEN",
            "subscriptionId": sku,
        },
    }


def other_notification(kind: str, inner: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": "1.0",
        "packageName": "com.guardian.debug",
        "eventTimeMillis": "1503349566168",
        kind: inner,
    }


def envelope(notification: Mapping[str, Any], message_id: str = MESSAGE_ID) -> dict[str, Any]:
    return push_body(dict(notification), message_id, PUBLISH_TIME)


def compact(value: Mapping[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


OutboxRows = Callable[[str], list[dict[str, Any]]]


def profile_settings(
    profile: str, tmp_path: Path, request: pytest.FixtureRequest, **overrides: Any
) -> tuple[Settings, OutboxRows | None]:
    """The profile's settings with ``overrides`` (validated, and counted as set explicitly, as
    the bootstrap distinguishes); on aws, on the template's resources (stage CODE) in moto, with a
    reader of its outbox table (the rows of the messages sent to a queue, by the queue's URL)."""
    if profile == "local":
        return settings_for(tmp_path, **overrides), None
    # The moto server starts with the module's first aws test; ``endpoint`` resets it after each.
    moto_url: str = request.getfixturevalue("endpoint")
    base = aws_settings(tmp_path, moto_url, "CODE", provisioned(moto_url, "CODE"))
    settings = Settings(**{name: getattr(base, name) for name in base.model_fields_set}, **overrides)
    dynamodb = boto3.client("dynamodb", region_name=REGION, endpoint_url=moto_url)
    urls = queue_urls(settings, TOPOLOGY.queues)

    def outbox_rows(queue: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = dynamodb.scan(TableName="mobile-purchases-CODE-outbox")["Items"]
        return [item for item in items if item["queueUrl"]["S"] == urls[queue]]

    return settings, outbox_rows


@dataclass
class Service:
    """The app on fresh stores and the push key of the emulator the service mounts."""

    container: Container
    api: httpx.AsyncClient
    signer: PushSigner
    outbox_rows: OutboxRows | None = None  # aws

    def token(self, audience: str = LOCAL_PUSH_AUDIENCE, **claims: Any) -> str:
        return self.signer.token(audience, **claims)

    def bearer(self, audience: str = LOCAL_PUSH_AUDIENCE, **claims: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(audience, **claims)}"}

    async def post(
        self,
        body: object,
        path: str = LIVE_PATH,
        *,
        headers: Mapping[str, str] | None = None,
        secret: str | None = None,
    ) -> httpx.Response:
        """POST ``body``; ``headers`` None sends a valid push token, ``{}`` no token at all."""
        return await self.api.post(
            path,
            json=body,
            headers=self.bearer() if headers is None else dict(headers),
            params={"secret": secret} if secret is not None else None,
        )

    async def events(self) -> list[dict[str, Any]]:
        items = (await self.container.tables["subscription-events"].scan()).items
        return sorted(items, key=lambda e: (e["subscriptionId"], e["timestampAndType"]))

    async def bodies(self, queue: str) -> list[bytes]:
        """The bodies of the fetch references sent towards ``queue``, sorted: in the queue
        (local), or in the transactional outbox, which only a runtime's relay moves to SQS (aws;
        SQS cannot list messages without receiving them, and the outbox keeps no order)."""
        if self.outbox_rows is None:
            return sorted(m.body for m in (await self.container.queues[queue].list()).messages)
        assert (await self.container.queues[queue].depth()).total == 0  # nothing relayed
        return sorted(row["body"]["S"].encode() for row in self.outbox_rows(queue))

    async def assert_nothing_stored(self) -> None:
        """The answer was not 200: no event row, no fetch reference for either queue."""
        assert await self.events() == []
        for queue in (LIVE_QUEUE, FEAST_QUEUE):
            assert await self.bodies(queue) == [], queue


OpenService = Callable[..., Awaitable[Service]]


@pytest.fixture(scope="module")
def emulator_keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Play emulator's service account and push key, made once: each test's local profile
    starts from a copy instead of generating two RSA keys."""
    directory = tmp_path_factory.mktemp("google-emulator")
    ServiceAccount.load_or_create(directory, EMULATED_TOKEN_URI)
    PushSigner.load_or_create(directory)
    return directory


@pytest.fixture(scope="module")
def push_signer(emulator_keys: Path) -> PushSigner:
    """The key the local profile's certificates publish (the copy's, which is the same)."""
    return PushSigner.load_or_create(emulator_keys)


@pytest.fixture(params=["local", "aws"])
def profile(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
async def open_service(
    profile: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    emulator_keys: Path,
    push_signer: PushSigner,
) -> AsyncIterator[OpenService]:
    """``await open_service(google_pubsub_secret=..., ...)``: settings overrides as
    ``settings_for`` takes them; ``prepare`` changes the container before the app is built
    (the routes bind their collaborators then)."""
    async with AsyncExitStack() as stack:

        async def build(prepare: Callable[[Container], None] | None = None, **overrides: Any) -> Service:
            settings, outbox_rows = profile_settings(profile, tmp_path, request, **overrides)
            shutil.copytree(emulator_keys, google_emulator_directory(settings), dirs_exist_ok=True)
            container = bootstrap(settings, topology=TOPOLOGY).open()
            stack.push_async_callback(container.aclose)
            if prepare is not None:
                prepare(container)
            runtime = runtime_for(container)
            stack.push_async_callback(runtime.aclose)
            api = await stack.enter_async_context(
                httpx.AsyncClient(transport=runtime.transport(), base_url="http://sf")
            )
            return Service(container, api, push_signer, outbox_rows)

        yield build


@pytest.fixture(scope="module")
def forger_key() -> rsa.RSAPrivateKey:
    """A key nobody published."""
    return rsa.generate_private_key(65537, 2048)


# --- push authentication ---------------------------------------------------------------------


BAD_TOKENS: dict[str, tuple[Callable[[Service, rsa.RSAPrivateKey], dict[str, str]], str]] = {
    "wrong-audience": (
        lambda s, _: s.bearer("https://elsewhere.example/google/pubsub"),
        "push token: Token has wrong audience https://elsewhere.example/google/pubsub",
    ),
    "wrong-issuer": (
        lambda s, _: s.bearer(issuer="https://issuer.example"),
        "push token: not issued by Google",
    ),
    "forged-same-kid": (
        lambda s, key: s.bearer(signing_key=key),
        "push token: Could not verify token signature.",
    ),
    "expired": (lambda s, _: s.bearer(now_s=time.time() - 7200), "push token: Token expired"),
    "wrong-account": (
        lambda s, _: s.bearer(email="someone@attacker.iam.gserviceaccount.com"),
        "push token: not the configured push service account",
    ),
    "email-not-verified": (
        lambda s, _: s.bearer(email_verified=False),
        "push token: not the configured push service account",
    ),
    "missing-header": (lambda s, _: {}, "no Authorization: Bearer token"),
    "basic-scheme": (
        lambda s, _: {"Authorization": "Basic " + base64.b64encode(b"pubsub:MYSECRET").decode()},
        "no Authorization: Bearer token",
    ),
    "token-without-scheme": (lambda s, _: {"Authorization": s.token()}, "no Authorization: Bearer token"),
    "not-a-jwt": (lambda s, _: {"Authorization": "Bearer ya29.opaque-access-token"}, "push token: malformed"),
}


async def test_a_push_without_a_valid_token_is_a_401_and_nothing_is_stored(
    open_service: OpenService, forger_key: rsa.RSAPrivateKey
) -> None:
    service = await open_service()
    for case, (make_headers, reason) in BAD_TOKENS.items():
        for path in (LIVE_PATH, FEAST_PATH):
            response = await service.post(
                envelope(spec_notification()), path, headers=make_headers(service, forger_key)
            )
            assert (response.status_code, response.json()["message"]) == (401, "UNAUTHORISED"), case
            assert response.json()["detail"].startswith(reason), (case, response.json())
    await service.assert_nothing_stored()


async def test_a_rejected_token_is_not_logged(open_service: OpenService) -> None:
    """The reason of a refusal is logged: it names what is wrong, never the header's content."""
    service = await open_service()
    for value in ("Bearer ya29.a0AfH6SMB-secret-access-token", "Bearer a.b", "Bearer x.e30.sig"):
        with capture_logs() as logs:
            response = await service.post(envelope(spec_notification()), headers={"Authorization": value})
        assert response.status_code == 401
        assert logs, "the refusal is logged"
        assert value.removeprefix("Bearer ") not in json.dumps(logs, default=str)
        assert value.removeprefix("Bearer ") not in response.text


async def test_a_valid_push_token_is_accepted_on_both_routes(open_service: OpenService) -> None:
    """Google's two issuer spellings are both accepted."""
    service = await open_service()
    live = await service.post(envelope(spec_notification()))
    feast = await service.post(
        envelope(spec_notification("uk.co.guardian.feast", "uk.co.guardian.feast.access.test"), "2"),
        FEAST_PATH,
        headers=service.bearer(issuer="accounts.google.com"),
    )
    assert [(r.status_code, r.json()) for r in (live, feast)] == [(200, OK)] * 2
    assert len(await service.bodies(LIVE_QUEUE)) == len(await service.bodies(FEAST_QUEUE)) == 1


async def test_the_configured_audience_replaces_the_local_one(open_service: OpenService) -> None:
    audience = "https://sf.example/google/pubsub"
    service = await open_service(google_push_audience=audience)
    refused = await service.post(envelope(spec_notification()))  # LOCAL_PUSH_AUDIENCE
    assert refused.status_code == 401
    await service.assert_nothing_stored()
    accepted = await service.post(envelope(spec_notification()), headers=service.bearer(audience))
    assert (accepted.status_code, accepted.json()) == (200, OK)


async def test_without_push_tokens_the_secret_authenticates(open_service: OpenService) -> None:
    """No push audience (emulators off): only the legacy ``?secret=`` is checked, and a push
    token, however valid, does not replace it. Each route has its own secret (§12.11 cases 2-3)."""
    service = await open_service(
        emulators="off", google_pubsub_secret=SPEC_SECRET, feast_google_pubsub_secret=FEAST_SECRET
    )
    assert service.container.collaborators["push_authenticator"] is None
    feast = envelope(spec_notification("uk.co.guardian.feast", "uk.co.guardian.feast.access.test"), "2")
    refusals = [(LIVE_PATH, secret) for secret in ("wrong", "", "mysecret", FEAST_SECRET, None)]
    refusals += [(FEAST_PATH, secret) for secret in ("wrong", "", SPEC_SECRET, None)]
    for path, secret in refusals:
        response = await service.post(
            feast if path == FEAST_PATH else envelope(spec_notification()), path, secret=secret
        )
        assert response.status_code == 401, (path, secret)
        assert response.json() == {
            "status": 401,
            "message": "UNAUTHORISED",
            "detail": "the secret query parameter is missing or wrong",
        }
    await service.assert_nothing_stored()
    response = await service.post(envelope(spec_notification()), headers={}, secret=SPEC_SECRET)
    assert (response.status_code, response.json()) == (200, OK)
    response = await service.post(feast, FEAST_PATH, headers={}, secret=FEAST_SECRET)
    assert (response.status_code, response.json()) == (200, OK)
    assert len(await service.bodies(LIVE_QUEUE)) == len(await service.bodies(FEAST_QUEUE)) == 1


async def test_with_both_configured_either_one_suffices(
    open_service: OpenService, forger_key: rsa.RSAPrivateKey
) -> None:
    service = await open_service(google_pubsub_secret=SPEC_SECRET)
    forged = service.bearer(signing_key=forger_key)
    refused = await service.post(envelope(spec_notification()), headers=forged, secret="wrong")
    assert refused.status_code == 401
    assert refused.json()["detail"] == (
        "push token: Could not verify token signature.; the secret query parameter is missing or wrong"
    )
    await service.assert_nothing_stored()
    accepted = [
        await service.post(envelope(spec_notification(), "1")),  # token, no secret
        await service.post(envelope(spec_notification(), "2"), headers={}, secret=SPEC_SECRET),
        await service.post(envelope(spec_notification(), "3"), headers=forged, secret=SPEC_SECRET),
        await service.post(envelope(spec_notification(), "4"), secret="wrong"),  # valid token
    ]
    assert [(r.status_code, r.json()) for r in accepted] == [(200, OK)] * 4
    assert [e["messageId"] for e in await service.events()] == ["1", "2", "3", "4"]
    assert len(await service.bodies(LIVE_QUEUE)) == 4


def _unreachable_certs(container: Container) -> None:
    async def certs(request: Request) -> Response:
        return JSONResponse({"error": "backend"}, status_code=503)

    app = Starlette(routes=[Route("/oauth2/v1/certs", certs)])
    transport = AsgiTransport(app, "google-certs")
    container.transports.append(transport)
    container.collaborators["push_authenticator"] = PushTokenVerifier(
        transport, "/oauth2/v1/certs", audience=LOCAL_PUSH_AUDIENCE, service_account=DEFAULT_PUSH_EMAIL
    )


async def test_unreachable_certificates_are_a_503_and_nothing_is_stored(open_service: OpenService) -> None:
    """Pub/Sub retries a 503: the push is neither refused for good nor accepted unchecked."""
    service = await open_service(_unreachable_certs)
    response = await service.post(envelope(spec_notification()))
    assert response.status_code == 503
    assert response.json()["detail"].startswith("cannot check the push token now:")
    await service.assert_nothing_stored()


async def test_the_right_secret_is_enough_while_the_certificates_are_unreachable(
    open_service: OpenService,
) -> None:
    service = await open_service(_unreachable_certs, google_pubsub_secret=SPEC_SECRET)
    assert (await service.post(envelope(spec_notification()), secret="wrong")).status_code == 503
    await service.assert_nothing_stored()
    response = await service.post(envelope(spec_notification()), secret=SPEC_SECRET)
    assert (response.status_code, response.json()) == (200, OK)
    assert len(await service.events()) == 1


# --- certificates: caching and rotation (the verifier on its own) ------------------------------


class Certificates:
    """Google's certificate endpoint: the keys published now, and how often they were fetched."""

    def __init__(self, *signers: PushSigner, max_age_s: int = 3600) -> None:
        self.published: dict[str, str] = {}
        self.max_age_s = max_age_s
        self.fetches = 0
        for signer in signers:
            self.publish(signer)

    def publish(self, signer: PushSigner) -> None:
        self.published.update(signer.certs())

    def app(self) -> Starlette:
        async def certs(request: Request) -> Response:
            self.fetches += 1
            return JSONResponse(
                self.published, headers={"Cache-Control": f"public, max-age={self.max_age_s}"}
            )

        return Starlette(routes=[Route("/certs", certs)])


class Monotonic:
    """``time`` as the verifier sees it: a monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 10_000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def monotonic(monkeypatch: pytest.MonkeyPatch) -> Monotonic:
    clock = Monotonic()
    monkeypatch.setattr(google_adapter, "time", SimpleNamespace(monotonic=clock.monotonic, time=time.time))
    return clock


@pytest.fixture(scope="module")
def signers() -> tuple[PushSigner, PushSigner]:
    return PushSigner.generate(), PushSigner.generate()


@asynccontextmanager
async def verifier_of(certificates: Certificates) -> AsyncIterator[PushTokenVerifier]:
    transport = AsgiTransport(certificates.app(), "google-certs")
    try:
        yield PushTokenVerifier(transport, "/certs", audience="aud", service_account=DEFAULT_PUSH_EMAIL)
    finally:
        await transport.aclose()


async def test_a_key_published_after_the_first_fetch_is_found_by_fetching_again(
    monotonic: Monotonic, signers: tuple[PushSigner, PushSigner]
) -> None:
    """Google adds a key and signs with it before our cached copy expires: a token naming an
    unknown ``kid`` makes the verifier fetch again, at most once a minute."""
    old, new = signers
    certificates = Certificates(old)
    async with verifier_of(certificates) as verifier:
        claims = await verifier.verify(f"Bearer {old.token('aud')}")
        assert (claims["email"], certificates.fetches) == (DEFAULT_PUSH_EMAIL, 1)

        certificates.publish(new)
        monotonic.now += 30  # the first fetch was 30 s ago: not again yet
        with pytest.raises(PushRejected, match=f"Certificate for key id {new.key_id} not found"):
            await verifier.verify(f"Bearer {new.token('aud')}")
        assert certificates.fetches == 1

        monotonic.now += 31
        claims = await verifier.verify(f"Bearer {new.token('aud')}")
        assert (claims["aud"], certificates.fetches) == ("aud", 2)
        await verifier.verify(f"Bearer {old.token('aud')}")  # both keys are known now
        assert certificates.fetches == 2


async def test_an_unknown_kid_fetches_once_a_minute_at_most(
    monotonic: Monotonic, signers: tuple[PushSigner, PushSigner]
) -> None:
    """Tokens naming keys nobody published cannot make the verifier hammer Google."""
    published, unpublished = signers
    certificates = Certificates(published)
    async with verifier_of(certificates) as verifier:
        await verifier.verify(f"Bearer {published.token('aud')}")
        for _ in range(5):
            monotonic.now += 10
            with pytest.raises(PushRejected, match="not found"):
                await verifier.verify(f"Bearer {unpublished.token('aud')}")
        assert certificates.fetches == 1
        monotonic.now += 11  # 61 s after the fetch
        with pytest.raises(PushRejected, match="not found"):
            await verifier.verify(f"Bearer {unpublished.token('aud')}")
        assert certificates.fetches == 2


async def test_certificates_are_kept_as_long_as_cache_control_says(
    monotonic: Monotonic, signers: tuple[PushSigner, PushSigner]
) -> None:
    old, new = signers
    certificates = Certificates(old, max_age_s=120)
    async with verifier_of(certificates) as verifier:
        await verifier.verify(f"Bearer {old.token('aud')}")
        monotonic.now += 119
        await verifier.verify(f"Bearer {old.token('aud')}")
        assert certificates.fetches == 1
        # Google rotates: the old key is withdrawn. Once the copy expires, it is no longer trusted.
        certificates.published = new.certs()
        monotonic.now += 1
        with pytest.raises(PushRejected, match=f"Certificate for key id {old.key_id} not found"):
            await verifier.verify(f"Bearer {old.token('aud')}")
        assert certificates.fetches == 2
        await verifier.verify(f"Bearer {new.token('aud')}")
        assert certificates.fetches == 2


# --- what is stored and queued ---------------------------------------------------------------


def spec_event(notification: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """§12.1 case 1's event row as stored at ingest: ``freeTrial`` is absent until the fetch
    completes the event (docs/compatibility.md), and the Pub/Sub ``messageId`` is added."""
    return {
        "subscriptionId": "PURCHASE_TOKEN",
        "timestampAndType": SPEC_KEY,
        "date": "2017-08-21",
        "timestamp": "2017-08-21T21:06:06.168Z",
        "eventType": "SUBSCRIPTION_PURCHASED",
        "platform": "android",
        "appId": "com.guardian.debug",
        "googlePayload": notification,
        "applePayload": None,
        "ttl": 1582319167,
        "promotional_offer_id": None,
        "promotional_offer_name": None,
        "product_id": "my.sku",
        "extra": "",
        "messageId": MESSAGE_ID,
        **changes,
    }


async def test_the_spec_notification_is_stored_and_queued_exactly(open_service: OpenService) -> None:
    """§12.1 case 1: 200, exactly the event row, exactly one reference naming the event."""
    service = await open_service(google_pubsub_secret=SPEC_SECRET)
    response = await service.post(envelope(spec_notification()), headers={}, secret=SPEC_SECRET)
    assert (response.status_code, response.json()) == (200, OK)
    assert await service.events() == [spec_event(spec_notification())]
    assert await service.bodies(LIVE_QUEUE) == [
        b'{"packageName":"com.guardian.debug","purchaseToken":"PURCHASE_TOKEN","subscriptionId":"my.sku",'
        b'"timestampAndType":"2017-08-21T21:06:06.168Z|SUBSCRIPTION_PURCHASED"}'
    ]
    assert await service.bodies(FEAST_QUEUE) == []


async def test_keys_outside_the_schema_are_not_stored(open_service: OpenService) -> None:
    """The stored ``googlePayload`` is the parsed notification: unknown keys are dropped (zod)."""
    service = await open_service()
    sent = spec_notification()
    sent["unexpected"] = "dropped"
    sent["subscriptionNotification"]["alsoUnexpected"] = {"nested": True}
    assert (await service.post(envelope(sent))).status_code == 200
    [event] = await service.events()
    assert event["googlePayload"] == spec_notification()


async def test_the_feast_notification_is_stored_and_queued_for_feast(open_service: OpenService) -> None:
    """§12.11 cases 1, 4 and 5."""
    service = await open_service(feast_google_pubsub_secret=FEAST_SECRET)
    notification = spec_notification("uk.co.guardian.feast", "uk.co.guardian.feast.access.test")
    response = await service.post(envelope(notification), FEAST_PATH, headers={}, secret=FEAST_SECRET)
    assert (response.status_code, response.json()) == (200, OK)
    assert await service.events() == [
        spec_event(
            notification,
            platform="android-feast",
            appId="uk.co.guardian.feast",
            product_id="uk.co.guardian.feast.access.test",
        )
    ]
    assert await service.bodies(FEAST_QUEUE) == [
        b'{"packageName":"uk.co.guardian.feast","purchaseToken":"PURCHASE_TOKEN",'
        b'"subscriptionId":"uk.co.guardian.feast.access.test",'
        b'"timestampAndType":"2017-08-21T21:06:06.168Z|SUBSCRIPTION_PURCHASED"}'
    ]
    assert await service.bodies(LIVE_QUEUE) == []


async def test_a_notification_that_is_none_of_the_kinds_is_a_400(open_service: OpenService) -> None:
    """§12.1 case 2: ``{"foo":"bar"}`` -> 400, nothing stored."""
    service = await open_service()
    response = await service.post(envelope({"foo": "bar"}))
    assert response.status_code == 400
    assert response.json() == {
        "status": 400,
        "message": "INVALID_REQUEST",
        "detail": "notification: missing field: version",
    }
    await service.assert_nothing_stored()


async def test_a_voided_subscription_purchase_is_recorded_and_fetched_again(
    open_service: OpenService,
) -> None:
    """§12.1 case 3: 200. The original stored nothing; here the refund is an event and the
    subscription is fetched again (productType 1) to be marked refunded."""
    service = await open_service()
    voided = {
        "purchaseToken": "PURCHASE_TOKEN",
        "orderId": "GS.0000-0000-0000",
        "productType": 1,
        "refundType": 1,
    }
    notification = other_notification("voidedPurchaseNotification", voided)
    response = await service.post(envelope(notification))
    assert (response.status_code, response.json()) == (200, OK)
    assert await service.events() == [
        spec_event(
            notification,
            timestampAndType="2017-08-21T21:06:06.168Z|VOIDED_PURCHASE",
            eventType="VOIDED_PURCHASE",
            product_id="",
        )
    ]
    assert await service.bodies(LIVE_QUEUE) == [
        b'{"packageName":"com.guardian.debug","purchaseToken":"PURCHASE_TOKEN","voided":true,'
        b'"timestampAndType":"2017-08-21T21:06:06.168Z|VOIDED_PURCHASE"}'
    ]


async def test_a_voided_one_time_purchase_is_recorded_and_not_fetched(open_service: OpenService) -> None:
    service = await open_service()
    voided = {
        "purchaseToken": "PURCHASE_TOKEN",
        "orderId": "GS.0000-0000-0001",
        "productType": 2,
        "refundType": 1,
    }
    assert (
        await service.post(envelope(other_notification("voidedPurchaseNotification", voided)))
    ).status_code == 200
    [event] = await service.events()
    assert (event["eventType"], event["subscriptionId"]) == ("VOIDED_PURCHASE", "PURCHASE_TOKEN")
    assert await service.bodies(LIVE_QUEUE) == []


OTHER_KINDS: list[tuple[str, dict[str, Any], str, str, str]] = [
    # kind, inner notification, the event's subscriptionId, eventType, product_id
    ("testNotification", {"version": "1.0"}, "9001", "TEST_NOTIFICATION", ""),
    (
        "oneTimeProductNotification",
        {"version": "1.0", "notificationType": 1, "purchaseToken": "OTP_TOKEN", "sku": "a.coffee"},
        "OTP_TOKEN",
        "ONE_TIME_PRODUCT_PURCHASED",
        "a.coffee",
    ),
    (
        "oneTimeProductNotification",
        {"version": "1.0", "notificationType": 2, "purchaseToken": "OTP_TOKEN", "sku": "a.coffee"},
        "OTP_TOKEN",
        "ONE_TIME_PRODUCT_CANCELED",
        "a.coffee",
    ),
    (
        "pendingRefundReviewNotification",
        {"version": "1.0", "pendingRefundToken": "REFUND_TOKEN", "orderId": "GPA.1", "refundReason": 1},
        "REFUND_TOKEN",
        "PENDING_REFUND_REVIEW",
        "",
    ),
]


async def test_notifications_naming_no_subscription_are_recorded_and_not_fetched(
    open_service: OpenService,
) -> None:
    """The original answered 400 (test, one-time: Pub/Sub retried them forever) or ignored
    them; they are events now, with nothing to fetch. A test notification names no purchase: its
    row is keyed by its message id."""
    service = await open_service()
    expected = []
    for number, (kind, inner, subscription_id, event_type, product_id) in enumerate(OTHER_KINDS, 9001):
        notification = other_notification(kind, inner)
        for _ in range(2):
            response = await service.post(envelope(notification, str(number)))
            assert (response.status_code, response.json()) == (200, OK), kind
        expected.append(
            spec_event(
                notification,
                subscriptionId=subscription_id,
                timestampAndType=f"2017-08-21T21:06:06.168Z|{event_type}",
                eventType=event_type,
                product_id=product_id,
                messageId=str(number),
            )
        )
    assert await service.events() == sorted(
        expected, key=lambda e: (e["subscriptionId"], e["timestampAndType"])
    )
    assert await service.bodies(LIVE_QUEUE) == []
    assert await service.bodies(FEAST_QUEUE) == []


async def test_notification_types_are_stored_by_name_or_number(open_service: OpenService) -> None:
    """Unassigned codes stay numbers (spec §4.1); 10 is stored by Google's name (compatibility.md)."""
    service = await open_service()
    cases = [
        (14, "14"),
        (10, "SUBSCRIPTION_PAUSED"),
        (13, "SUBSCRIPTION_EXPIRED"),
        (2, "SUBSCRIPTION_RENEWED"),
    ]
    for code, _ in cases:
        response = await service.post(envelope(spec_notification(notification_type=code), f"m{code}"))
        assert response.status_code == 200, code
    keys = [f"2017-08-21T21:06:06.168Z|{event_type}" for _, event_type in cases]
    events = {e["messageId"]: e for e in await service.events()}
    assert [
        (events[f"m{code}"]["eventType"], events[f"m{code}"]["timestampAndType"]) for code, _ in cases
    ] == [(event_type, key) for (_, event_type), key in zip(cases, keys, strict=True)]
    reference = {
        "packageName": "com.guardian.debug",
        "purchaseToken": "PURCHASE_TOKEN",
        "subscriptionId": "my.sku",
    }
    assert await service.bodies(LIVE_QUEUE) == sorted(
        compact({**reference, "timestampAndType": key}) for key in keys
    )


async def test_a_redelivered_push_is_stored_and_queued_once(open_service: OpenService) -> None:
    service = await open_service()
    body = envelope(spec_notification())
    for _ in range(2):
        response = await service.post(body)
        assert (response.status_code, response.json()) == (200, OK)
    assert await service.events() == [spec_event(spec_notification())]
    assert len(await service.bodies(LIVE_QUEUE)) == 1


async def test_concurrent_deliveries_of_one_push_store_it_once(open_service: OpenService) -> None:
    service = await open_service()
    body = envelope(spec_notification())
    responses = await asyncio.gather(*(service.post(copy.deepcopy(body)) for _ in range(5)))
    assert [(r.status_code, r.json()) for r in responses] == [(200, OK)] * 5
    assert await service.events() == [spec_event(spec_notification())]
    assert len(await service.bodies(LIVE_QUEUE)) == 1


async def test_two_messages_sharing_a_key_are_both_kept(open_service: OpenService) -> None:
    """Two Pub/Sub messages (two ids) for one purchase, type and millisecond: the second is kept
    under the key suffixed with its message id, its reference names that key, and the
    redeliveries of both are recognised."""
    service = await open_service()
    first, second = envelope(spec_notification(), "111"), envelope(spec_notification(), "222")
    for body in (first, second, second, first):
        response = await service.post(body)
        assert (response.status_code, response.json()) == (200, OK)
    assert await service.events() == [
        spec_event(spec_notification(), messageId="111"),
        spec_event(spec_notification(), messageId="222", timestampAndType=f"{SPEC_KEY}|222"),
    ]
    reference = {
        "packageName": "com.guardian.debug",
        "purchaseToken": "PURCHASE_TOKEN",
        "subscriptionId": "my.sku",
    }
    assert await service.bodies(LIVE_QUEUE) == sorted(
        [
            compact({**reference, "timestampAndType": SPEC_KEY}),
            compact({**reference, "timestampAndType": f"{SPEC_KEY}|222"}),
        ]
    )


def _with_data(data: object) -> dict[str, Any]:
    body = envelope(spec_notification())
    body["message"]["data"] = data
    return body


BAD_ENVELOPES: dict[str, tuple[object, str]] = {
    "bad-base64": (_with_data("not base64 at all!"), "message.data is not base64-encoded JSON"),
    "bad-json": (
        _with_data(base64.b64encode(b"{not json").decode()),
        "message.data is not base64-encoded JSON",
    ),
    "nan": (
        _with_data(base64.b64encode(b'{"version": NaN}').decode()),
        "message.data is not base64-encoded JSON",
    ),
    "no-data": (_with_data(None), "message.data is missing or not a string"),
    "no-message-id": (
        {"message": {"data": _with_data("")["message"]["data"]}},
        "message.messageId is missing",
    ),
    "no-message": ({"subscription": "projects/p/subscriptions/s"}, "message is missing or not an object"),
    "not-an-object": (["not", "an", "envelope"], "the body is not a Pub/Sub push envelope"),
    "bad-event-time": (
        envelope({**spec_notification(), "eventTimeMillis": "yesterday"}),
        "Unable to parse the eventTimeMillis field 'yesterday'",
    ),
    "no-sku": (
        envelope(
            {
                **spec_notification(),
                "subscriptionNotification": {"version": "1.0", "notificationType": 4, "purchaseToken": "T"},
            }
        ),
        "subscriptionNotification: missing field: subscriptionId",
    ),
    "string-type": (
        envelope(
            {
                **spec_notification(),
                "subscriptionNotification": {
                    **spec_notification()["subscriptionNotification"],
                    "notificationType": "4",
                },
            }
        ),
        "subscriptionNotification: invalid field: notificationType",
    ),
}


async def test_a_push_that_is_not_a_notification_is_a_400(open_service: OpenService) -> None:
    service = await open_service()
    for case, (body, detail) in BAD_ENVELOPES.items():
        response = await service.post(body)
        assert (response.status_code, response.json()["detail"]) == (400, detail), case
    await service.assert_nothing_stored()


async def test_a_body_that_is_not_json_is_a_400(open_service: OpenService) -> None:
    service = await open_service()
    for content in (b'{"message": ', b"", b"\xff"):
        response = await service.api.post(
            LIVE_PATH, content=content, headers={**service.bearer(), "content-type": "application/json"}
        )
        assert (response.status_code, response.json()["message"]) == (400, "INVALID_REQUEST"), content
    await service.assert_nothing_stored()


async def test_a_stranger_is_refused_before_the_body_is_read(open_service: OpenService) -> None:
    """Authentication comes first: without a valid token even a body that is not JSON gets a
    401, so a stranger learns nothing about what the endpoint accepts."""
    service = await open_service()
    response = await service.api.post(
        LIVE_PATH, content=b'{"message": ', headers={"content-type": "application/json"}
    )
    assert (response.status_code, response.json()["message"]) == (401, "UNAUTHORISED")
    await service.assert_nothing_stored()


async def test_a_token_that_passed_every_check_is_not_checked_again_until_it_expires(
    monkeypatch: pytest.MonkeyPatch, signers: tuple[PushSigner, PushSigner]
) -> None:
    """Pub/Sub sends one token with every push for an hour: it is verified once, then trusted
    until its ``exp``; after that it goes through every check again (google-auth's own clock
    then decides)."""
    old, _ = signers
    decodes: list[str] = []
    real_decode = google.auth.jwt.decode

    def counting(token: str, **kwargs: Any) -> Any:
        decodes.append(token)
        return real_decode(token, **kwargs)  # type: ignore[no-untyped-call]

    monkeypatch.setattr(google.auth.jwt, "decode", counting)
    async with verifier_of(Certificates(old)) as verifier:
        token = old.token("aud")
        first = await verifier.verify(f"Bearer {token}")
        assert await verifier.verify(f"Bearer {token}") == first
        assert decodes == [token]
        short_lived = old.token("aud", now_s=time.time() - 3598)  # expires in 2 s
        await verifier.verify(f"Bearer {short_lived}")
        await verifier.verify(f"Bearer {short_lived}")
        assert decodes == [token, short_lived]
        later = SimpleNamespace(monotonic=time.monotonic, time=lambda: time.time() + 60)
        monkeypatch.setattr(google_adapter, "time", later)
        await verifier.verify(f"Bearer {short_lived}")
        assert decodes == [token, short_lived, short_lived]
