"""Signing in to the dashboard with OpenID Connect, end to end in process: the service (ASGI) and
the OIDC emulator (ASGI) each behind an httpx client playing the browser, and the service's own
calls to the provider (discovery, token endpoint, keys) going to the same emulator through an
in-process transport.

Why: the dashboard shows and changes what operators act on, so the second way in must refuse
everything that is not exactly the sign-in this browser started, by the provider configured,
for a person the allow-list names; and a refusal must be a clear page, never a 500, with no
token or email address in the log."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import AsyncIterator, Callable, Iterator, MutableMapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import jwt
import pytest
import structlog
from cryptography.hazmat.primitives.asymmetric import rsa

from supporterflow.adapters.clock import FrozenClock
from supporterflow.adapters.outbound import AsgiTransport, Transport
from supporterflow.bootstrap import Container
from supporterflow.config import ConfigurationError, load_settings
from supporterflow.emulators.control import Fault
from supporterflow.emulators.oidc import DEFAULT_ISSUER, DEFAULT_OPERATOR, OidcIssuer, create_oidc_app
from supporterflow.entrypoints.http import create_app
from supporterflow.entrypoints.http.admin.display import fingerprint
from supporterflow.topology import TOPOLOGY
from tests.support import Flaky, open_container

KEY = "test-admin-key"
NOW = "2026-03-01T12:00:00+00:00"
CLIENT_ID = "sf-dashboard"
OPERATOR_EMAIL = str(DEFAULT_OPERATOR["email"])
OPERATOR_SUB = str(DEFAULT_OPERATOR["sub"])
SERVICE = "http://sf"
PROVIDER = DEFAULT_ISSUER  # http://oidc.emulator: where the emulator answers, in process


@pytest.fixture(scope="module")
def signing_keys() -> tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey]:
    """The issuer's key and another one (2048-bit keys take a while to make)."""
    return OidcIssuer.generate().signing_key, OidcIssuer.generate().signing_key


@pytest.fixture
def issuer(signing_keys: tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey]) -> OidcIssuer:
    return OidcIssuer([signing_keys[0]], login_client_id=CLIENT_ID)


@pytest.fixture
def provider_app(issuer: OidcIssuer) -> Any:
    return create_oidc_app(issuer)


@pytest.fixture
def logged() -> Iterator[list[MutableMapping[str, Any]]]:
    with structlog.testing.capture_logs() as lines:
        yield lines


class Dashboard:
    """The service and the provider, each with its browser-side client."""

    def __init__(self, browser: httpx.AsyncClient, provider: httpx.AsyncClient, container: Container) -> None:
        self.browser = browser
        self.provider = provider
        self.container = container

    async def to_provider(self) -> httpx.Response:
        """``/admin/login/oidc``, then the provider's answer to where it sends the browser."""
        start = await self.browser.get("/admin/login/oidc")
        assert start.status_code == 303, start.text
        return await self.provider.get(start.headers["location"])

    async def sign_in(self, tamper: Callable[[dict[str, str]], None] | None = None) -> httpx.Response:
        """The whole flow; ``tamper`` may change the callback's parameters first."""
        approved = await self.to_provider()
        assert approved.status_code == 302, approved.text
        callback = urlsplit(approved.headers["location"])
        assert (
            f"{callback.scheme}://{callback.netloc}{callback.path}" == f"{SERVICE}/admin/login/oidc/callback"
        )
        params = {name: values[0] for name, values in parse_qs(callback.query).items()}
        if tamper is not None:
            tamper(params)
        return await self.browser.get(f"{callback.path}?{urlencode(params)}")

    async def signed_in(self) -> bool:
        overview = await self.browser.get("/admin")
        return overview.status_code == 200


@asynccontextmanager
async def dashboard(
    tmp_path: Path,
    provider_app: Any,
    *,
    transport: Callable[[Transport], Transport] = lambda inner: inner,
    **settings: Any,
) -> AsyncIterator[Dashboard]:
    values: dict[str, Any] = {
        "admin_api_keys": KEY,
        "admin_oidc_issuer": PROVIDER,
        "admin_oidc_client_id": CLIENT_ID,
        "admin_oidc_allowed": f"email:{OPERATOR_EMAIL}",
        **settings,
    }
    container = open_container(tmp_path, TOPOLOGY, FrozenClock(NOW), **values)
    # The service's calls to the provider: the emulator in process, instead of over the network.
    container.collaborators["admin_oidc_transport"] = transport(AsgiTransport(provider_app, "oidc"))
    try:
        async with (
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=create_app(container)), base_url=SERVICE
            ) as browser,
            httpx.AsyncClient(transport=httpx.ASGITransport(app=provider_app), base_url=PROVIDER) as provider,
        ):
            yield Dashboard(browser, provider, container)
    finally:
        await container.collaborators["admin_oidc_transport"].aclose()
        await container.aclose()


def assert_no_secrets_in(lines: list[MutableMapping[str, Any]]) -> None:
    text = repr(lines)
    assert OPERATOR_EMAIL not in text
    assert not re.search(r"eyJ[A-Za-z0-9_-]{10,}\.", text), "a JWT in the log"


async def test_the_login_page_offers_the_provider_beside_the_key(tmp_path: Path, provider_app: Any) -> None:
    async with dashboard(tmp_path, provider_app) as board:
        page = await board.browser.get("/admin/login")
    assert page.status_code == 200
    assert 'name="key"' in page.text
    assert 'href="/admin/login/oidc">Sign in with oidc.emulator</a>' in page.text


async def test_the_start_sends_the_browser_to_the_provider_with_pkce_state_and_nonce(
    tmp_path: Path, provider_app: Any
) -> None:
    async with dashboard(tmp_path, provider_app) as board:
        start = await board.browser.get("/admin/login/oidc")
    target = urlsplit(start.headers["location"])
    query = {name: values[0] for name, values in parse_qs(target.query).items()}
    assert f"{target.scheme}://{target.netloc}{target.path}" == f"{PROVIDER}/v1/authorize"
    assert query["response_type"] == "code"
    assert query["client_id"] == CLIENT_ID
    assert query["redirect_uri"] == f"{SERVICE}/admin/login/oidc/callback"
    assert query["scope"] == "openid email"
    assert query["code_challenge_method"] == "S256"
    assert all(len(query[name]) >= 40 for name in ("state", "nonce", "code_challenge"))
    flow_cookie = start.headers["set-cookie"]
    assert flow_cookie.startswith("sf_admin_oidc=")
    for attribute in ("HttpOnly", "Path=/admin/login/oidc", "SameSite=lax", "Max-Age=600"):
        assert attribute.lower() in flow_cookie.lower()


async def test_an_allowed_operator_signs_in_and_sees_the_dashboard(
    tmp_path: Path, provider_app: Any, logged: list[MutableMapping[str, Any]]
) -> None:
    async with dashboard(tmp_path, provider_app) as board:
        callback = await board.sign_in()
        assert callback.status_code == 200
        # The page moves on by itself (a same-site navigation, so the Strict cookie goes along).
        assert callback.headers["refresh"] == "0; url=/admin"
        cookies = callback.headers.get_list("set-cookie")
        session = next(c for c in cookies if c.startswith("sf_admin="))
        for attribute in ("HttpOnly", "Path=/admin", "SameSite=strict"):
            assert attribute.lower() in session.lower()
        assert any(c.startswith("sf_admin_oidc=") and "Max-Age=0" in c for c in cookies)  # flow ends
        overview = await board.browser.get("/admin")
    assert overview.status_code == 200
    assert f'<span class="who" title="signed in as">{OPERATOR_SUB}</span>' in overview.text
    assert OPERATOR_EMAIL not in overview.text
    assert [line["matched"] for line in logged if line["event"] == "dashboard sign-in"] == ["email"]
    assert_no_secrets_in(logged)


async def test_a_subject_that_is_an_email_address_is_shown_as_a_fingerprint(
    tmp_path: Path, issuer: OidcIssuer, provider_app: Any
) -> None:
    issuer.operator = {"sub": "ops@example.com", "email": "ops@example.com", "email_verified": True}
    async with dashboard(tmp_path, provider_app, admin_oidc_allowed="sub:ops@example.com") as board:
        assert (await board.sign_in()).status_code == 200
        overview = await board.browser.get("/admin")
    assert overview.status_code == 200
    assert "ops@example.com" not in overview.text
    assert fingerprint("ops@example.com") in overview.text


async def test_a_group_entry_lets_in_the_members_of_that_group(
    tmp_path: Path, issuer: OidcIssuer, provider_app: Any
) -> None:
    issuer.operator = {"sub": "00ugroupie", "email": "someone@example.com", "roles": ["sf-operators"]}
    async with dashboard(
        tmp_path, provider_app, admin_oidc_allowed="group:sf-operators", admin_oidc_groups_claim="roles"
    ) as board:
        assert (await board.sign_in()).status_code == 200
        assert await board.signed_in()


async def test_a_confidential_client_authenticates_at_the_token_endpoint(
    tmp_path: Path, issuer: OidcIssuer, provider_app: Any
) -> None:
    issuer.login_client_secret = "s3cret:with&odd=chars"
    async with dashboard(tmp_path, provider_app, admin_oidc_client_secret="s3cret:with&odd=chars") as board:
        assert (await board.sign_in()).status_code == 200
        assert await board.signed_in()


async def test_a_wrong_client_secret_is_a_503_naming_the_settings_to_check(
    tmp_path: Path, issuer: OidcIssuer, provider_app: Any, logged: list[MutableMapping[str, Any]]
) -> None:
    issuer.login_client_secret = "the-right-one"
    async with dashboard(tmp_path, provider_app, admin_oidc_client_secret="another") as board:
        callback = await board.sign_in()
        assert callback.status_code == 503
        assert not await board.signed_in()
    assert "SF_ADMIN_OIDC_CLIENT_SECRET" in next(
        line["reason"] for line in logged if line["event"] == "dashboard sign-in refused"
    )


async def test_someone_not_on_the_allow_list_is_refused_with_403(
    tmp_path: Path, issuer: OidcIssuer, provider_app: Any, logged: list[MutableMapping[str, Any]]
) -> None:
    issuer.operator = {"sub": "00ustranger", "email": "stranger@example.com", "email_verified": True}
    async with dashboard(tmp_path, provider_app) as board:
        refused = await board.sign_in()
        assert refused.status_code == 403
        assert "not allowed into this dashboard" in refused.text
        assert "sf_admin=" not in " ".join(refused.headers.get_list("set-cookie"))
        assert not await board.signed_in()
    [line] = [line for line in logged if line["event"] == "dashboard sign-in refused"]
    assert line["reason"] == "not on SF_ADMIN_OIDC_ALLOWED"
    assert line["email_fingerprint"].startswith("<redacted ")
    assert "stranger@example.com" not in repr(logged)


async def test_an_email_the_provider_says_is_not_verified_does_not_match(
    tmp_path: Path, issuer: OidcIssuer, provider_app: Any
) -> None:
    issuer.operator = {**DEFAULT_OPERATOR, "email_verified": False}
    async with dashboard(tmp_path, provider_app) as board:
        assert (await board.sign_in()).status_code == 403


async def test_an_empty_allow_list_refuses_everyone(tmp_path: Path, provider_app: Any) -> None:
    async with dashboard(tmp_path, provider_app, admin_oidc_allowed="") as board:
        assert (await board.sign_in()).status_code == 403
        assert not await board.signed_in()


async def test_a_callback_with_another_state_is_refused(tmp_path: Path, provider_app: Any) -> None:
    async with dashboard(tmp_path, provider_app) as board:

        def other_state(params: dict[str, str]) -> None:
            params["state"] = "forged" + params["state"][6:]

        refused = await board.sign_in(other_state)
        assert refused.status_code == 400
        assert "does not match the one this browser started" in refused.text
        assert not await board.signed_in()


async def test_a_callback_in_a_browser_that_did_not_start_the_sign_in_is_refused(
    tmp_path: Path, provider_app: Any
) -> None:
    async with dashboard(tmp_path, provider_app) as board:
        approved = await board.to_provider()
        board.browser.cookies.clear()  # another browser: the attacker's code, the victim's browser
        refused = await board.browser.get(approved.headers["location"])
        assert refused.status_code == 400
        assert "Start again" in refused.text
        assert not await board.signed_in()


async def test_a_code_is_good_once(tmp_path: Path, provider_app: Any) -> None:
    async with dashboard(tmp_path, provider_app) as board:
        approved = await board.to_provider()
        flow = board.browser.cookies.get("sf_admin_oidc", path="/admin/login/oidc")
        assert flow is not None
        assert (await board.browser.get(approved.headers["location"])).status_code == 200
        board.browser.cookies.clear()
        board.browser.cookies.set("sf_admin_oidc", flow, path="/admin/login/oidc")
        replayed = await board.browser.get(approved.headers["location"])
        assert replayed.status_code == 400
        assert "invalid_grant" in replayed.text


@pytest.mark.parametrize(
    ("misbehaviour", "reason"),
    [
        ({"nonce": "another-sign-in"}, "ID token: wrong nonce"),
        ({"nonce": None}, "ID token: wrong nonce"),
        ({"aud": "another-client"}, "ID token: for another audience"),
        ({"iss": "https://elsewhere.example"}, "ID token: from another issuer"),
        ({"exp": 1_000_000_000}, "ID token: expired"),
        ({"aud": [CLIENT_ID, "another-client"]}, "ID token: several audiences and azp is not this client"),
    ],
)
async def test_an_id_token_that_is_not_for_this_sign_in_is_refused(
    tmp_path: Path,
    issuer: OidcIssuer,
    provider_app: Any,
    logged: list[MutableMapping[str, Any]],
    misbehaviour: dict[str, Any],
    reason: str,
) -> None:
    issuer.id_token_claims = misbehaviour
    async with dashboard(tmp_path, provider_app) as board:
        refused = await board.sign_in()
        assert refused.status_code == 401
        assert "could not be trusted" in refused.text
        assert not await board.signed_in()
    assert [line["reason"] for line in logged if line["event"] == "dashboard sign-in refused"] == [reason]
    assert_no_secrets_in(logged)


async def test_an_id_token_signed_with_a_key_the_provider_does_not_publish_is_refused(
    tmp_path: Path,
    signing_keys: tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey],
    logged: list[MutableMapping[str, Any]],
) -> None:
    published = OidcIssuer([signing_keys[0]], login_client_id=CLIENT_ID)
    forger = OidcIssuer([signing_keys[1]], login_client_id=CLIENT_ID)
    # The forger's authorization and token endpoints, the real provider's discovery and keys.
    forged = create_oidc_app(forger)
    real = create_oidc_app(published)

    async def mixed(scope: Any, receive: Any, send: Any) -> None:
        serves_keys = scope.get("path", "").startswith(("/v1/keys", "/.well-known"))
        await (real if serves_keys else forged)(scope, receive, send)

    async with dashboard(tmp_path, mixed) as board:
        refused = await board.sign_in()
        assert refused.status_code == 401
        assert not await board.signed_in()
    reasons = [line["reason"] for line in logged if line["event"] == "dashboard sign-in refused"]
    assert reasons == ["ID token: signed with a key the provider does not publish"]


async def test_a_refusal_at_the_provider_is_a_clear_page(
    tmp_path: Path, issuer: OidcIssuer, provider_app: Any
) -> None:
    issuer.sign_in_error = "access_denied"
    async with dashboard(tmp_path, provider_app) as board:
        refused = await board.sign_in()
        assert refused.status_code == 401
        assert "The provider did not sign you in (access_denied)." in refused.text
        assert 'name="key"' in refused.text  # the key form is still there
        assert not await board.signed_in()


async def test_an_error_parameter_is_never_echoed_as_markup(tmp_path: Path, provider_app: Any) -> None:
    async with dashboard(tmp_path, provider_app) as board:
        refused = await board.browser.get(
            "/admin/login/oidc/callback", params={"error": "<script>alert(1)</script>"}
        )
    assert refused.status_code == 401
    assert "<script>alert" not in refused.text
    assert "(unreadable)" in refused.text


@pytest.mark.parametrize("where", ["/.well-known", "/v1/token", "/v1/keys"])
async def test_a_provider_that_fails_is_a_503_page(
    tmp_path: Path, provider_app: Any, logged: list[MutableMapping[str, Any]], where: str
) -> None:
    async with dashboard(tmp_path, provider_app) as board:
        if where == "/.well-known":
            provider_app.state.control.faults.append(Fault(503, count=-1, path_prefix=where))
            failed = await board.browser.get("/admin/login/oidc")
        else:
            approved = await board.to_provider()
            provider_app.state.control.faults.append(Fault(503, count=-1, path_prefix=where))
            failed = await board.browser.get(approved.headers["location"])
        assert failed.status_code == 503
        assert "use an admin key" in failed.text
    [line] = [line for line in logged if line["event"] == "dashboard sign-in refused"]
    assert "HTTP 503" in line["reason"]


async def test_a_provider_out_of_reach_is_a_503_page(tmp_path: Path, provider_app: Any) -> None:
    async with dashboard(tmp_path, provider_app, transport=lambda inner: Flaky(inner, failures=99)) as board:
        failed = await board.browser.get("/admin/login/oidc")
    assert failed.status_code == 503
    assert "Signing in with the provider is not possible now" in failed.text


async def test_a_forged_or_expired_session_cookie_is_not_a_session(tmp_path: Path, provider_app: Any) -> None:
    async with dashboard(tmp_path, provider_app) as board:
        await board.sign_in()
        good = board.browser.cookies.get("sf_admin", path="/admin")
        assert good is not None
        assert good.startswith("oidc.")
        _, subject, expiry, signature = good.split(".")
        board.browser.cookies.clear()
        board.browser.cookies.set("sf_admin", good, path="/admin")
        assert await board.signed_in()  # the cookie as set here is sent: the cases below count
        for forged in (
            f"oidc.{subject}.{int(expiry) + 3600}.{signature}",  # longer
            f"oidc.YWRtaW4.{expiry}.{signature}",  # someone else
            f"oidc.{subject}.1000000000.{signature}",  # expired
        ):
            board.browser.cookies.clear()
            board.browser.cookies.set("sf_admin", forged, path="/admin")
            assert not await board.signed_in(), forged


async def test_signing_out_ends_an_oidc_session(tmp_path: Path, provider_app: Any) -> None:
    async with dashboard(tmp_path, provider_app) as board:
        await board.sign_in()
        assert await board.signed_in()
        await board.browser.post("/admin/logout", headers={"origin": SERVICE})
        assert not await board.signed_in()


async def test_changing_the_allow_list_ends_the_sessions_it_let_in(tmp_path: Path, provider_app: Any) -> None:
    async with dashboard(tmp_path / "before", provider_app) as board:
        await board.sign_in()
        session = board.browser.cookies.get("sf_admin", path="/admin")
    # Same identity hash key (same directory), another allow-list.
    (tmp_path / "after").mkdir()
    (tmp_path / "after" / "identity-hash.key").write_text(
        (tmp_path / "before" / "identity-hash.key").read_text()
    )
    async with dashboard(tmp_path / "after", provider_app, admin_oidc_allowed="sub:someone-else") as board:
        board.browser.cookies.set("sf_admin", str(session), path="/admin")
        assert not await board.signed_in()
    async with dashboard(tmp_path / "before", provider_app) as board:
        board.browser.cookies.set("sf_admin", str(session), path="/admin")
        assert await board.signed_in()  # under the same settings, it still is a session


async def test_an_admin_key_still_signs_in_beside_oidc(tmp_path: Path, provider_app: Any) -> None:
    async with dashboard(tmp_path, provider_app) as board:
        signed = await board.browser.post("/admin/login", data={"key": KEY})
        assert signed.status_code == 303
        overview = await board.browser.get("/admin")
        assert overview.status_code == 200
        assert '<span class="who" title="signed in as">admin key</span>' in overview.text
        assert (await board.browser.get("/admin", headers={"x-api-key": KEY})).status_code == 200


async def test_without_oidc_settings_there_is_no_oidc_sign_in(tmp_path: Path) -> None:
    container = open_container(tmp_path, TOPOLOGY, FrozenClock(NOW), admin_api_keys=KEY)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(container)), base_url=SERVICE
        ) as browser:
            assert "Sign in with" not in (await browser.get("/admin/login")).text
            assert (await browser.get("/admin/login/oidc")).status_code == 404
            assert (await browser.get("/admin/login/oidc/callback?code=x&state=y")).status_code == 404
            assert (await browser.post("/admin/login", data={"key": KEY})).status_code == 303
    finally:
        await container.aclose()


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"admin_oidc_issuer": "https://login.example"}, "set SF_ADMIN_OIDC_CLIENT_ID too"),
        ({"admin_oidc_client_id": CLIENT_ID}, "set SF_ADMIN_OIDC_ISSUER too"),
        (
            {"admin_oidc_issuer": "http://login.example", "admin_oidc_client_id": CLIENT_ID},
            "SF_ADMIN_OIDC_ISSUER: Value error, 'http://login.example': use https",
        ),
        ({"admin_oidc_allowed": "alice@example.com"}, "SF_ADMIN_OIDC_ALLOWED: Value error, each entry is"),
        ({"admin_oidc_scopes": "email"}, "SF_ADMIN_OIDC_SCOPES: Value error, the scopes must include openid"),
    ],
)
def test_incomplete_oidc_settings_say_what_to_set(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        load_settings(**settings)


async def test_the_emulated_provider_insists_on_the_pkce_verifier_and_the_client(provider_app: Any) -> None:
    verifier = "a-verifier-of-the-right-length-0123456789abcdef"
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    callback = f"{SERVICE}/admin/login/oidc/callback"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=provider_app), base_url=PROVIDER) as idp:
        discovery = (await idp.get("/.well-known/openid-configuration")).json()
        assert discovery["authorization_endpoint"] == f"{PROVIDER}/v1/authorize"
        assert discovery["token_endpoint"] == f"{PROVIDER}/v1/token"
        assert discovery["code_challenge_methods_supported"] == ["S256"]

        async def code() -> str:
            approved = await idp.get(
                "/v1/authorize",
                params={
                    "response_type": "code",
                    "client_id": CLIENT_ID,
                    "redirect_uri": callback,
                    "scope": "openid email",
                    "state": "s",
                    "nonce": "n",
                    "code_challenge": challenge,
                    "code_challenge_method": "S256",
                },
            )
            return parse_qs(urlsplit(approved.headers["location"]).query)["code"][0]

        def exchange(given: str, **changes: str) -> dict[str, str]:
            form = {"grant_type": "authorization_code", "code": given, "redirect_uri": callback}
            return {**form, "client_id": CLIENT_ID, "code_verifier": verifier, **changes}

        wrong_verifier = await idp.post("/v1/token", data=exchange(await code(), code_verifier="x" * 43))
        assert wrong_verifier.json()["error"] == "invalid_grant"
        other_client = await idp.post("/v1/token", data=exchange(await code(), client_id="another"))
        assert (other_client.status_code, other_client.json()["error"]) == (401, "invalid_client")
        other_redirect = await idp.post("/v1/token", data=exchange(await code(), redirect_uri=SERVICE))
        assert other_redirect.json()["error"] == "invalid_grant"
        granted = await idp.post("/v1/token", data=exchange(await code()))
        assert granted.status_code == 200
        assert jwt.decode(granted.json()["id_token"], options={"verify_signature": False})["nonce"] == "n"
        unknown_client = await idp.get(
            "/v1/authorize", params={"client_id": "another", "redirect_uri": callback}
        )
        assert unknown_client.status_code == 400  # answered here, never redirected to an unknown client


async def test_the_emulated_provider_can_be_told_who_signs_in_and_to_refuse(provider_app: Any) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=provider_app), base_url=PROVIDER) as idp:
        told = await idp.post(
            "/__emulator/sign-in",
            json={"operator": {"sub": "00uother"}, "error": "access_denied", "id_token_claims": {"aud": "x"}},
        )
        assert told.status_code == 200
        assert (told.json()["sign_in_error"], told.json()["id_token_claims"]) == ("access_denied", ["aud"])
        assert (await idp.post("/__emulator/sign-in", json={"operator": {}})).status_code == 400
