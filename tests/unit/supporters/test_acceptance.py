"""The observed outcomes of spec §4.4, one test per row, with the exact error strings."""

from __future__ import annotations

import pytest

from supporterflow.domain.supporters import (
    ERP_PRODUCER_REQUEST,
    PARTIAL_SIGNUP_REQUEST,
    PRODUCER_REQUEST,
    SIGNUP_REQUEST,
    mocks,
)
from tests.unit.supporters.helpers import NULL_HINT, PARTIAL_MESSAGE, in_producer, run


@pytest.mark.parametrize(
    "body", [{}, {"user-service": None, "erp-service": None}], ids=["empty", "both-null"]
)
def test_a_request_without_either_part_is_empty(body: object) -> None:
    result = run(PRODUCER_REQUEST, body, partial=True)
    assert (result.valid, result.errors) == (False, ("Request cannot be empty",))


def test_a_user_service_part_alone_is_valid_and_gains_the_defaults() -> None:
    body = {"user-service": {"identities": [{"kind": "email", "content": "dante@example.com"}]}}
    result = run(PRODUCER_REQUEST, body, partial=True)
    assert result.valid
    assert result.value == {
        "erp-service": None,
        "user-service": {
            "firstName": "",
            "lastName": "",
            "identities": [{"kind": "email", "content": "dante@example.com"}],
        },
    }


def test_an_empty_identity_list_is_a_missing_required_field() -> None:
    body = {"user-service": {"firstName": "Dante", "identities": []}}
    assert run(PRODUCER_REQUEST, body, partial=True).errors == (
        "user-service.identities is a required field",
    )


def test_an_empty_action_list_is_a_missing_required_field() -> None:
    assert run(PRODUCER_REQUEST, {"erp-service": {"actions": []}}, partial=True).errors == (
        "erp-service.actions is a required field",
    )


def test_an_unknown_identity_kind_is_rejected_by_the_kind_alone() -> None:
    body = {"identities": [{"kind": "fax", "content": "01234 567890"}]}
    assert run(PARTIAL_SIGNUP_REQUEST, body).errors == (
        "identities[0].kind must be one of the following values: email, mobile",
    )


def test_an_identity_email_must_be_an_email() -> None:
    body = {"user-service": {"identities": [{"kind": "email", "content": "abc"}]}}
    assert run(PRODUCER_REQUEST, body, partial=True).errors == (
        "user-service.identities[0].content must be a valid email",
    )


def test_a_signup_request_identity_needs_its_hash() -> None:
    body = {"identities": [{"kind": "email", "content": "dante@example.com"}]}
    assert run(SIGNUP_REQUEST, body).errors == ("identities[0].hash is a required field",)


def _ticket_without_supporter() -> dict[str, object]:
    ticket = mocks.action("prize:ticket:put")
    ticket["data"]["supporter_uuid"] = None
    return ticket


def test_a_ticket_with_a_null_supporter_uuid_fails_without_the_partial_context() -> None:
    assert run(PRODUCER_REQUEST, in_producer(_ticket_without_supporter())).errors == (PARTIAL_MESSAGE,)


def test_a_ticket_with_a_null_supporter_uuid_passes_with_the_partial_context() -> None:
    result = run(PRODUCER_REQUEST, in_producer(_ticket_without_supporter()), partial=True)
    assert result.valid
    assert result.value["erp-service"]["actions"][0]["data"]["supporter_uuid"] is None


def test_a_transaction_without_the_supporter_uuid_key_fails_even_when_partial() -> None:
    transaction = mocks.action("transaction:execute")
    del transaction["data"]["supporter_uuid"]
    assert run(PRODUCER_REQUEST, in_producer(transaction), partial=True).errors == (
        "erp-service.actions[0].data.supporter_uuid must be defined",
    )


def test_a_transaction_with_a_null_supporter_uuid_and_an_identity_hash_keeps_the_hash() -> None:
    transaction = mocks.action("transaction:execute")
    transaction["data"].update(supporter_uuid=None, identity_hash="abc")
    result = run(ERP_PRODUCER_REQUEST, {"actions": [transaction]})
    assert result.valid
    assert result.value["actions"][0]["data"]["identity_hash"] == "abc"


def test_an_upper_case_provider_is_lower_cased_and_the_method_defaults_to_online() -> None:
    transaction = mocks.action("transaction:execute")
    transaction["data"]["provider"] = "DUMMY"
    data = run(PRODUCER_REQUEST, in_producer(transaction), partial=True).value["erp-service"]["actions"][0][
        "data"
    ]
    assert (data["provider"], data["method"]) == ("dummy", "Online")


def test_errors_in_both_parts_come_in_one_list_user_service_first() -> None:
    result = run(PRODUCER_REQUEST, mocks.invalid_producer_requests()["DEFAULT"], partial=True)
    assert result.errors == (
        "user-service.firstName must be a `string` type, but the final value was: `null`." + NULL_HINT,
        "user-service.lastName must be a `string` type, but the final value was: `null`." + NULL_HINT,
        "user-service.identities[0].kind must be one of the following values: email, mobile",
        "erp-service.actions[0] must be a `object` type, but the final value was: `null`"
        ' (cast from the value `"abc"`).' + NULL_HINT,
    )
