"""Google's OAuth 2.0 for service accounts, as the Play Developer API needs it.

The client signs a JWT with the service account's private key (RS256, header ``kid`` = the key
id; claims ``iss`` = ``client_email``, ``aud`` = the token endpoint, ``scope``, ``iat``, ``exp``
at most an hour later) and posts it to the token endpoint as a JWT-bearer grant (RFC 7523); the
endpoint answers an access token used as ``Authorization: Bearer`` on the API.

The emulator generates the service account (RSA 2048) and writes Google's service-account JSON
file, so an unmodified ``google.oauth2.service_account.Credentials`` — or any client reading that
file — signs in to the emulator. Access tokens are self-contained (an HMAC over the account and
the expiry, keyed by the account's private key), so a restarted emulator with the same key
directory keeps accepting the tokens it handed out, and nothing needs storing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

SCOPE = "https://www.googleapis.com/auth/androidpublisher"
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"  # noqa: S105 (a URL)
"""The audience Google's libraries put in every assertion, whatever ``token_uri`` says; the
emulator accepts it beside its own URL."""
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
SERVICE_ACCOUNT_FILE = "service-account.json"
DEFAULT_PROJECT_ID = "sf-emulator"
DEFAULT_CLIENT_EMAIL = f"play-developer-api@{DEFAULT_PROJECT_ID}.iam.gserviceaccount.com"
DEFAULT_CLIENT_ID = "100000000000000000001"
ACCESS_TOKEN_LIFETIME_S = 3599
MAX_ASSERTION_LIFETIME_S = 3600
CLOCK_SKEW_S = 60
_ACCESS_TOKEN_PREFIX = "ya29.sf-emulator."  # noqa: S105 (a format, not a secret)


@dataclass(frozen=True)
class ServiceAccount:
    """A Google service account: its RSA key and identifiers."""

    private_key: rsa.RSAPrivateKey
    private_key_id: str
    client_email: str = DEFAULT_CLIENT_EMAIL
    client_id: str = DEFAULT_CLIENT_ID
    project_id: str = DEFAULT_PROJECT_ID

    @property
    def private_key_pem(self) -> str:
        """PKCS#8 PEM, as in Google's JSON key files."""
        return self.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()

    @classmethod
    def generate(cls, client_email: str = DEFAULT_CLIENT_EMAIL) -> ServiceAccount:
        return cls(rsa.generate_private_key(65537, 2048), secrets.token_hex(20), client_email)

    def info(self, token_uri: str) -> dict[str, str]:
        """The service-account JSON Google lets you download, with ``token_uri`` the emulator's."""
        email = self.client_email.replace("@", "%40")
        return {
            "type": "service_account",
            "project_id": self.project_id,
            "private_key_id": self.private_key_id,
            "private_key": self.private_key_pem,
            "client_email": self.client_email,
            "client_id": self.client_id,
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": token_uri,
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "client_x509_cert_url": f"https://www.googleapis.com/robot/v1/metadata/x509/{email}",
            "universe_domain": "googleapis.com",
        }

    @classmethod
    def from_info(cls, info: dict[str, Any]) -> ServiceAccount:
        key = serialization.load_pem_private_key(str(info["private_key"]).encode(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError("a service account key is an RSA private key")
        return cls(
            key,
            str(info["private_key_id"]),
            str(info["client_email"]),
            str(info["client_id"]),
            str(info["project_id"]),
        )

    @classmethod
    def load_or_create(cls, directory: Path, token_uri: str) -> ServiceAccount:
        """The account in ``directory``'s ``service-account.json`` (a new one if there is none),
        with the file (re)written to name ``token_uri``: the key survives restarts, the URL
        follows the port the emulator serves on."""
        path = directory / SERVICE_ACCOUNT_FILE
        account = cls.from_info(json.loads(path.read_text())) if path.exists() else cls.generate()
        directory.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(account.info(token_uri), indent=2) + "\n")
        path.chmod(0o600)
        return account

    def _token_key(self) -> bytes:
        der = self.private_key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return hashlib.sha256(b"supporterflow google emulator access token\0" + der).digest()

    def issue_access_token(self, scope: str, now_s: float) -> str:
        """An access token valid for :data:`ACCESS_TOKEN_LIFETIME_S` seconds from ``now_s``."""
        claims = {"sub": self.client_email, "scope": scope, "exp": int(now_s) + ACCESS_TOKEN_LIFETIME_S}
        body = (
            base64.urlsafe_b64encode(json.dumps(claims, separators=(",", ":")).encode()).decode().rstrip("=")
        )
        mac = hmac.new(self._token_key(), body.encode(), hashlib.sha256).hexdigest()
        return f"{_ACCESS_TOKEN_PREFIX}{body}.{mac}"

    def access_token_valid(self, token: str, now_s: float) -> bool:
        """Whether ``token`` is one this account's token endpoint issued, unexpired, for the
        Play Developer API scope."""
        if not token.startswith(_ACCESS_TOKEN_PREFIX):
            return False
        body, _, mac = token.removeprefix(_ACCESS_TOKEN_PREFIX).partition(".")
        expected = hmac.new(self._token_key(), body.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(mac, expected):
            return False
        try:
            claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        except (binascii.Error, ValueError):
            return False
        return bool(claims["exp"] > now_s and SCOPE in str(claims["scope"]).split())


def write_service_account(directory: Path, token_uri: str) -> Path:
    """Write (or rewrite) ``directory``'s service-account file naming ``token_uri``, keeping its
    key; returns the file's path, the value of ``SF_GOOGLE_SERVICE_ACCOUNT_FILE``. For the
    in-process emulator ``token_uri`` is any URL whose path is ``/token``: the service reaches it
    through its in-process transport by path."""
    ServiceAccount.load_or_create(directory, token_uri)
    return directory / SERVICE_ACCOUNT_FILE


class GrantError(Exception):
    """A refused token request, answered 400 ``{"error", "error_description"}`` as Google does."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


_SHORT_LIVED = (
    "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. "
    "Check your iat and exp values in the JWT claim."
)


def grant(
    account: ServiceAccount, form: dict[str, str], audiences: Iterable[str], now_s: float
) -> dict[str, Any]:
    """The token endpoint's answer to a form body, or :class:`GrantError`.

    The assertion must be signed (RS256) by ``account``'s key (``kid``, when present, naming it),
    issued by its ``client_email``, addressed to one of ``audiences``, short-lived and current,
    and ask for the Play Developer API scope."""
    if form.get("grant_type") != JWT_BEARER_GRANT:
        raise GrantError("unsupported_grant_type", f"Invalid grant_type: {form.get('grant_type', '')}")
    assertion = form.get("assertion")
    if not assertion:
        raise GrantError("invalid_request", "Missing required parameter: assertion")
    try:
        header = jwt.get_unverified_header(assertion)
        unverified = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise GrantError("invalid_grant", "Invalid JWT: malformed") from None
    if unverified.get("iss") != account.client_email:
        raise GrantError("invalid_grant", "Invalid grant: account not found")
    if header.get("alg") != "RS256" or header.get("kid", account.private_key_id) != account.private_key_id:
        raise GrantError("invalid_grant", "Invalid JWT Signature.")
    try:
        claims = jwt.decode(
            assertion,
            account.private_key.public_key(),
            algorithms=["RS256"],
            options={"verify_aud": False, "verify_exp": False, "verify_iat": False, "verify_nbf": False},
        )
    except jwt.PyJWTError:
        raise GrantError("invalid_grant", "Invalid JWT Signature.") from None
    accepted = set(audiences)
    if claims.get("aud") not in accepted:
        raise GrantError(
            "invalid_grant", f"Invalid JWT: Failed audience check. The right audience is {GOOGLE_TOKEN_URI}"
        )
    iat, exp = claims.get("iat"), claims.get("exp")
    if not isinstance(iat, int) or not isinstance(exp, int):
        raise GrantError("invalid_grant", _SHORT_LIVED)
    if iat > now_s + CLOCK_SKEW_S or exp < now_s - CLOCK_SKEW_S or exp - iat > MAX_ASSERTION_LIFETIME_S:
        raise GrantError("invalid_grant", _SHORT_LIVED)
    scope = claims.get("scope")
    if not isinstance(scope, str) or SCOPE not in scope.split():
        raise GrantError("invalid_scope", "Invalid OAuth scope or ID token audience provided.")
    return {
        "access_token": account.issue_access_token(scope, now_s),
        "expires_in": ACCESS_TOKEN_LIFETIME_S,
        "token_type": "Bearer",
    }


def sign_assertion(
    account: ServiceAccount,
    now_s: float,
    *,
    audience: str = GOOGLE_TOKEN_URI,
    scope: str = SCOPE,
    lifetime_s: int = MAX_ASSERTION_LIFETIME_S,
    issuer: str | None = None,
    signing_key: rsa.RSAPrivateKey | None = None,
) -> str:
    """A JWT-bearer assertion as Google's client libraries sign it; the keyword arguments make
    the bad ones tests need (wrong audience, scope, issuer, key, or lifetime)."""
    claims = {
        "iss": issuer or account.client_email,
        "aud": audience,
        "scope": scope,
        "iat": int(now_s),
        "exp": int(now_s) + lifetime_s,
    }
    return jwt.encode(
        claims, signing_key or account.private_key, algorithm="RS256", headers={"kid": account.private_key_id}
    )
