"""Service-account access tokens (spec §4.5; docs/compatibility.md, Google Play): cached and
refreshed before they expire, refreshed again when Google says 401, refused grants and outages
as ``Retry``, and the 15-minute schedule that publishes the token to the object store.

The tokens come from the in-process Play emulator's token endpoint, signed for with its
service-account file from the local profile's key directory (``google-emulator/`` beside the
database), through a transport that counts and, where a test says so, alters the exchanges.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from supporterflow.adapters.clock import FrozenClock
from supporterflow.adapters.google import GoogleAccessTokens, GooglePlayApi
from supporterflow.adapters.outbound import AsgiTransport, Reply, Transport, Unreachable
from supporterflow.bootstrap import EMULATED_TOKEN_URI, google_emulator_directory
from supporterflow.emulators.google.app import create_play_app
from supporterflow.emulators.google.oauth import SERVICE_ACCOUNT_FILE, ServiceAccount
from supporterflow.emulators.google.push import PushSigner
from supporterflow.emulators.google.store import GooglePlayState
from supporterflow.functions.google_oauth import generation_time, google_oauth, token_object_key
from supporterflow.ports import Retry
from supporterflow.topology import TOPOLOGY
from tests.support import open_container, settings_for

LIVE, LIVE_SKU = "com.guardian", "guardian.subscription.month.meteredoffer"
ACCESS_TOKEN_LIFETIME_S = 3599  # what the emulator's token endpoint says (Google: 3599 too)


@dataclass
class Exchanges:
    """A transport around another that records each request's method and path, and can change
    what goes out or comes back: the lifetime the token endpoint announces, the bearer token
    the next ``spoil`` API calls carry (Google then answers 401)."""

    inner: Transport
    requests: list[tuple[str, str]] = field(default_factory=list)
    expires_in: int | None = None
    spoil: int = 0

    def count(self, path: str) -> int:
        return sum(1 for _, sent in self.requests if sent == path)

    @property
    def token_requests(self) -> int:
        return self.count("/token")

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        self.requests.append((method, path))
        if self.spoil and headers and "Authorization" in headers:
            self.spoil -= 1
            headers = {**headers, "Authorization": "Bearer ya29.sf-emulator.revoked.token"}
        reply = await self.inner.request(method, path, json=json, content=content, headers=headers)
        if path == "/token" and reply.status == 200 and self.expires_in is not None:
            body = {**reply.json(), "expires_in": self.expires_in}
            reply = Reply(reply.status, _json_bytes(body), reply.headers)
        return reply

    async def aclose(self) -> None:
        await self.inner.aclose()


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value).encode()


@dataclass
class Play:
    """The Play emulator as the local profile mounts it, and its service-account file."""

    directory: Path
    account: ServiceAccount
    state: GooglePlayState
    exchanges: Exchanges

    @property
    def account_file(self) -> Path:
        return self.directory / SERVICE_ACCOUNT_FILE

    def tokens(self, account_file: Path | None = None) -> GoogleAccessTokens:
        return GoogleAccessTokens.from_file(str(account_file or self.account_file), self.exchanges)

    def api(self, tokens: GoogleAccessTokens | None = None) -> GooglePlayApi:
        return GooglePlayApi(self.exchanges, tokens or self.tokens())

    def valid(self, token: str) -> bool:
        return self.account.access_token_valid(token, time.time())


@pytest.fixture(scope="module")
def emulator_keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The emulator's service account and push key, made once for the module."""
    directory = tmp_path_factory.mktemp("google-emulator")
    ServiceAccount.load_or_create(directory, EMULATED_TOKEN_URI)
    PushSigner.load_or_create(directory)
    return directory


@pytest.fixture
async def play(tmp_path: Path, emulator_keys: Path) -> AsyncIterator[Play]:
    directory = google_emulator_directory(settings_for(tmp_path))
    shutil.copytree(emulator_keys, directory)
    account = ServiceAccount.load_or_create(directory, EMULATED_TOKEN_URI)
    state = GooglePlayState(directory / "purchases.sqlite3")
    app = create_play_app(
        state,
        service_account=account,
        push_signer=PushSigner.load_or_create(directory),
        token_uri=EMULATED_TOKEN_URI,
    )
    exchanges = Exchanges(AsgiTransport(app, "play"))
    yield Play(directory, account, state, exchanges)
    await exchanges.aclose()
    state.close()


@pytest.fixture(scope="module")
def other_account(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A service-account file for the same account email with a key Google does not know."""
    directory = tmp_path_factory.mktemp("other-account")
    ServiceAccount.load_or_create(directory, EMULATED_TOKEN_URI)
    return directory / SERVICE_ACCOUNT_FILE


# --- GoogleAccessTokens ----------------------------------------------------------------------


async def test_the_first_call_signs_in_and_the_next_ones_reuse_the_token(play: Play) -> None:
    tokens = play.tokens()
    first = await tokens.token()
    assert play.valid(first)
    assert [await tokens.token() for _ in range(3)] == [first] * 3
    assert play.exchanges.requests == [("POST", "/token")]


async def test_concurrent_first_calls_sign_in_once(play: Play) -> None:
    tokens = play.tokens()
    got = await asyncio.gather(*(tokens.token() for _ in range(5)))
    assert len(set(got)) == 1
    assert play.exchanges.token_requests == 1


@pytest.mark.parametrize(("expires_in", "requests"), [(240, 3), (299, 3), (360, 1), (3599, 1)])
async def test_a_token_within_five_minutes_of_its_expiry_is_refreshed(
    play: Play, expires_in: int, requests: int
) -> None:
    """A call never leaves with a token that could die on the way: one with less than five
    minutes left is replaced before use."""
    play.exchanges.expires_in = expires_in
    tokens = play.tokens()
    for _ in range(3):
        assert play.valid(await tokens.token())
    assert play.exchanges.token_requests == requests


async def test_invalidate_forces_a_new_sign_in(play: Play) -> None:
    tokens = play.tokens()
    await tokens.token()
    tokens.invalidate()
    assert play.valid(await tokens.token())
    await tokens.token()
    assert play.exchanges.token_requests == 2


async def test_refresh_always_asks_and_says_when_the_token_expires(play: Play) -> None:
    tokens = play.tokens()
    await tokens.token()
    before = datetime.now(UTC)
    token, expires = await tokens.refresh()
    after = datetime.now(UTC)
    assert play.valid(token)
    assert play.exchanges.token_requests == 2
    assert expires is not None
    assert expires.tzinfo is UTC
    lifetime = timedelta(seconds=ACCESS_TOKEN_LIFETIME_S)
    assert before + lifetime - timedelta(seconds=1) <= expires <= after + lifetime + timedelta(seconds=1)
    assert await tokens.token() == token  # the refreshed token is the one used next
    assert play.exchanges.token_requests == 2


async def test_a_refused_grant_is_retried_with_google_s_reason(play: Play, other_account: Path) -> None:
    """A key Google does not know (rotated, revoked): the messages wait for an operator; the
    reason says what Google said, and nothing of the key."""
    tokens = play.tokens(other_account)
    with pytest.raises(Retry, match="Google refused the service account's token request") as refused:
        await tokens.token()
    message = str(refused.value)
    assert "invalid_grant" in message
    assert "Invalid JWT Signature." in message
    assert "PRIVATE KEY" not in message
    with pytest.raises(Retry, match="Google refused"):
        await play.api(tokens).subscription_v1(LIVE, LIVE_SKU, "a-token")
    assert play.exchanges.count("/token") == 2
    assert len(play.exchanges.requests) == 2  # no API call without a token


async def test_an_unreachable_token_endpoint_is_retried(play: Play) -> None:
    class Down:
        async def request(
            self,
            method: str,
            path: str,
            *,
            json: Any = None,
            content: bytes | None = None,
            headers: Mapping[str, str] | None = None,
        ) -> Reply:
            raise Unreachable("unreachable (ConnectError)")

        async def aclose(self) -> None:
            return None

    tokens = GoogleAccessTokens.from_file(str(play.account_file), Down())
    with pytest.raises(Retry, match="Google's token endpoint did not answer: unreachable"):
        await tokens.token()


# --- GooglePlayApi and the token --------------------------------------------------------------


def _v1(token: str) -> str:
    return f"/androidpublisher/v3/applications/{LIVE}/purchases/subscriptions/{LIVE_SKU}/tokens/{token}"


async def test_a_401_refreshes_the_token_and_tries_once_more(play: Play) -> None:
    purchase = play.state.purchase(LIVE, LIVE_SKU)
    assert purchase.purchase_token is not None
    api = play.api()
    await api.subscription_v1(LIVE, LIVE_SKU, purchase.purchase_token)  # signed in
    play.exchanges.spoil = 1  # Google revoked the token we hold
    body = await api.subscription_v1(LIVE, LIVE_SKU, purchase.purchase_token)
    assert body is not None
    assert body["expiryTimeMillis"] == str(play.state.get(purchase.purchase_token)["expiryTimeMs"])
    assert play.exchanges.requests == [
        ("POST", "/token"),
        ("GET", _v1(purchase.purchase_token)),
        ("GET", _v1(purchase.purchase_token)),  # 401
        ("POST", "/token"),
        ("GET", _v1(purchase.purchase_token)),
    ]


async def test_a_second_401_is_retried_later(play: Play) -> None:
    play.exchanges.spoil = 2
    with pytest.raises(Retry, match="HTTP 401 with a new token"):
        await play.api().subscription_v1(LIVE, LIVE_SKU, "abcdefghijklmnopqrstuvwx.AO-J1Otoken")
    assert [path for _, path in play.exchanges.requests] == [
        "/token",
        _v1("abcdefghijklmnopqrstuvwx.AO-J1Otoken"),
        "/token",
        _v1("abcdefghijklmnopqrstuvwx.AO-J1Otoken"),
    ]


def _answering(status: int, headers: dict[str, str]) -> Starlette:
    async def api(request: Request) -> Response:
        return JSONResponse({"error": {"code": status, "message": "slow down"}}, status, headers=headers)

    return Starlette(routes=[Route("/androidpublisher/{rest:path}", api)])


@pytest.mark.parametrize(
    ("status", "headers", "after_s"),
    [(429, {"Retry-After": "30"}, 30.0), (503, {"Retry-After": "7"}, 7.0), (503, {}, None)],
    ids=["429-retry-after", "503-retry-after", "503-no-header"],
)
async def test_google_s_retry_after_is_kept(
    play: Play, status: int, headers: dict[str, str], after_s: float | None
) -> None:
    """The consumers wait as long as Google asked (up to their back-off ceiling)."""
    transport = AsgiTransport(_answering(status, headers), "play")
    try:
        api = GooglePlayApi(transport, play.tokens())
        with pytest.raises(Retry, match=f"HTTP {status}") as raised:
            await api.subscription_v2(LIVE, "abcdefghijklmnopqrstuvwx.AO-J1Otoken")
    finally:
        await transport.aclose()
    assert raised.value.after_s == after_s


# --- the 15-minute publication ---------------------------------------------------------------


async def test_the_schedule_publishes_the_token_as_the_original_did(
    tmp_path: Path, emulator_keys: Path
) -> None:
    """Spec §4.5: ``<Stage>/google-play-developer-api/access_token.json``, ``{"token",
    "expiry"}`` with a 2-space indent, ``expiry`` the generation time in the original's format.
    Through the local profile's own wiring (``inject``), against its in-process emulator."""
    shutil.copytree(emulator_keys, google_emulator_directory(settings_for(tmp_path)))
    clock = FrozenClock("2026-06-18T11:54:00.250+00:00")
    container = open_container(tmp_path, TOPOLOGY, clock=clock)
    try:
        publish = container.inject(google_oauth)
        await publish()
        stored = await container.objects.get("CODE/google-play-developer-api/access_token.json")
        assert stored is not None
        token = json.loads(stored)["token"]
        assert stored.decode() == (
            f'{{\n  "token": "{token}",\n  "expiry": "Thu 18 Jun 2026 11:54:00 UTC"\n}}'
        )
        account = ServiceAccount.from_info(json.loads((emulator_keys / SERVICE_ACCOUNT_FILE).read_text()))
        assert account.access_token_valid(token, time.time())

        clock.advance(minutes=15)
        await publish()
        again = await container.objects.get("CODE/google-play-developer-api/access_token.json")
        assert again is not None
        assert json.loads(again)["expiry"] == "Thu 18 Jun 2026 12:09:00 UTC"
    finally:
        await container.aclose()


async def test_a_failed_publication_is_reported_and_writes_nothing(
    tmp_path: Path, play: Play, other_account: Path
) -> None:
    """The original swallowed the error; here the schedule run fails, visibly."""
    container = open_container(tmp_path / "service", TOPOLOGY, clock=FrozenClock())
    try:
        with pytest.raises(Retry, match="Google refused"):
            await google_oauth(
                google_tokens=play.tokens(other_account),
                objects=container.objects,
                settings=container.settings,
                clock=container.clock,
            )
        assert await container.objects.get(token_object_key("CODE")) is None
    finally:
        await container.aclose()


@pytest.mark.parametrize(
    ("moment", "written"),
    [
        (datetime(2026, 6, 18, 11, 54, tzinfo=UTC), "Thu 18 Jun 2026 11:54:00 UTC"),
        (datetime(2026, 3, 1, 0, 0, 5, 999_999, tzinfo=UTC), "Sun 01 Mar 2026 00:00:05 UTC"),
        (datetime(2024, 2, 29, 23, 59, 59, tzinfo=UTC), "Thu 29 Feb 2024 23:59:59 UTC"),
        (datetime(2027, 12, 6, 9, 3, 7, tzinfo=UTC), "Mon 06 Dec 2027 09:03:07 UTC"),
        # JavaScript's toUTCString() writes the instant in UTC, whatever zone the Date came from.
        (datetime(2026, 6, 18, 12, 54, tzinfo=timezone(timedelta(hours=1))), "Thu 18 Jun 2026 11:54:00 UTC"),
        (
            datetime(2026, 1, 1, 1, 30, tzinfo=timezone(timedelta(hours=5, minutes=30))),
            "Wed 31 Dec 2025 20:00:00 UTC",
        ),
    ],
)
def test_generation_time_is_js_to_utc_string_without_comma_and_gmt(moment: datetime, written: str) -> None:
    """``Thu, 18 Jun 2026 11:54:00 GMT`` as the original rewrote it: two-digit day, English
    names, seconds (milliseconds dropped), ``UTC``."""
    assert generation_time(moment) == written


def test_the_object_key_names_the_stage() -> None:
    assert token_object_key("PROD") == "PROD/google-play-developer-api/access_token.json"
    assert token_object_key("CODE") == "CODE/google-play-developer-api/access_token.json"
