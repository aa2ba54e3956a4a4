"""The fast copy of PyJWT's base64url segment check accepts and rejects exactly what PyJWT's own
does, with the same messages, and is only installed over the code it was copied from."""

from __future__ import annotations

import random
from collections.abc import Callable

import jwt
import pytest
from jwt import api_jws

from supporterflow.adapters import pyjwt_speedup

ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
JUNK = b"=+/!. \n\x00\xff~"


def outcome(decode: Callable[[bytes, str], bytes], segment: bytes) -> tuple[str, object]:
    try:
        return ("ok", decode(segment, "payload"))
    except jwt.DecodeError as error:
        return ("error", str(error))


def segments() -> list[bytes]:
    rng = random.Random(20261123)
    cases = [b"", b"=", b"==", b"===", b"A", b"AA", b"AA=", b"AA==", b"AAA=", b"AB==", b"QQ", b"QR", b"!!!!"]
    for _ in range(20_000):
        length = rng.randrange(0, 24)
        chars = bytearray(rng.choice(ALPHABET) for _ in range(length))
        if chars and rng.random() < 0.3:
            chars[rng.randrange(len(chars))] = rng.choice(JUNK)
        cases.append(bytes(chars) + b"=" * rng.choice([0, 0, 0, 1, 2, 3]))
    return cases


def test_the_installed_pyjwt_is_the_verified_one_and_uses_the_fast_copy() -> None:
    assert pyjwt_speedup.source_fingerprint() == pyjwt_speedup.VERIFIED_SOURCE_SHA256
    assert pyjwt_speedup.install() is True
    assert api_jws.PyJWS._decode_base64url_segment is pyjwt_speedup.decode_base64url_segment


def test_both_give_the_same_answer_for_every_segment() -> None:
    original = pyjwt_speedup._ORIGINAL
    checked = segments()
    differences = [
        s for s in checked if outcome(original, s) != outcome(pyjwt_speedup.decode_base64url_segment, s)
    ]
    assert differences == []
    # The cases cover both answers, not only one.
    answers = {outcome(original, s)[0] for s in checked}
    assert answers == {"ok", "error"}


def test_a_whole_token_is_still_verified_and_junk_still_refused() -> None:
    pyjwt_speedup.install()
    token = jwt.encode({"sub": "x"}, "k" * 32, algorithm="HS256")
    assert jwt.decode(token, "k" * 32, algorithms=["HS256"]) == {"sub": "x"}
    with pytest.raises(jwt.DecodeError):
        jwt.decode(token + "!!!!", "k" * 32, algorithms=["HS256"])


def test_another_pyjwt_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    installed = api_jws.PyJWS.__dict__["_decode_base64url_segment"]
    monkeypatch.setattr(pyjwt_speedup, "VERIFIED_SOURCE_SHA256", "0" * 64)
    assert pyjwt_speedup.install() is False
    assert api_jws.PyJWS.__dict__["_decode_base64url_segment"] is installed
