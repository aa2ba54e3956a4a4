"""The OIDC issuer emulator: its JWKS verifies the tokens it mints (with PyJWT, as a relying
party would, not through supporterflow's adapter), the control API mints and rotates, the keys
persist in a directory, and the CLI serves and mints with the same keys."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import uvicorn
from typer.testing import CliRunner

from supporterflow.emulators.cli import emulate_app
from supporterflow.emulators.oidc import (
    DEFAULT_AUDIENCE,
    DEFAULT_CLIENT_ID,
    DEFAULT_ISSUER,
    DEFAULT_SCOPE,
    DEFAULT_USER_ID,
    OidcIssuer,
    create_oidc_app,
    rsa_thumbprint,
)
from tests.integration.emulators.conftest import client_for

KEYS = "/v1/keys"


@pytest.fixture(scope="module")
def module_issuer() -> OidcIssuer:
    """One RSA key for the module (2048-bit keys take a while to make)."""
    return OidcIssuer.generate()


@pytest.fixture
def issuer(module_issuer: OidcIssuer) -> OidcIssuer:
    """A fresh issuer on the module's key: rotations in one test do not leak into the next."""
    return OidcIssuer([module_issuer.signing_key])


@pytest.fixture
async def oidc(issuer: OidcIssuer) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(create_oidc_app(issuer), {}) as client:
        yield client


async def verify(client: httpx.AsyncClient, token: str, audience: str = DEFAULT_AUDIENCE) -> dict[str, Any]:
    """The claims of ``token``, verified against the JWKS the emulator serves now."""
    keys = jwt.PyJWKSet.from_dict((await client.get(KEYS)).json())
    kid = jwt.get_unverified_header(token)["kid"]
    claims: dict[str, Any] = jwt.decode(
        token, keys[kid], algorithms=["RS256"], audience=audience, issuer=DEFAULT_ISSUER
    )
    return claims


async def mint(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    response = await client.post("/__emulator/tokens", json=body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def test_key_ids_are_rfc_7638_thumbprints() -> None:
    """The example of RFC 7638 §3.1."""
    n = (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZC"
        "iFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZg"
        "nYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniI"
        "qbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
    )
    assert rsa_thumbprint(n, "AQAB") == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


async def test_the_jwks_publishes_the_signing_key_with_a_cache_lifetime(
    oidc: httpx.AsyncClient, issuer: OidcIssuer
) -> None:
    response = await oidc.get(KEYS)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "max-age=3600, must-revalidate"
    [key] = response.json()["keys"]
    assert {name: key[name] for name in ("kty", "alg", "use", "kid", "e")} == {
        "kty": "RSA",
        "alg": "RS256",
        "use": "sig",
        "kid": issuer.key_id,
        "e": "AQAB",
    }
    assert key["kid"] == rsa_thumbprint(key["n"], key["e"])
    assert "d" not in key  # the public half only


async def test_the_jwks_lifetime_is_configurable(issuer: OidcIssuer) -> None:
    async with client_for(create_oidc_app(issuer, jwks_max_age_s=120), {}) as client:
        assert (await client.get(KEYS)).headers["cache-control"] == "max-age=120, must-revalidate"


async def test_the_discovery_document_names_the_issuer_and_where_the_keys_are(
    oidc: httpx.AsyncClient,
) -> None:
    body = (await oidc.get("/.well-known/openid-configuration")).json()
    assert (body["issuer"], body["jwks_uri"]) == (DEFAULT_ISSUER, "http://emulator/v1/keys")
    assert body["id_token_signing_alg_values_supported"] == ["RS256"]


async def test_a_default_token_has_okta_access_token_claims(
    oidc: httpx.AsyncClient, issuer: OidcIssuer
) -> None:
    before = int(time.time())
    token = issuer.token()
    claims = await verify(oidc, token)
    assert jwt.get_unverified_header(token) == {"alg": "RS256", "kid": issuer.key_id, "typ": "JWT"}
    assert claims["exp"] - claims["iat"] == 3600
    assert before <= claims["iat"] <= int(time.time())
    assert claims["jti"].startswith("AT.")
    assert {k: v for k, v in claims.items() if k not in ("iat", "exp", "auth_time", "jti", "uid")} == {
        "ver": 1,
        "iss": DEFAULT_ISSUER,
        "aud": DEFAULT_AUDIENCE,
        "cid": DEFAULT_CLIENT_ID,
        "scp": [DEFAULT_SCOPE],
        "sub": f"user-{DEFAULT_USER_ID}@example.com",
        "legacy_identity_id": DEFAULT_USER_ID,
    }
    assert (claims["uid"][:3], len(claims["uid"])) == ("00u", 20)


async def test_overrides_replace_claims_and_none_removes_them(
    oidc: httpx.AsyncClient, issuer: OidcIssuer
) -> None:
    claims = await verify(
        oidc, issuer.token(legacy_identity_id="123", scp=None, custom="x"), audience=DEFAULT_AUDIENCE
    )
    assert (claims["legacy_identity_id"], claims["sub"], claims["custom"]) == (
        "123",
        "user-123@example.com",
        "x",
    )
    assert "scp" not in claims
    assert "legacy_identity_id" not in await verify(oidc, issuer.token(legacy_identity_id=None))


async def test_a_token_signed_with_another_key_names_the_published_kid_and_fails(
    oidc: httpx.AsyncClient, issuer: OidcIssuer
) -> None:
    forged = issuer.token(signing_key=OidcIssuer.generate().signing_key)
    assert jwt.get_unverified_header(forged)["kid"] == issuer.key_id
    with pytest.raises(jwt.InvalidSignatureError):
        await verify(oidc, forged)


async def test_the_control_api_mints_a_token_for_the_given_claims(oidc: httpx.AsyncClient) -> None:
    answer = await mint(
        oidc,
        legacy_identity_id="42",
        scp="openid guardian.mobile-purchases-api.update.self",
        aud="other-audience",
        expires_in=60,
        claims={"email": "a@example.com"},
    )
    assert {k: answer[k] for k in ("token_type", "expires_in", "scope")} == {
        "token_type": "Bearer",
        "expires_in": 60,
        "scope": "openid guardian.mobile-purchases-api.update.self",
    }
    claims = await verify(oidc, answer["access_token"], audience="other-audience")
    assert (claims["legacy_identity_id"], claims["scp"], claims["email"], claims["exp"] - claims["iat"]) == (
        "42",
        "openid guardian.mobile-purchases-api.update.self",
        "a@example.com",
        60,
    )
    state = (await oidc.get("/__emulator/state")).json()
    assert state["tokens_minted"] == 1


async def test_the_control_api_mints_tokens_without_a_claim_or_already_expired(
    oidc: httpx.AsyncClient,
) -> None:
    no_user = await mint(oidc, legacy_identity_id=None, scp=None)
    claims = await verify(oidc, no_user["access_token"])
    assert ("legacy_identity_id" in claims, "scp" in claims, no_user["scope"]) == (False, False, "")
    expired = await mint(oidc, expires_in=-120)
    with pytest.raises(jwt.ExpiredSignatureError):
        await verify(oidc, expired["access_token"])


async def test_a_bad_token_request_lists_every_problem(oidc: httpx.AsyncClient) -> None:
    response = await oidc.post(
        "/__emulator/tokens",
        json={"legacy_identity_id": 7, "scp": [1], "aud": "", "expires_in": "1h", "kid": "x"},
    )
    assert response.status_code == 400
    assert response.json()["errors"] == [
        "legacy_identity_id must be a string or null",
        "scp must be a list of strings, a string or null",
        "aud must be a non-empty string or list of strings",
        "expires_in must be an integer (seconds)",
        "unknown fields: kid (put other claims under 'claims')",
    ]


async def test_rotation_signs_with_a_new_key_and_keeps_the_old_one_published(
    oidc: httpx.AsyncClient, issuer: OidcIssuer
) -> None:
    old_kid = issuer.key_id
    old_token = issuer.token()
    response = await oidc.post("/__emulator/rotate")
    assert response.status_code == 200
    new_kid = response.json()["kid"]
    assert new_kid != old_kid
    assert response.json()["keys"] == [old_kid, new_kid]
    published = [key["kid"] for key in (await oidc.get(KEYS)).json()["keys"]]
    assert published == [new_kid, old_kid]
    new_token = (await mint(oidc))["access_token"]
    assert jwt.get_unverified_header(new_token)["kid"] == new_kid
    await verify(oidc, new_token)
    await verify(oidc, old_token)  # issued before the rotation: still good


async def test_rotation_can_withdraw_the_old_keys(oidc: httpx.AsyncClient, issuer: OidcIssuer) -> None:
    old_token = issuer.token()
    response = await oidc.post("/__emulator/rotate", json={"retire_previous": True})
    assert response.json()["keys"] == [response.json()["kid"]]
    with pytest.raises(KeyError):
        await verify(oidc, old_token)
    bad = await oidc.post("/__emulator/rotate", json={"retire_previous": "yes"})
    assert bad.status_code == 400


async def test_reset_keeps_the_keys(oidc: httpx.AsyncClient, issuer: OidcIssuer) -> None:
    token = (await mint(oidc))["access_token"]
    assert (await oidc.post("/__emulator/reset")).status_code == 200
    assert (await oidc.get("/__emulator/state")).json() == {
        "issuer": DEFAULT_ISSUER,
        "audience": DEFAULT_AUDIENCE,
        "signing_key_id": issuer.key_id,
        "key_ids": [issuer.key_id],
        "tokens_minted": 0,
    }
    await verify(oidc, token)


async def test_faults_apply_to_the_jwks(oidc: httpx.AsyncClient) -> None:
    await oidc.post("/__emulator/faults", json={"status": 503, "path_prefix": KEYS})
    assert (await oidc.get(KEYS)).status_code == 503
    assert (await oidc.get(KEYS)).status_code == 200


def test_keys_persist_in_the_directory_with_their_rotations(tmp_path: Path) -> None:
    first = OidcIssuer.load_or_create(tmp_path, "https://issuer.example")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["oidc-key-0001.pem"]
    again = OidcIssuer.load_or_create(tmp_path, "https://issuer.example")
    assert (again.key_ids, again.url) == (first.key_ids, "https://issuer.example")

    new_kid = again.rotate()
    reloaded = OidcIssuer.load_or_create(tmp_path)
    assert reloaded.key_ids == [first.key_id, new_kid]
    assert reloaded.key_id == new_kid

    newest = reloaded.rotate(retire_previous=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["oidc-key-0003.pem"]
    assert OidcIssuer.load_or_create(tmp_path).key_ids == [newest]


# --- the CLI ---------------------------------------------------------------------------------


def test_oidc_token_prints_a_token_the_served_keys_verify(tmp_path: Path) -> None:
    result = CliRunner().invoke(emulate_app, ["oidc-token", "--user-id", "123", "--cert-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    token = result.output.strip()
    keys = jwt.PyJWKSet.from_dict(OidcIssuer.load_or_create(tmp_path).jwks())
    claims = jwt.decode(
        token,
        keys[jwt.get_unverified_header(token)["kid"]],
        algorithms=["RS256"],
        audience=DEFAULT_AUDIENCE,
        issuer=DEFAULT_ISSUER,
    )
    assert (claims["legacy_identity_id"], claims["scp"]) == ("123", [DEFAULT_SCOPE])


def test_oidc_token_options_set_scopes_issuer_audience_and_no_user(tmp_path: Path) -> None:
    args = ["oidc-token", "--user-id", "", "--scope", "a", "--scope", "b", "--cert-dir", str(tmp_path)]
    args += ["--issuer", "https://i.example", "--audience", "aud", "--expires-in", "-5"]
    result = CliRunner().invoke(emulate_app, args)
    assert result.exit_code == 0, result.output
    claims = jwt.decode(result.output.strip(), options={"verify_signature": False})
    assert "legacy_identity_id" not in claims
    assert (claims["scp"], claims["iss"], claims["aud"], claims["exp"] - claims["iat"]) == (
        ["a", "b"],
        "https://i.example",
        "aud",
        -5,
    )


def test_emulate_oidc_prints_the_settings_and_serves_the_directory_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    served: list[Any] = []
    monkeypatch.setattr(uvicorn.Server, "run", lambda self, sockets=None: served.append(self.config))
    args = ["oidc", "--port", "8099", "--cert-dir", str(tmp_path), "--audience", "aud-x"]
    result = CliRunner().invoke(emulate_app, args)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"SF_OIDC_ISSUER={DEFAULT_ISSUER}",
        "SF_OIDC_AUDIENCE=aud-x",
        "SF_OIDC_JWKS_URL=http://127.0.0.1:8099/v1/keys",
        f"SF_OIDC_SCOPE={DEFAULT_SCOPE}",
        "SF_OIDC_USER_ID_CLAIM=legacy_identity_id",
        f"oidc emulator listening on http://127.0.0.1:8099 (state in {tmp_path})",
    ]
    [config] = served
    assert (config.host, config.port) == ("127.0.0.1", 8099)
    issuer: OidcIssuer = config.app.state.emulator
    assert (issuer.key_ids, issuer.audience) == (OidcIssuer.load_or_create(tmp_path).key_ids, "aud-x")
