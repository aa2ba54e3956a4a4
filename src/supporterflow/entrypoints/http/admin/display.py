"""What the dashboard may show of stored values: never identity contents, receipts or purchase
tokens in clear (the issue's rule for every page).

Field names catch most of it (``logs.scrub``: ``purchaseToken``, ``email``, ``receipt``…), but
some sensitive values travel under neutral names: a Google purchase token *is* the
``subscriptionId`` of a Google subscription. So values are also judged by their shape: an email
address, a phone number, a Google purchase token, a long base64 blob (a receipt). What is hidden
is replaced by a short fingerprint, so two mentions of the same value can still be matched.

Subscription pages are addressed by a reference, the subscription id sealed with AES-GCM under a
key derived from the identity hash key: URLs (and so access logs and browser history) never hold
a purchase token."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
from typing import Any, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from supporterflow.logs import scrub

__all__ = ["References", "fingerprint", "is_sensitive", "safe", "safe_json", "safe_text", "shown_id"]

_EMAIL: Final = re.compile(r"[^\s@\"'<>]+@[^\s@\"'<>]+\.[A-Za-z]{2,}")
_PHONE: Final = re.compile(r"^(\+\d{6,15}|0\d{9,10})$")
#: Sensitive values inside free text (a failure reason): each match is replaced.
_EMBEDDED: Final = re.compile(
    r"[^\s@\"'<>]+@[^\s@\"'<>]+\.[A-Za-z]{2,}"  # an email address
    r"|\b[a-z]{10,40}\.[A-Za-z0-9_-]{20,}"  # a Google purchase token
    r"|[A-Za-z0-9+/=_-]{120,}"  # a receipt or another long blob
    r"|\+\d{10,15}\b|\b0\d{10}\b"  # a phone number
)
_GOOGLE_TOKEN: Final = re.compile(r"^[a-z]{10,40}\.[A-Za-z0-9_-]{20,}$")
_BLOB: Final = re.compile(r"^[A-Za-z0-9+/=_-]{120,}$")
#: Ids that are neither secret nor identity: Apple transaction ids, UUIDs.
_PLAIN_ID: Final = re.compile(r"^(\d{1,20}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$")


def fingerprint(value: str) -> str:
    return "sha256:" + hashlib.sha256(value.encode()).hexdigest()[:12]


def is_sensitive(value: str) -> bool:
    compact = value.replace(" ", "")
    return bool(
        _EMAIL.fullmatch(value) or _PHONE.match(compact) or _GOOGLE_TOKEN.match(value) or _BLOB.match(value)
    )


def shown_id(value: str) -> str:
    """An id as a page shows it: plain ids as they are, anything else fingerprinted (a Google
    subscription's id is its purchase token)."""
    return value if _PLAIN_ID.match(value) else fingerprint(value)


def safe(value: Any) -> Any:
    """``value`` with sensitive fields and sensitive-looking strings fingerprinted, at any depth."""
    return scrub(value, _safe_string)


def _safe_string(value: str) -> str:
    return fingerprint(value) if is_sensitive(value) else safe_text(value)


def safe_text(text: str) -> str:
    """Free text (a failure reason) with every sensitive value in it fingerprinted."""
    return _EMBEDDED.sub(lambda match: fingerprint(match.group(0)), text)


def safe_json(body: bytes, width: int = 400) -> str:
    try:
        text = json.dumps(safe(json.loads(body)), separators=(",", ":"), ensure_ascii=False, default=str)
    except ValueError:
        return f"<{len(body)} bytes, not JSON>"
    return text if len(text) <= width else text[: width - 1] + "…"


class References:
    """Opaque, tamper-proof references to subscription ids for URLs."""

    def __init__(self, secret: bytes) -> None:
        key = hmac.new(secret, b"supporterflow dashboard references", hashlib.sha256).digest()
        self._aead = AESGCM(key)

    def seal(self, subscription_id: str) -> str:
        nonce = os.urandom(12)
        sealed = nonce + self._aead.encrypt(nonce, subscription_id.encode(), b"subscription")
        return base64.urlsafe_b64encode(sealed).decode().rstrip("=")

    def open(self, reference: str) -> str | None:
        """The subscription id, or None for a reference this service did not make."""
        try:
            sealed = base64.urlsafe_b64decode(reference + "=" * (-len(reference) % 4))
            return self._aead.decrypt(sealed[:12], sealed[12:], b"subscription").decode()
        except (InvalidTag, ValueError, binascii.Error, UnicodeDecodeError):
            return None
