"""yup 0.29.3 semantics the models rely on (spec §2.1) and the cast output they produce."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from supporterflow.domain.supporters import (
    ERP_ACTIONS,
    ERP_PRODUCER_REQUEST,
    IDENTITY,
    PARTIAL_SIGNUP_REQUEST,
    PRODUCER_REQUEST,
    MissingClock,
    mocks,
    validate,
)
from tests.unit.supporters.helpers import NOW, in_producer, run


def _transaction(**data: object) -> dict[str, object]:
    action = mocks.action("transaction:execute")
    action["data"].update(data)
    return action


def _data(result_value: Any, index: int = 0) -> Any:
    return result_value["erp-service"]["actions"][index]["data"]


# ------------------------------------------------------------------ presence rules


def test_defined_lets_null_through() -> None:
    assert run(PRODUCER_REQUEST, in_producer(_transaction(supporter_uuid=None))).valid


def test_required_rejects_an_empty_string() -> None:
    assert run(PRODUCER_REQUEST, in_producer(_transaction(currency="")), partial=True).errors == (
        "erp-service.actions[0].data.currency is a required field",
    )


def test_required_rejects_an_empty_array_and_min_says_so_too() -> None:
    order = mocks.action("shopify:order:put")
    order["data"]["line_items"] = []
    assert run(PRODUCER_REQUEST, in_producer(order), partial=True).errors == (
        "erp-service.actions[0].data.line_items field must have at least 1 items",
        "erp-service.actions[0].data.line_items is a required field",
    )


def test_a_missing_data_object_is_filled_from_its_fields_defaults_not_reported_missing() -> None:
    errors = run(ERP_PRODUCER_REQUEST, {"actions": [{"type": "giftaid:update"}]}).errors
    assert errors == (
        "actions[0].data.transactionId is a required field",
        "actions[0].data.claimed is a required field",
    )


# ------------------------------------------------------------------ casting and output


def test_strings_are_cast_from_numbers() -> None:
    result = run(
        PARTIAL_SIGNUP_REQUEST, {"firstName": 12, "identities": [{"kind": "email", "content": "a@x.com"}]}
    )
    assert result.value["firstName"] == "12"


def test_numbers_are_cast_from_strings_and_the_provider_is_trimmed_and_lower_cased() -> None:
    result = run(PRODUCER_REQUEST, in_producer(_transaction(amount=" 5 ", provider=" FONIX ")), partial=True)
    data = _data(result.value)
    assert (data["amount"], data["provider"], data["method"]) == (5, "fonix", "SMS")


def test_the_method_keeps_a_value_that_was_sent() -> None:
    data = _data(run(PRODUCER_REQUEST, in_producer(_transaction(method="IVR")), partial=True).value)
    assert data["method"] == "IVR"


def test_unknown_keys_are_kept_at_every_level() -> None:
    body = mocks.producer_requests()["DEFAULT"]
    body["trace"] = "t-1"
    body["erp-service"]["actions"][1]["data"]["identity_hash"] = "h"
    body["erp-service"]["actions"][1]["meta"] = {"source": "psl"}
    value = run(PRODUCER_REQUEST, body, partial=True).value
    assert value["trace"] == "t-1"
    assert value["erp-service"]["actions"][1]["data"]["identity_hash"] == "h"
    assert value["erp-service"]["actions"][1]["meta"] == {"source": "psl"}


def test_the_output_lists_keys_in_yups_visiting_order() -> None:
    value = run(PRODUCER_REQUEST, mocks.producer_requests()["ONLY_USER_SERVICE"], partial=True).value
    assert list(value) == ["erp-service", "user-service"]


def test_a_json_string_part_is_parsed_as_yup_does() -> None:
    body = {"user-service": '{"identities": [{"kind": "mobile", "content": "07000 000 000"}]}'}
    value = run(PRODUCER_REQUEST, body, partial=True).value
    assert value["user-service"]["identities"] == [{"kind": "mobile", "content": "+447000000000"}]


def test_validation_does_not_change_the_input() -> None:
    body = mocks.producer_requests()["DEFAULT"]
    run(PRODUCER_REQUEST, body, partial=True)
    assert body == mocks.producer_requests()["DEFAULT"]


def test_defaults_take_the_time_and_uuids_from_the_context() -> None:
    ticket = mocks.action("prize:ticket:put")
    del ticket["data"]["uuid"], ticket["data"]["timestamp"]
    data = _data(run(PRODUCER_REQUEST, in_producer(ticket)).value)
    assert (data["uuid"], data["timestamp"]) == (
        "00000000-0000-4000-8000-000000000001",
        "2024-01-02T03:04:05.678Z",
    )


def test_the_context_clock_may_be_a_callable() -> None:
    identity = mocks.identity()
    del identity["created"]
    result = validate(IDENTITY, identity, context={"now": lambda: NOW})
    assert result.value["created"] == NOW


def test_a_time_default_without_a_clock_in_the_context_is_an_error() -> None:
    payin = mocks.action("psl:payin:put")
    del payin["data"]["created"]
    with pytest.raises(MissingClock):
        validate(ERP_PRODUCER_REQUEST, {"actions": [payin]})


def test_an_identity_date_is_cast_from_its_iso_string() -> None:
    identity = {**mocks.identity(), "created": "2020-09-10T14:33:32.553Z"}
    created = run(IDENTITY, identity).value["created"]
    assert created == datetime(2020, 9, 10, 14, 33, 32, 553000, tzinfo=UTC)


def test_a_partial_action_that_fails_without_context_is_passed_on_as_sent() -> None:
    # The ERP dispatcher only replaces an action by its cast value when it validates without
    # the caller's context; with supporter_uuid null it does not, so no default is added.
    ticket = mocks.action("prize:ticket:put")
    ticket["data"]["supporter_uuid"] = None
    del ticket["data"]["timestamp"]
    result = run(PRODUCER_REQUEST, in_producer(ticket), partial=True)
    assert result.valid
    assert "timestamp" not in _data(result.value)


# ------------------------------------------------------------------ errors and their order


@pytest.mark.parametrize("body", ["abc", [], None, 5, {"user-service": "x"}], ids=repr)
def test_a_body_that_is_not_an_object_is_an_empty_request(body: object) -> None:
    assert run(PRODUCER_REQUEST, body, partial=True).errors == ("Request cannot be empty",)


def test_field_errors_are_sorted_by_the_first_declared_key_found_in_their_path() -> None:
    # "provider" and "supporter_uuid" contain "id", the first key: they rank with it.
    errors = run(ERP_PRODUCER_REQUEST, {"actions": [{"type": "transaction:execute", "data": {}}]}).errors
    fields = [error.split(".")[2].split(" ")[0] for error in errors]
    assert fields == [
        "provider",
        "supporter_uuid",
        "id",
        "amount",
        "currency",
        "client",
        "created",
        "updated",
        "status",
        "postcode",
        "town",
        "country",
        "address1",
    ]


def test_errors_of_both_parts_and_several_actions_keep_yups_order() -> None:
    body = {
        "user-service": {
            "identities": [{"kind": "email", "content": "abc"}, {"kind": "mobile", "content": "abc"}]
        },
        "erp-service": {
            "actions": [
                _transaction(id="nope", amount=-5, provider="bitcoin", created=1.5),
                {"type": "foo:bar"},
            ]
        },
    }
    errors = run(PRODUCER_REQUEST, body, partial=True).errors
    assert errors[:6] == (
        "user-service.identities[0].content must be a valid email",
        "user-service.identities[1].content is not a valid mobile number: 'abc'",
        "erp-service.actions[0].data.provider must be one of the following values: dummy, fonix,"
        " braintree, stripe, paypal_express, worldpay, worldpay_cg, worldpay_rnd, go_cardless,"
        " just_giving, n/a, upward_comms",
        "erp-service.actions[0].data.id must be a valid UUID",
        "erp-service.actions[0].data.amount must be a positive number",
        "erp-service.actions[0].data.created must be an integer",
    )
    assert errors[6] == "erp-service.actions[1].type is 'foo:bar' but must be one of: " + ", ".join(
        f"'{action_type}'" for action_type in ERP_ACTIONS
    )
    assert len(errors) == 7


def test_an_action_without_a_type_says_so() -> None:
    assert run(ERP_PRODUCER_REQUEST, {"actions": [{"data": {}}]}).errors == (
        "actions[0].type is a required field",
    )


def test_a_javascript_crash_inside_an_action_becomes_an_invalid_payload_error() -> None:
    # StrictString.trim() calls (123).trim() in data-models: a TypeError, reported this way.
    body = {"actions": [{"type": "giftaid:submit", "data": {"postcode": 123}}]}
    assert run(ERP_PRODUCER_REQUEST, body).errors == (
        'actions[0] is an invalid ERP Payload. Original value: {\n  "type": "giftaid:submit",\n'
        '  "data": {\n    "postcode": "123"\n  }\n}',
    )


def test_a_type_named_after_an_object_prototype_property_fails_without_messages() -> None:
    # data-models answers 400 with errors undefined: a TypeError escapes yup.
    result = run(ERP_PRODUCER_REQUEST, {"actions": [{"type": "constructor"}]})
    assert (result.valid, result.errors) == (False, ())


def test_a_model_names_its_error_details() -> None:
    assert PRODUCER_REQUEST.details == "ValidationError(supporter-events:ProducerRequest)"
    assert ERP_PRODUCER_REQUEST.details == "ValidationError(erp-service:ProducerRequest)"
