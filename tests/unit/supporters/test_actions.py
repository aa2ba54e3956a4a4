"""Each of the 20 ERP action types: its DEFAULT mock, a missing field, a wrong type, partial mode.

Expected messages were produced by data-models 1.65.0 on yup 0.29.3 (see the docs' "How this
was checked"); every message carries the full path from the supporter-events request.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from supporterflow.domain.supporters import ERP_ACTIONS, ERP_PRODUCER_REQUEST, PRODUCER_REQUEST, mocks
from tests.unit.supporters.helpers import NULL_HINT, PARTIAL_MESSAGE, in_producer, run

ACTION_TYPES = list(ERP_ACTIONS)
DEFINED = "erp-service.actions[0].data.supporter_uuid must be defined"

#: action type -> path of a required field (the error is "<full path> is a required field")
MISSING_REQUIRED = {
    "postal:put": "data.address1",
    "prize:prize:put": "data.title",
    "prize:postalticket:put": "data.country",
    "prize:postalticket:setstate": "data.state",
    "prize:ticket:put": "data.identity_hash",
    "identity:add": "cognito_user_id",
    "user:create": "cognito_user_id",
    "psl:payin:put": "data.audience",
    "transaction:execute": "data.amount",
    "transaction:execute:ivr": "data.amount",
    "transaction:sms:put": "data.mobile_number",
    "subscription:execute": "data.subscriptionId",
    "subscription:update": "data.billingDayOfMonth",
    "giftaid:submit": "data.submission_date",
    "giftaid:update": "data.transactionId",
    "shopify:order:put": "data.order_number",
    "payin:submit": "data.audience",
    "fundraiser:signup:submit": "data.campaign_code",
    "justgiving:givingpage:put": "data.eventName",
    "justgiving:donation:put": "type",
}
#: action type -> (path of a field, a value of the wrong type, the errors after the path)
WRONG_TYPE: dict[str, tuple[str, Any, tuple[str, ...]]] = {
    "postal:put": (
        "data.address_id",
        "abc",
        (
            (
                "data.address_id must be a `number` type, but the final value was: `NaN` "
                '(cast from the value `"abc"`).'
            ),
        ),
    ),
    "prize:prize:put": (
        "data.winners",
        "five",
        (
            (
                "data.winners must be a `number` type, but the final value was: `NaN` "
                '(cast from the value `"five"`).'
            ),
        ),
    ),
    "prize:postalticket:put": (
        "data.country",
        44,
        (("data.country must be a `string` type, but the final value was: `44`."),),
    ),
    "prize:postalticket:setstate": (
        "data",
        "abc",
        (
            (
                "data must be a `object` type, but the final value was: `null` (cast "
                'from the value `"abc"`).' + NULL_HINT
            ),
        ),
    ),
    "prize:ticket:put": (
        "data.postal",
        "yes",
        (
            (
                "data.postal must be a `number` type, but the final value was: `NaN` "
                '(cast from the value `"yes"`).'
            ),
            ("data.postal must be one of the following values: 0, 1"),
        ),
    ),
    "identity:add": (
        "email",
        "abc",
        (
            (
                "email must be a `array` type, but the final value was: `null` (cast "
                'from the value `"abc"`).' + NULL_HINT
            ),
        ),
    ),
    "user:create": (
        "mobile",
        5,
        (
            (
                "mobile must be a `array` type, but the final value was: `null` (cast "
                "from the value `5`)." + NULL_HINT
            ),
        ),
    ),
    "psl:payin:put": (
        "data.address1",
        89,
        (("data.address1 must be a `string` type, but the final value was: `89`."),),
    ),
    "transaction:execute": (
        "data.amount",
        "abc",
        (
            (
                "data.amount must be a `number` type, but the final value was: `NaN` "
                '(cast from the value `"abc"`).'
            ),
        ),
    ),
    "transaction:execute:ivr": (
        "data.created",
        "yesterday",
        (
            (
                "data.created must be a `number` type, but the final value was: `NaN` "
                '(cast from the value `"yesterday"`).'
            ),
        ),
    ),
    "transaction:sms:put": (
        "data.provider_reference",
        7,
        (("data.provider_reference must be a `string` type, but the final value was: `7`."),),
    ),
    "subscription:execute": (
        "data.amount",
        True,
        (
            (
                "data.amount must be a `number` type, but the final value was: `NaN` "
                "(cast from the value `true`)."
            ),
        ),
    ),
    "subscription:update": (
        "data.updated",
        {"at": 1},
        (
            (
                "data.updated must be a `number` type, but the final value was: `NaN` "
                '(cast from the value `{\n  "at": "1"\n}`).'
            ),
        ),
    ),
    "giftaid:submit": (
        "data.can_claim_giftaid",
        "x",
        (
            (
                "data.can_claim_giftaid must be a `number` type, but the final value "
                'was: `NaN` (cast from the value `"x"`).'
            ),
            ("data.can_claim_giftaid must be one of the following values: 0, 1"),
        ),
    ),
    "giftaid:update": (
        "data.claimed",
        None,
        (
            (
                "data.claimed must be a `number` type, but the final value was: `NaN` "
                "(cast from the value `NaN`)."
            ),
            ("data.claimed must be one of the following values: 0, 1"),
        ),
    ),
    "shopify:order:put": (
        "data.line_items",
        "none",
        (
            (
                "data.line_items must be a `array` type, but the final value was: `null` "
                '(cast from the value `"none"`).' + NULL_HINT
            ),
        ),
    ),
    "payin:submit": (
        "data",
        [],
        (
            (
                "data must be a `object` type, but the final value was: `null` (cast "
                "from the value `[]`)." + NULL_HINT
            ),
        ),
    ),
    "fundraiser:signup:submit": (
        "data.fundraising_tools",
        None,
        (("data.fundraising_tools must be a `array` type, but the final value was: `null`." + NULL_HINT),),
    ),
    "justgiving:givingpage:put": (
        "data.email",
        5,
        (("data.email must be a `string` type, but the final value was: `5`."),),
    ),
    "justgiving:donation:put": (
        "data.isAnonymous",
        "maybe",
        (('data.isAnonymous must be a `boolean` type, but the final value was: `"maybe"`.'),),
    ),
}

#: Results of a null / an absent ``data.supporter_uuid``: (errors without context, errors with
#: ``partial: true``); an empty tuple means valid. Actions without the field keep it as an
#: unknown key.
_Results = dict[str, tuple[tuple[str, ...], tuple[str, ...]]]
_STRICT: _Results = {"null": ((PARTIAL_MESSAGE,), ()), "missing": ((PARTIAL_MESSAGE,), ())}
_STRICT_DEFINED: _Results = {"null": ((PARTIAL_MESSAGE,), ()), "missing": ((DEFINED, PARTIAL_MESSAGE), ())}
_NULLABLE_DEFINED: _Results = {"null": ((), ()), "missing": ((DEFINED,), (DEFINED,))}
_FREE: _Results = {"null": ((), ()), "missing": ((), ())}
SUPPORTER_UUID_RESULTS: dict[str, _Results] = {
    "postal:put": _STRICT,
    "prize:prize:put": _FREE,
    "prize:postalticket:put": _FREE,
    "prize:postalticket:setstate": _FREE,
    "prize:ticket:put": _STRICT,
    "psl:payin:put": _FREE,
    "transaction:execute": _NULLABLE_DEFINED,
    "transaction:execute:ivr": _STRICT,
    "transaction:sms:put": _STRICT,
    "subscription:execute": _NULLABLE_DEFINED,
    "subscription:update": _NULLABLE_DEFINED,
    "giftaid:submit": _NULLABLE_DEFINED,
    "giftaid:update": _FREE,
    "shopify:order:put": _STRICT,
    "payin:submit": _FREE,
    "fundraiser:signup:submit": _STRICT_DEFINED,
    "justgiving:givingpage:put": _STRICT_DEFINED,
    "justgiving:donation:put": _FREE,
}


def _set(action: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(action)
    *parents, last = path.split(".")
    target = changed
    for key in parents:
        target = target[key]
    target[last] = value
    return changed


def _without(action: dict[str, Any], path: str) -> dict[str, Any]:
    changed = copy.deepcopy(action)
    *parents, last = path.split(".")
    target = changed
    for key in parents:
        target = target[key]
    del target[last]
    return changed


def test_every_action_type_has_a_model_a_mock_and_a_row_in_each_table() -> None:
    assert len(ACTION_TYPES) == 20
    assert set(mocks.actions()) == set(MISSING_REQUIRED) == set(WRONG_TYPE) == set(ACTION_TYPES)


@pytest.mark.parametrize("action_type", ACTION_TYPES)
def test_the_default_mock_is_valid_inside_an_erp_producer_request(action_type: str) -> None:
    result = run(ERP_PRODUCER_REQUEST, {"actions": [mocks.action(action_type)]})
    assert (result.valid, result.errors) == (True, ())


@pytest.mark.parametrize("action_type", ACTION_TYPES)
def test_the_default_mock_is_valid_inside_a_partial_producer_request(action_type: str) -> None:
    result = run(PRODUCER_REQUEST, in_producer(mocks.action(action_type)), partial=True)
    assert (result.valid, result.errors) == (True, ())


@pytest.mark.parametrize("action_type", ACTION_TYPES)
def test_a_missing_required_field_is_reported_with_its_full_path(action_type: str) -> None:
    path = MISSING_REQUIRED[action_type]
    action = _without(mocks.action(action_type), path)
    assert run(PRODUCER_REQUEST, in_producer(action), partial=True).errors == (
        f"erp-service.actions[0].{path} is a required field",
    )


@pytest.mark.parametrize("action_type", ACTION_TYPES)
def test_a_value_of_the_wrong_type_gets_yups_type_error(action_type: str) -> None:
    path, value, errors = WRONG_TYPE[action_type]
    action = _set(mocks.action(action_type), path, value)
    assert run(PRODUCER_REQUEST, in_producer(action), partial=True).errors == tuple(
        f"erp-service.actions[0].{error}" for error in errors
    )


@pytest.mark.parametrize("partial", [False, True], ids=["without-context", "partial"])
@pytest.mark.parametrize("action_type", list(SUPPORTER_UUID_RESULTS))
def test_a_null_supporter_uuid_follows_the_action_s_rule(action_type: str, partial: bool) -> None:
    action = _set(mocks.action(action_type), "data.supporter_uuid", None)
    expected = SUPPORTER_UUID_RESULTS[action_type]["null"][partial]
    assert run(PRODUCER_REQUEST, in_producer(action), partial=partial).errors == expected


@pytest.mark.parametrize("partial", [False, True], ids=["without-context", "partial"])
@pytest.mark.parametrize("action_type", list(SUPPORTER_UUID_RESULTS))
def test_an_absent_supporter_uuid_follows_the_action_s_rule(action_type: str, partial: bool) -> None:
    action = mocks.action(action_type)
    action["data"].pop("supporter_uuid", None)
    expected = SUPPORTER_UUID_RESULTS[action_type]["missing"][partial]
    assert run(PRODUCER_REQUEST, in_producer(action), partial=partial).errors == expected


@pytest.mark.parametrize("action_type", ["identity:add", "user:create"])
def test_flat_actions_keep_a_supporter_uuid_as_an_unknown_key(action_type: str) -> None:
    action = {**mocks.action(action_type), "supporter_uuid": None}
    result = run(PRODUCER_REQUEST, in_producer(action))
    assert result.valid
    assert result.value["erp-service"]["actions"][0]["supporter_uuid"] is None
