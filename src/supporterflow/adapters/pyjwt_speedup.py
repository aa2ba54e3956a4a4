"""PyJWT's base64url check of JWS segments, at C speed.

Why: since 2.14 PyJWT rejects any JWS segment with a character outside the base64url alphabet
(GHSA-hxm8-2xgr-2p9m), and does so with a Python generator over every character. An App Store
JWS carries its certificate chain in its header and a notification nests three of them, so that
one check was 89% of the time of verifying a notification (benchmarks/apple_ingest.py) and
almost half of a subscription fetch's CPU; Apple's library parses each JWS three times.

``install`` replaces that one static method with a copy whose only change is the alphabet
check: ``bytes.translate`` deleting the alphabet leaves nothing exactly when every character is
in it. It does so only when the installed method is, byte for byte, the code this copy was made
from (its source's SHA-256): a PyJWT release that changes it is left alone, and the benchmark
shows the cost again. tests/unit/test_pyjwt_speedup.py checks that both accept and reject the
same inputs, with the same messages.
"""

from __future__ import annotations

import binascii
import hashlib
import inspect
import textwrap
from typing import Final

from jwt import api_jws
from jwt.exceptions import DecodeError
from jwt.utils import base64url_decode, base64url_encode

#: SHA-256 of the dedented source of ``PyJWS._decode_base64url_segment`` in PyJWT 2.15.1.
VERIFIED_SOURCE_SHA256: Final = "81439093387b608a8b90267c540a23c0afee9869668cee63b86f26e3a4e70b7e"

_ORIGINAL = api_jws.PyJWS._decode_base64url_segment


def decode_base64url_segment(segment: bytes, name: str) -> bytes:
    """PyJWT 2.15.1's ``_decode_base64url_segment``, with the alphabet check done in C."""
    padding = len(segment) - len(segment.rstrip(b"="))
    stripped = segment[: len(segment) - padding]
    if padding > 2:
        raise DecodeError(f"Invalid {name} padding")

    if padding and len(segment) % 4 != 0:
        raise DecodeError(f"Invalid {name} padding")

    if len(stripped) % 4 == 1 or stripped.translate(None, api_jws._BASE64URL_ALPHABET):
        raise DecodeError(f"Invalid {name} padding")

    try:
        decoded = base64url_decode(stripped)
    except (TypeError, binascii.Error) as err:
        raise DecodeError(f"Invalid {name} padding") from err

    if base64url_encode(decoded) != stripped:
        raise DecodeError(f"Invalid {name} padding")

    return decoded


def source_fingerprint() -> str:
    """SHA-256 of the installed PyJWT's original method (empty when its source is unavailable)."""
    try:
        source = textwrap.dedent(inspect.getsource(_ORIGINAL))
    except (OSError, TypeError):
        return ""
    return hashlib.sha256(source.encode()).hexdigest()


def install() -> bool:
    """Use the fast copy when PyJWT's method is the verified one; True when it is in use."""
    if source_fingerprint() != VERIFIED_SOURCE_SHA256:
        return False
    api_jws.PyJWS._decode_base64url_segment = staticmethod(decode_base64url_segment)  # type: ignore[method-assign]
    return True
