"""What the dashboard may show of stored values: never identity contents, receipts or purchase
tokens in clear (the issue's rule for every page).

The rules are the logs' (``logs.scrub`` with ``logs.redact_text``): sensitive field names, and
values judged by their shape, since some travel under neutral names (a Google purchase token *is*
a Google subscription's ``subscriptionId``). What is hidden is replaced by a short fingerprint, so
two mentions of the same value can still be matched. Ids are shown as ``sha256:…`` when they are
not plain (``shown_id``), which the search also accepts the clear value for.

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

from supporterflow.logs import redact_text, scrub

__all__ = ["References", "fingerprint", "safe", "safe_json", "shown_id"]

#: Ids that are neither secret nor identity: Apple transaction ids, UUIDs.
_PLAIN_ID: Final = re.compile(r"^(\d{1,20}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$")


def fingerprint(value: str) -> str:
    return "sha256:" + hashlib.sha256(value.encode()).hexdigest()[:12]


def shown_id(value: str) -> str:
    """An id as a page shows it: plain ids as they are, anything else fingerprinted (a Google
    subscription's id is its purchase token)."""
    return value if _PLAIN_ID.match(value) else fingerprint(value)


def safe(value: Any) -> Any:
    """``value`` with sensitive fields and sensitive-looking strings fingerprinted, at any depth."""
    return scrub(value, redact_text)


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
