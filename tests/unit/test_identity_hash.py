"""The identity hash is fixed for ever: these values must never change (docs/identity-hash.md)."""

from __future__ import annotations

import hashlib
import hmac

from supporterflow.domain.supporters.identity_hash import complete_identity_hashes, identity_hash

KEY = b"test-key"


def test_the_hash_is_hmac_sha256_of_kind_and_content_in_lowercase_hex() -> None:
    expected = hmac.new(KEY, b"mobile:+447000000000", hashlib.sha256).hexdigest()
    assert identity_hash(KEY, "mobile", "+447000000000") == expected


def test_a_known_value_stays_the_same_for_ever() -> None:
    # A golden value: if this fails, every hash ever handed out would change.
    assert (
        identity_hash(b"k", "email", "Dante@example.com")
        == "1a323af543ce7f5dac974e4fcdf7d7ce41cb23333e8dc8fe5a930850154a85b2"
    )


def test_emails_are_trimmed_and_lower_cased_for_hashing_only() -> None:
    assert identity_hash(KEY, "email", " Dante@Example.COM ") == identity_hash(
        KEY, "email", "dante@example.com"
    )


def test_mobiles_are_hashed_as_validated() -> None:
    assert identity_hash(KEY, "mobile", "+447000000000") != identity_hash(KEY, "mobile", "07000000000")


def test_the_kind_is_part_of_the_hash() -> None:
    assert identity_hash(KEY, "email", "x") != identity_hash(KEY, "mobile", "x")


def test_another_key_gives_another_hash() -> None:
    assert identity_hash(b"one", "email", "a@b.co") != identity_hash(b"two", "email", "a@b.co")


def test_completion_fills_missing_hashes_keeps_given_ones_and_leaves_content_alone() -> None:
    request = {
        "user-service": {
            "identities": [
                {"kind": "email", "content": "Dante@Example.com"},
                {"kind": "mobile", "content": "+447000000000", "hash": "given-by-caller"},
            ]
        }
    }
    hashes = complete_identity_hashes(request, KEY)
    identities = request["user-service"]["identities"]
    assert identities[0]["content"] == "Dante@Example.com"
    assert identities[0]["hash"] == identity_hash(KEY, "email", "dante@example.com")
    assert identities[1]["hash"] == "given-by-caller"
    assert hashes == [
        {"kind": "email", "hash": identities[0]["hash"]},
        {"kind": "mobile", "hash": "given-by-caller"},
    ]


def test_a_request_without_a_user_service_part_has_no_hashes() -> None:
    assert complete_identity_hashes({"user-service": None, "erp-service": {"actions": []}}, KEY) == []
