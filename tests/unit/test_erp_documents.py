"""Which ERPNext documents each action becomes."""

from __future__ import annotations

from typing import Any

import pytest

from supporterflow.domain.supporters.erp_documents import ACTION_DOCUMENTS, documents_for
from supporterflow.domain.supporters.models import ERP_ACTIONS

GIFTAID: dict[str, Any] = {
    "type": "giftaid:submit",
    "data": {
        "declaration_transaction_id": "f4bc1c50-0c04-4984-bb3c-6f032866b2ac",
        "supporter_uuid": "389d0996-4682-43fe-b90a-f53855dcf7dc",
        "first_name": "Dante",
        "last_name": "Alighieri",
        "can_claim_giftaid": 1,
        "source": "Giftaid Submit",
        "declaration_start_date": "2021-02-08T08:31:02.160Z",
        "declaration_end_date": None,
        "submission_date": "2021-02-08T08:31:02.160Z",
        "address_line_1": "89 Albert Embankment",
        "address_line_2": None,
        "address_line_3": None,
        "town": "London",
        "postcode": "SE1 7TP",
    },
}


def test_every_action_type_has_a_mapping() -> None:
    assert set(ACTION_DOCUMENTS) == set(ERP_ACTIONS)


def test_a_gift_aid_declaration_comes_with_its_postal_address_linked() -> None:
    postal, declaration = documents_for(GIFTAID)
    assert (postal.doctype, declaration.doctype) == ("Postal", "Gift Aid Declaration")
    assert declaration.name == "f4bc1c50-0c04-4984-bb3c-6f032866b2ac"
    assert declaration.fields["postal_id"] == postal.name
    assert declaration.fields["supporter_uuid"] == "389d0996-4682-43fe-b90a-f53855dcf7dc"
    assert postal.fields == {
        "line_1": "89 Albert Embankment",
        "line_2": None,
        "line_3": None,
        "post_code": "SE1 7TP",
        "town": "London",
        "country": "GB",
    }


def test_names_are_the_same_on_every_delivery() -> None:
    assert documents_for(GIFTAID) == documents_for(GIFTAID)


def test_user_create_is_one_supporter_with_its_identities_as_child_rows() -> None:
    action = {
        "type": "user:create",
        "cognito_user_id": "c-1",
        "first_name": "Dante",
        "last_name": "Alighieri",
        "email": [{"id": "hash-e", "email": "d@example.com", "hidden": False, "verified": False}],
        "mobile": [{"id": "hash-m", "number": "+447000000000", "hidden": False, "verified": True}],
    }
    (supporter,) = documents_for(action)
    assert (supporter.doctype, supporter.name, supporter.merge_rows) == ("Supporter", "c-1", True)
    assert supporter.fields == {
        "first_name": "Dante",
        "last_name": "Alighieri",
        "email": [{"id": "hash-e", "email": "d@example.com", "hidden": False, "verified": False}],
        "phone": [
            {"id": "hash-m", "type": "Mobile", "number": "+447000000000", "hidden": False, "verified": True}
        ],
    }


def test_identity_add_only_adds_rows() -> None:
    action = {"type": "identity:add", "cognito_user_id": "c-1", "mobile": [{"id": "h2", "number": "+44711"}]}
    (supporter,) = documents_for(action)
    assert supporter.merge_rows
    assert set(supporter.fields) == {"email", "phone"}
    assert supporter.fields["email"] == []


@pytest.mark.parametrize(
    ("action", "doctype", "name"),
    [
        ({"type": "transaction:execute", "data": {"id": "d-1", "amount": 5}}, "Donation", "d-1"),
        ({"type": "transaction:sms:put", "data": {"transaction_id": "s-1"}}, "Donation", "s-1"),
        ({"type": "subscription:update", "data": {"id": "r-1"}}, "Regular Giving", "r-1"),
        ({"type": "prize:ticket:put", "data": {"uuid": "t-1"}}, "Prize Ticket", "t-1"),
        ({"type": "shopify:order:put", "data": {"shopify_id": "8579"}}, "Shopify Order", "8579"),
    ],
)
def test_single_document_actions_are_named_by_their_own_id_and_keep_their_fields(
    action: dict[str, Any], doctype: str, name: str
) -> None:
    (document,) = documents_for(action)
    assert (document.doctype, document.name, document.fields) == (doctype, name, action["data"])
