"""Identities: mobile normalisation (spec §2.3, §4.2), e-mail rules (§2.1), match requests (§2.5)."""

from __future__ import annotations

import pytest

from supporterflow.domain.supporters import MATCH_REQUEST, PARTIAL_SIGNUP_REQUEST, mocks
from tests.unit.supporters.helpers import run


def _content(kind: str, content: object) -> tuple[bool, object, tuple[str, ...]]:
    result = run(PARTIAL_SIGNUP_REQUEST, {"identities": [{"kind": kind, "content": content}]})
    if not result.valid:
        return False, None, result.errors
    return True, result.value["identities"][0]["content"], ()


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("07000000000", "+447000000000"),
        ("07000 000 000", "+447000000000"),
        ("0700-000-000", "+44700000000"),
        ("(+44) 700 000 000", "+44700000000"),
        ("(0044) 700 000 000", "+44700000000"),
        ("0044 7000 000 000", "+447000000000"),
        ("+447000000000", "+447000000000"),
        ("+447111111111", "+447111111111"),
        ("+14325551212", "+14325551212"),
    ],
)
def test_a_mobile_is_normalised_to_plus_and_digits(given: object, stored: str) -> None:
    assert _content("mobile", given) == (True, stored, ())


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        ("abc", "abc"),
        ("%07000000000", "%07000000000"),
        ("[+44]7000000000", "[+44]7000000000"),
        ("+1 (432) 555-1212", "+1(432)5551212"),  # only a leading bracketed prefix loses its brackets
        (7000000000, "7000000000"),  # a number is cast to a string first, and has no "+"
    ],
)
def test_an_invalid_mobile_is_reported_after_normalisation(given: object, shown: str) -> None:
    assert _content("mobile", given) == (
        False,
        None,
        (f"identities[0].content is not a valid mobile number: '{shown}'",),
    )


@pytest.mark.parametrize(
    "address", ["user-service@email.sandbox.comicrelief.com", "X.Y@Example.COM", '"q"@x.org']
)
def test_an_email_is_kept_exactly_as_sent(address: str) -> None:
    assert _content("email", address) == (True, address, ())


@pytest.mark.parametrize("address", ["abc", " X@Y.com ", "a@b", "x@y.com\n", "é@x"])
def test_an_email_is_neither_trimmed_nor_lenient(address: str) -> None:
    assert _content("email", address) == (False, None, ("identities[0].content must be a valid email",))


def test_an_empty_content_is_a_missing_required_field() -> None:
    assert _content("email", "") == (False, None, ("identities[0].content is a required field",))


def test_an_unknown_kind_leaves_the_content_unchecked() -> None:
    # data-models returns mixed().typeError('Invalid kind'), which never fires (spec §2.3 differs).
    result = run(PARTIAL_SIGNUP_REQUEST, {"identities": [{"kind": "fax"}]})
    assert result.errors == ("identities[0].kind must be one of the following values: email, mobile",)


def test_several_identities_of_the_same_kind_are_accepted() -> None:
    two_emails = {
        "identities": [{"kind": "email", "content": "a@x.com"}, {"kind": "email", "content": "b@x.com"}]
    }
    assert run(PARTIAL_SIGNUP_REQUEST, two_emails).valid


@pytest.mark.parametrize("name", list(mocks.match_requests()))
def test_a_match_request_with_exactly_one_key_is_valid(name: str) -> None:
    assert run(MATCH_REQUEST, mocks.match_requests()[name]).valid


def test_a_match_request_normalises_its_mobile() -> None:
    assert run(MATCH_REQUEST, {"mobile": "07000 000 000"}).value == {"mobile": "+447000000000"}


ONE_AND_ONLY_ONE = "Please provide one and only one between: 'username', 'email', 'mobile', 'identity_hash'"


@pytest.mark.parametrize("body", [{}, {"email": "a@x.com", "identity_hash": "h"}])
def test_a_match_request_needs_exactly_one_key(body: dict[str, object]) -> None:
    assert run(MATCH_REQUEST, body).errors == (ONE_AND_ONLY_ONE,)


def test_a_null_identity_hash_is_both_the_wrong_type_and_no_key_at_all() -> None:
    assert run(MATCH_REQUEST, {"identity_hash": None}).errors == (
        "identity_hash must be a `string` type, but the final value was: `null`."
        '\n If "null" is intended as an empty value be sure to mark the schema as `.nullable()`',
        ONE_AND_ONLY_ONE,
    )
