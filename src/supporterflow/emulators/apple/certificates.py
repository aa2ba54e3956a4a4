"""A throw-away certificate chain shaped like Apple's, so the unmodified ``SignedDataVerifier``
accepts what the emulator signs once its root is trusted (``SF_APPLE_ROOT_CERTS``).

The keys are generated at run time and never committed. What the verifier (and OpenSSL's strict
mode under it) insists on, and why each piece is here:

* three certificates, root -> intermediate -> leaf, with the leaf and intermediate sent in ``x5c``;
* Apple's marker extensions: ``1.2.840.113635.100.6.2.1`` on the intermediate and
  ``1.2.840.113635.100.6.11.1`` on the leaf (the verifier looks them up by OID);
* Subject and Authority Key Identifiers: ``X509_STRICT`` rejects a chain without them;
* a fixed validity window (2020-2040 by default): with online checks off the verifier checks the
  chain at the payload's ``signedDate``, so tests with a frozen clock keep working.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

APPLE_INTERMEDIATE_OID = x509.ObjectIdentifier("1.2.840.113635.100.6.2.1")
APPLE_LEAF_OID = x509.ObjectIdentifier("1.2.840.113635.100.6.11.1")
_DER_NULL = b"\x05\x00"
"""The value of Apple's marker extensions: the verifier only checks that they are present."""

NOT_BEFORE = datetime(2020, 1, 1, tzinfo=UTC)
NOT_AFTER = datetime(2040, 1, 1, tzinfo=UTC)

_ROOT_FILE = "root.der"
ROOT_PEM_FILE = "root.pem"
_INTERMEDIATE_FILE = "intermediate.der"
_LEAF_FILE = "leaf.der"
_LEAF_KEY_FILE = "leaf-key.pem"


@dataclass(frozen=True)
class CertificateChain:
    """The emulator's signing identity: trust ``root_der`` and verify what ``leaf_key`` signs."""

    root_der: bytes
    intermediate_der: bytes
    leaf_der: bytes
    leaf_key: ec.EllipticCurvePrivateKey

    @property
    def root_pem(self) -> bytes:
        return x509.load_der_x509_certificate(self.root_der).public_bytes(serialization.Encoding.PEM)

    @property
    def x5c(self) -> list[str]:
        """The JWS ``x5c`` header: leaf, intermediate, root, each base64 DER (not URL-safe)."""
        return [
            base64.b64encode(der).decode() for der in (self.leaf_der, self.intermediate_der, self.root_der)
        ]

    def save(self, directory: Path) -> Path:
        """Write the chain and the leaf key under ``directory``; returns the root PEM's path,
        the file to list in ``SF_APPLE_ROOT_CERTS``."""
        directory.mkdir(parents=True, exist_ok=True)
        (directory / _ROOT_FILE).write_bytes(self.root_der)
        (directory / ROOT_PEM_FILE).write_bytes(self.root_pem)
        (directory / _INTERMEDIATE_FILE).write_bytes(self.intermediate_der)
        (directory / _LEAF_FILE).write_bytes(self.leaf_der)
        key = self.leaf_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        key_path = directory / _LEAF_KEY_FILE
        key_path.write_bytes(key)
        key_path.chmod(0o600)
        return directory / ROOT_PEM_FILE

    @classmethod
    def load(cls, directory: Path) -> CertificateChain:
        key = serialization.load_pem_private_key((directory / _LEAF_KEY_FILE).read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{directory / _LEAF_KEY_FILE} is not an EC private key")
        return cls(
            root_der=(directory / _ROOT_FILE).read_bytes(),
            intermediate_der=(directory / _INTERMEDIATE_FILE).read_bytes(),
            leaf_der=(directory / _LEAF_FILE).read_bytes(),
            leaf_key=key,
        )

    @classmethod
    def load_or_create(cls, directory: Path) -> CertificateChain:
        """The chain saved in ``directory``, or a new one saved there: the emulator and the
        notification sender share one root across processes this way."""
        if (directory / _LEAF_KEY_FILE).exists():
            return cls.load(directory)
        chain = generate_chain()
        chain.save(directory)
        return chain


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "supporterflow emulator (test only)"),
        ]
    )


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[str, ec.EllipticCurvePrivateKey] | None,
    *,
    ca: bool,
    marker: x509.ObjectIdentifier | None,
    not_before: datetime,
    not_after: datetime,
) -> x509.Certificate:
    """One certificate; ``issuer`` None makes it self-signed."""
    issuer_name, issuer_key = issuer if issuer is not None else (subject, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=not ca,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False
        )
    )
    if marker is not None:
        builder = builder.add_extension(x509.UnrecognizedExtension(marker, _DER_NULL), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def generate_chain(
    *,
    not_before: datetime = NOT_BEFORE,
    not_after: datetime = NOT_AFTER,
    leaf_not_after: datetime | None = None,
) -> CertificateChain:
    """A new root, intermediate and leaf (EC P-256). ``leaf_not_after`` shortens the leaf's
    validity alone, to test that a payload signed after the leaf expired is rejected."""
    root_key, intermediate_key, leaf_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    window = {"not_before": not_before, "not_after": not_after}
    root = _certificate("Emulated Apple Root CA", root_key, None, ca=True, marker=None, **window)
    intermediate = _certificate(
        "Emulated Apple WWDR Intermediate",
        intermediate_key,
        ("Emulated Apple Root CA", root_key),
        ca=True,
        marker=APPLE_INTERMEDIATE_OID,
        **window,
    )
    leaf = _certificate(
        "Emulated App Store Signing Leaf",
        leaf_key,
        ("Emulated Apple WWDR Intermediate", intermediate_key),
        ca=False,
        marker=APPLE_LEAF_OID,
        not_before=not_before,
        not_after=leaf_not_after or not_after,
    )
    return CertificateChain(
        root_der=root.public_bytes(serialization.Encoding.DER),
        intermediate_der=intermediate.public_bytes(serialization.Encoding.DER),
        leaf_der=leaf.public_bytes(serialization.Encoding.DER),
        leaf_key=leaf_key,
    )
