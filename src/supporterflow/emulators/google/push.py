"""Pub/Sub push as Google delivers it: the push envelope, and the OIDC token in
``Authorization: Bearer`` that proves the push came from Google.

Google signs push tokens with the keys of its OAuth certificates
(``https://www.googleapis.com/oauth2/v1/certs``: ``{kid: PEM X.509 certificate}``; v3 is the same
keys as a JWKS). The token is an RS256 JWT, header ``kid``, claims ``iss =
https://accounts.google.com``, ``aud`` (the subscription's push audience, by default the push
endpoint URL), ``email`` (the push service account) with ``email_verified``, ``sub``/``azp``,
``iat`` and ``exp`` an hour later. The emulator has one RSA key with a self-signed certificate
and serves it in both formats, so ``google.oauth2.id_token.verify_token(..., certs_url=...)``
and ``google.auth.jwt.decode(token, certs=...)`` verify what it signs.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

PUSH_ISSUER = "https://accounts.google.com"
DEFAULT_PUSH_EMAIL = "pubsub-push@sf-emulator.iam.gserviceaccount.com"
DEFAULT_SUBSCRIPTION = "projects/sf-emulator/subscriptions/play-rtdn-push"
TOKEN_LIFETIME_S = 3600
NOT_BEFORE = datetime(2020, 1, 1, tzinfo=UTC)
NOT_AFTER = datetime(2040, 1, 1, tzinfo=UTC)
"""A fixed window, like the App Store emulator's chain: verifiers use the key, not the dates."""

PUSH_KEY_FILE = "push-key.pem"
PUSH_CERT_FILE = "push-cert.pem"


def _key_id(key: rsa.RSAPublicKey) -> str:
    """40 hex digits, the shape of Google's certificate ids, derived from the key."""
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha1(der, usedforsecurity=False).hexdigest()


def _subject(email: str) -> str:
    """A stable 21-digit numeric id for a service account, the shape of Google's ``sub``."""
    return "1" + str(int(hashlib.sha256(email.encode()).hexdigest(), 16))[:20]


def _self_signed(key: rsa.RSAPrivateKey) -> bytes:
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "federated-signon.system.gserviceaccount.com (emulated)"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "supporterflow emulator (test only)"),
        ]
    )
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(NOT_AFTER)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM)


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@dataclass(frozen=True)
class PushSigner:
    """The key Google signs push tokens with, its certificate, and the push service account."""

    key: rsa.RSAPrivateKey
    certificate_pem: bytes
    email: str = DEFAULT_PUSH_EMAIL

    @property
    def key_id(self) -> str:
        return _key_id(self.key.public_key())

    @classmethod
    def generate(cls, email: str = DEFAULT_PUSH_EMAIL) -> PushSigner:
        key = rsa.generate_private_key(65537, 2048)
        return cls(key, _self_signed(key), email)

    @classmethod
    def load_or_create(cls, directory: Path, email: str = DEFAULT_PUSH_EMAIL) -> PushSigner:
        """The key and certificate saved in ``directory``, or new ones saved there, so ``serve``
        (which publishes the certificate) and ``send-notification`` (which signs) agree."""
        key_path, cert_path = directory / PUSH_KEY_FILE, directory / PUSH_CERT_FILE
        if key_path.exists() and cert_path.exists():
            key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
            if not isinstance(key, rsa.RSAPrivateKey):
                raise ValueError(f"{key_path} is not an RSA private key")
            return cls(key, cert_path.read_bytes(), email)
        signer = cls.generate(email)
        directory.mkdir(parents=True, exist_ok=True)
        key_path.write_bytes(
            signer.key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        key_path.chmod(0o600)
        cert_path.write_bytes(signer.certificate_pem)
        return signer

    def certs(self) -> dict[str, str]:
        """``GET /oauth2/v1/certs``: key id -> PEM certificate."""
        return {self.key_id: self.certificate_pem.decode()}

    def jwks(self) -> dict[str, Any]:
        """``GET /oauth2/v3/certs``: the same key as a JWK Set."""
        numbers = self.key.public_key().public_numbers()
        return {
            "keys": [
                {
                    "kty": "RSA",
                    "alg": "RS256",
                    "use": "sig",
                    "kid": self.key_id,
                    "n": _b64url_uint(numbers.n),
                    "e": _b64url_uint(numbers.e),
                }
            ]
        }

    def token(
        self,
        audience: str,
        *,
        now_s: float | None = None,
        lifetime_s: int = TOKEN_LIFETIME_S,
        issuer: str = PUSH_ISSUER,
        email: str | None = None,
        email_verified: bool = True,
        signing_key: rsa.RSAPrivateKey | None = None,
    ) -> str:
        """The OIDC token of one push. The keyword arguments make the bad ones tests need:
        ``now_s`` in the past (expired), another ``issuer`` or ``email``, ``email_verified``
        false, or a ``signing_key`` that is not the published one (same ``kid``: a forgery)."""
        issued = int(time.time() if now_s is None else now_s)
        account = email or self.email
        subject = _subject(account)
        claims = {
            "aud": audience,
            "azp": subject,
            "email": account,
            "email_verified": email_verified,
            "exp": issued + lifetime_s,
            "iat": issued,
            "iss": issuer,
            "sub": subject,
        }
        return jwt.encode(
            claims, signing_key or self.key, algorithm="RS256", headers={"kid": self.key_id, "typ": "JWT"}
        )


def push_body(
    notification: dict[str, Any],
    message_id: str,
    publish_time: str,
    subscription: str = DEFAULT_SUBSCRIPTION,
    attributes: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The push request body of spec §4.1: ``message.data`` is the base64 of the notification's
    JSON; Pub/Sub sends the id and time under both spellings (``messageId`` and ``message_id``)."""
    message: dict[str, Any] = {
        "data": base64.b64encode(json.dumps(notification, separators=(",", ":")).encode()).decode(),
        "messageId": message_id,
        "message_id": message_id,
        "publishTime": publish_time,
        "publish_time": publish_time,
    }
    if attributes:
        message["attributes"] = attributes
    return {"message": message, "subscription": subscription}
