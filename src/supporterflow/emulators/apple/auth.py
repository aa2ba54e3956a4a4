"""The App Store Server API's authentication: an ES256 bearer JWT signed with an App Store
Connect API key, as ``AppStoreServerAPIClient`` sends it (header ``kid``; claims ``iss``,
``aud = appstoreconnect-v1``, ``bid``, ``exp``).

The emulator generates the key pair (or is given a private key) and hands the private key to
whoever plays the client, so a production-shaped client config works unchanged against it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

AUDIENCE = "appstoreconnect-v1"
API_KEY_FILE = "api-key.p8"
DEFAULT_KEY_ID = "SFEMULATOR"
DEFAULT_ISSUER_ID = "57246542-96fe-1a63-e053-0824d011072a"
"""Test values with Apple's shapes (a 10-character key id, a UUID issuer), not secrets."""


@dataclass(frozen=True)
class ApiKey:
    """An App Store Connect API key: what the client signs with and the emulator checks."""

    key_id: str
    issuer_id: str
    private_key: ec.EllipticCurvePrivateKey

    @property
    def private_key_pem(self) -> bytes:
        """PKCS#8 PEM, the format of Apple's ``.p8`` downloads and of the client's
        ``signing_key``."""
        return self.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    @classmethod
    def generate(cls, key_id: str = DEFAULT_KEY_ID, issuer_id: str = DEFAULT_ISSUER_ID) -> ApiKey:
        return cls(key_id, issuer_id, ec.generate_private_key(ec.SECP256R1()))

    @classmethod
    def from_pem(cls, pem: bytes, key_id: str = DEFAULT_KEY_ID, issuer_id: str = DEFAULT_ISSUER_ID) -> ApiKey:
        key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError("an App Store Connect API key is an EC P-256 private key")
        return cls(key_id, issuer_id, key)

    @classmethod
    def load_or_create(
        cls, directory: Path, key_id: str = DEFAULT_KEY_ID, issuer_id: str = DEFAULT_ISSUER_ID
    ) -> ApiKey:
        """The key saved as ``api-key.p8`` in ``directory``, or a new one saved there, so a
        restarted emulator keeps accepting the client's configured key."""
        path = directory / API_KEY_FILE
        if path.exists():
            return cls.from_pem(path.read_bytes(), key_id, issuer_id)
        key = cls.generate(key_id, issuer_id)
        directory.mkdir(parents=True, exist_ok=True)
        path.write_bytes(key.private_key_pem)
        path.chmod(0o600)
        return key


def bearer_bundle_id(authorization: str | None, key: ApiKey) -> str | None:
    """The ``bid`` of a valid bearer token, None when the request is not authenticated (Apple
    then answers 401). ``exp`` is required and checked; ``iat`` is optional (the Python library
    does not send one)."""
    if authorization is None or not authorization.startswith("Bearer "):
        return None
    token = authorization.removeprefix("Bearer ")
    try:
        if jwt.get_unverified_header(token).get("kid") != key.key_id:
            return None
        claims = jwt.decode(
            token,
            key.private_key.public_key(),
            algorithms=["ES256"],
            audience=AUDIENCE,
            issuer=key.issuer_id,
            options={"require": ["exp", "iss", "aud", "bid"]},
        )
    except jwt.PyJWTError:
        return None
    bundle_id = claims["bid"]
    return bundle_id if isinstance(bundle_id, str) else None
