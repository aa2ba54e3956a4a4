"""Identity hashes: the anonymous, permanent reference to a supporter's email or mobile.

Upstream services store these hashes instead of the identities, ask the user service to match
them, and ERPNext uses them as the ids of Email and Phone entries (spec/supporter-events.md §7). So
the function below can never change once hashes have been handed out: not the key, not the
message layout, not the normalisation. docs/identity-hash.md states it for operators.

    hash = lowercase hex of HMAC-SHA256(key, "<kind>:<normalised content>")

Normalisation happens for hashing only: emails are trimmed and lower-cased (mailbox names are
case-insensitive in practice, and one supporter typing ``Dante@…`` and ``dante@…`` is one person);
mobiles arrive already normalised by validation (``+447…``). The content forwarded downstream is
left exactly as received.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any


def identity_hash(key: bytes, kind: str, content: str) -> str:
    normalised = content.strip().lower() if kind == "email" else content
    return hmac.new(key, f"{kind}:{normalised}".encode(), hashlib.sha256).hexdigest()


def complete_identity_hashes(request: Mapping[str, Any], key: bytes) -> list[dict[str, str]]:
    """Fill ``hash`` on every identity of the request's ``user-service`` part that has none, in
    place (a caller-supplied hash is kept), and return ``[{"kind", "hash"}]`` for the response.

    ``request`` is a validated ``ProducerRequest``: identities have a ``kind`` and a normalised
    ``content``."""
    signup = request.get("user-service")
    if not signup:
        return []
    hashes = []
    for identity in signup["identities"]:
        if not identity.get("hash"):
            identity["hash"] = identity_hash(key, identity["kind"], identity["content"])
        hashes.append({"kind": identity["kind"], "hash": identity["hash"]})
    return hashes


def user_hash(user_id: str, identity_key: bytes) -> str:
    """A mobile user id under the identity key: what the GDPR audit and the activity log keep
    instead of the id (a keyed hash: user ids are guessable)."""
    return hmac.new(identity_key, user_id.encode(), hashlib.sha256).hexdigest()
