"""Every mock of spec §4 and Appendix A gives the outcome data-models gives it."""

from __future__ import annotations

import pytest

from supporterflow.domain.supporters import (
    ERP_PRODUCER_REQUEST,
    IDENTITY,
    MATCH_REQUEST,
    PARTIAL_SIGNUP_REQUEST,
    PRODUCER_REQUEST,
    SIGNUP_REQUEST,
    Model,
    mocks,
)
from tests.unit.supporters.helpers import run

VALID = [
    *((PRODUCER_REQUEST, name, body) for name, body in mocks.producer_requests().items()),
    *((ERP_PRODUCER_REQUEST, name, body) for name, body in mocks.erp_producer_requests().items()),
    *((PARTIAL_SIGNUP_REQUEST, name, body) for name, body in mocks.partial_signup_requests().items()),
    *((SIGNUP_REQUEST, name, body) for name, body in mocks.signup_requests().items()),
    *((MATCH_REQUEST, name, body) for name, body in mocks.match_requests().items()),
    (IDENTITY, "DEFAULT", mocks.identity()),
]
INVALID = [
    *((PRODUCER_REQUEST, name, body) for name, body in mocks.invalid_producer_requests().items()),
    *((ERP_PRODUCER_REQUEST, name, body) for name, body in mocks.invalid_erp_producer_requests().items()),
    *((PARTIAL_SIGNUP_REQUEST, name, body) for name, body in mocks.invalid_partial_signup_requests().items()),
    *((SIGNUP_REQUEST, name, body) for name, body in mocks.invalid_signup_requests().items()),
    *((MATCH_REQUEST, name, body) for name, body in mocks.invalid_match_requests().items()),
]


@pytest.mark.parametrize("partial", [False, True], ids=["without-context", "partial"])
@pytest.mark.parametrize(("model", "name", "body"), VALID, ids=[f"{m.name}-{n}" for m, n, _ in VALID])
def test_a_valid_mock_validates(model: Model, name: str, body: object, partial: bool) -> None:
    result = run(model, body, partial=partial)
    assert (result.valid, result.errors) == (True, ())


@pytest.mark.parametrize(("model", "name", "body"), INVALID, ids=[f"{m.name}-{n}" for m, n, _ in INVALID])
def test_an_invalid_mock_is_rejected_with_errors(model: Model, name: str, body: object) -> None:
    result = run(model, body, partial=True)
    assert not result.valid
    assert result.errors


def test_the_erp_invalid_default_mock_names_the_bad_action() -> None:
    assert run(ERP_PRODUCER_REQUEST, mocks.invalid_erp_producer_requests()["DEFAULT"]).errors == (
        'actions[0] must be a `object` type, but the final value was: `null` (cast from the value `"abc"`).'
        '\n If "null" is intended as an empty value be sure to mark the schema as `.nullable()`',
    )


def test_missing_actions_are_a_missing_required_field() -> None:
    assert run(ERP_PRODUCER_REQUEST, mocks.invalid_erp_producer_requests()["MISSING_ACTIONS"]).errors == (
        "actions is a required field",
    )


def test_mocks_are_fresh_copies_every_time() -> None:
    first = mocks.producer_requests()["DEFAULT"]
    first["user-service"]["identities"].clear()
    assert mocks.producer_requests()["DEFAULT"]["user-service"]["identities"]
