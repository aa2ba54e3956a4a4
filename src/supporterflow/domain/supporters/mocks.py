"""Example payloads of data-models 1.65.0 (spec §4.1-§4.3 and Appendix A), as plain data.

Every function returns fresh deep copies, so a test may change what it gets. Used by the
tests, the benchmark and demos. Two action mocks are not in the spec's Appendix A and come
from the same compiled data-models copy: ``postal:put`` (``POSTALS.valid.DEFAULT``) and
``justgiving:donation:put`` (``DONATION_PUT_VALID.DEFAULT``; the spec says none exists).
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any, Final

_ACTIONS: Final[dict[str, dict[str, Any]]] = {
    "postal:put": {
        "type": "postal:put",
        "data": {
            "name": "postal-1",
            "address_id": 12345,
            "address1": "1st floor, 89 Albert Embankment",
            "address2": "First Floor",
            "address3": "Comic Relief",
            "postcode": "SE1 7TP",
            "town": "London",
            "country": "UK",
            "supporter_uuid": "1967e882-3197-4e6f-8d55-ed4761e2af5b",
            "identity_hash": "",
        },
    },
    "prize:prize:put": {
        "type": "prize:prize:put",
        "data": {
            "id": "1ce06009-ea12-4952-a202-c3c54178d729",
            "title": "My Magnificent Prize",
            "category_id": "3fd5502b-3c7b-4b2c-a6f9-0021f5690681",
            "path": "my-magnificent-prize",
            "url": "https://www.comicrelief.com/prizes/my-descriptive-category/my-magnificent-prize",
            "start_date": "2020-07-20T00:00+01:00",
            "end_date": "2021-02-02T00:00",
            "bundles": [
                {"tickets": 1, "price": 10},
                {"tickets": 10, "price": 90},
                {"tickets": 100, "price": 500},
            ],
            "limit": 100000,
            "winners": 5,
            "completed_tickets_pick": 0,
            "triggered_tickets_pick": 0,
        },
    },
    "prize:postalticket:put": {
        "type": "prize:postalticket:put",
        "data": {
            "id": "27c6801b0f74241945dbbec17772530-99",
            "prize_id": "27c6801b0f74241945dbbec17772530",
            "first_name": "Dante",
            "last_name": "Alighieri",
            "email": "user-service@email.sandbox.comicrelief.com",
            "mobile": "+447000000000",
            "address1": "89",
            "postcode": "SE17TP",
            "town": "London",
            "country": "UK",
            "over18": 1,
            "state": "PENDING",
        },
    },
    "prize:postalticket:setstate": {
        "type": "prize:postalticket:setstate",
        "data": {"id": "4b081d24e2a9430dbc0e3a97d85087a6-948", "state": "PENDING"},
    },
    "prize:ticket:put": {
        "type": "prize:ticket:put",
        "data": {
            "uuid": "0f226bb6-c2a2-4233-b2e6-6ae599186d4a",
            "postal": 0,
            "postal_id": None,
            "prize_id": "27c26801-b0f7-4241-945d-bbec17772530",
            "transaction_uuid": "442137be-c06a-4045-a622-148191058281",
            "donation_uuid": "442137be-c06a-4045-a622-148191058281",
            "supporter_uuid": "5c403ea8-310b-48d3-9315-00b47efa99a9",
            "identity_hash": "hash",
            "parent_uuid": "69949459-ee5a-4522-8ed8-d6638f7da316",
            "state": "PENDING",
            "timestamp": "2020-09-28T14:15:21.147Z",
        },
    },
    "identity:add": {
        "type": "identity:add",
        "cognito_user_id": "akkwofk!we=",
        "email": [
            {
                "id": "cbbdcc1c-798e-440c-8061-0fcdd9c28d35",
                "email": "user-service@email.sandbox.comicrelief.com",
                "hidden": False,
                "verified": False,
            }
        ],
        "mobile": [
            {
                "id": "d5da8137-059c-40e6-8f9c-6f1c9bb01ec1",
                "number": "+447000000000",
                "hidden": False,
                "verified": False,
            }
        ],
    },
    "user:create": {
        "type": "user:create",
        "cognito_user_id": "akkwofk!we=",
        "first_name": "Dante",
        "last_name": "Alighieri",
        "email": [
            {
                "id": "cbbdcc1c-798e-440c-8061-0fcdd9c28d35",
                "email": "user-service@email.sandbox.comicrelief.com",
                "hidden": False,
                "verified": False,
            }
        ],
        "mobile": [
            {
                "id": "d5da8137-059c-40e6-8f9c-6f1c9bb01ec1",
                "number": "+447000000000",
                "hidden": False,
                "verified": False,
            }
        ],
    },
    "psl:payin:put": {
        "type": "psl:payin:put",
        "data": {
            "id": "a0f4d265-ea69-4241-8448-31b54f3d7bba",
            "transactionId": "24664606-a314-4ad7-ab99-93a470a10d12",
            "created": "2021-05-04T10:09:55.692Z",
            "updated": "2021-05-04T10:09:55.692Z",
            "address1": "89 Albert Embankment",
            "address2": None,
            "address3": None,
            "town": "London",
            "country": "UK",
            "postcode": "SE1 7TP",
            "Event": None,
            "audience": "work",
            "WhatYouDid": "Something was done",
            "permission": True,
            "permissionEmail": True,
            "permissionPhone": True,
            "permissionPost": True,
            "permissionSMS": True,
            "phone": "020 7820 2000",
            "mobile": "0700 000 000",
            "establishmentId": None,
            "jobTitle": "Engineer",
            "schoolType": None,
            "establishment_name": None,
            "organisation": "Comic Relief",
            "organisationFreetext": None,
            "fundraising_activity": "baking",
            "ukActiveMember": False,
            "certificate": False,
        },
    },
    "transaction:execute": {
        "type": "transaction:execute",
        "data": {
            "id": "2fadac8d-02c3-4e6b-bbf7-cd4e75bd49d8",
            "supporter_uuid": "389d0996-4682-43fe-b90a-f53855dcf7dc",
            "amount": 5,
            "currency": "GBP",
            "giftaid": 0,
            "affiliate": None,
            "campaign": "CR",
            "transSource": "CRSite",
            "transSourceUrl": "https://donation-staging.spa.comicrelief.com/",
            "transType": "Donation",
            "client": "test",
            "provider": "dummy",
            "providerReference": "D00001",
            "cartId": "DEFAULT-COMICRELIEF",
            "status": "pending",
            "created": 1603660247,
            "updated": 1603660247,
            "address1": "89",
            "address2": None,
            "address3": None,
            "postcode": "SE17TP",
            "town": "London",
            "country": "UK",
        },
    },
    "transaction:execute:ivr": {
        "type": "transaction:execute:ivr",
        "data": {
            "id": "2fadac8d-02c3-4e6b-bbf7-cd4e75bd49d8",
            "supporter_uuid": "389d0996-4682-43fe-b90a-f53855dcf7dc",
            "amount": 5,
            "currency": "GBP",
            "giftaid": 0,
            "campaign": "CR",
            "client": "test",
            "provider": "upward_comms",
            "providerReference": "D00001",
            "status": "pending",
            "created": 1603660247,
            "address1": None,
            "address2": None,
            "address3": None,
            "postcode": None,
            "town": None,
            "country": None,
        },
    },
    "transaction:sms:put": {
        "type": "transaction:sms:put",
        "data": {
            "transaction_id": "2fadac8d02c34e6bbbf7cd4e75bd49d8",
            "supporter_uuid": "389d0996-4682-43fe-b90a-f53855dcf7dc",
            "initiated_at": 1603660247945,
            "status": "complete",
            "amount": 10,
            "provider": "fonix",
            "provider_reference": "7fcf58e4-55a6-402f-a79e-d55e9dd704d9",
            "mobile_number": "+447712345678",
            "fund": "GOTH",
            "project": "RNXX",
            "activity": "F00",
            "keyword": "test",
            "short_code": "70000",
        },
    },
    "subscription:execute": {
        "type": "subscription:execute",
        "data": {
            "id": "2fadac8d-02c3-4e6b-bbf7-cd4e75bd49d8",
            "supporter_uuid": "389d0996-4682-43fe-b90a-f53855dcf7dc",
            "subscriptionId": "f3ba0e0c-faf5-4a77-8b92-b983bc393f6c",
            "amount": 5,
            "currency": "GBP",
            "giftaid": 0,
            "affiliate": None,
            "campaign": "CR",
            "transSource": "CRSite",
            "transSourceUrl": "https://donation-staging.spa.comicrelief.com/",
            "transType": "Donation",
            "client": "test",
            "provider": "dummy",
            "providerReference": "D00001",
            "cartId": "DEFAULT-COMICRELIEF",
            "status": "complete",
            "created": 1603660247,
            "updated": 1603660247,
        },
    },
    "subscription:update": {
        "type": "subscription:update",
        "data": {
            "id": "2fadac8d-02c3-4e6b-bbf7-cd4e75bd49d8",
            "supporter_uuid": "389d0996-4682-43fe-b90a-f53855dcf7dc",
            "amount": 5,
            "billingDayOfMonth": 1,
            "currency": "GBP",
            "giftaid": 0,
            "affiliate": None,
            "campaign": "CR",
            "transSource": "CRSite",
            "transSourceUrl": "https://donation-staging.spa.comicrelief.com/",
            "transType": "Donation",
            "client": "test",
            "provider": "dummy",
            "providerReference": "D00001",
            "cartId": "DEFAULT-COMICRELIEF",
            "status": "active",
            "created": 1603660247,
            "updated": 1603660247,
            "cancelled": None,
            "address1": "89",
            "address2": None,
            "address3": None,
            "postcode": "SE17TP",
            "town": "London",
            "country": "UK",
        },
    },
    "giftaid:submit": {
        "type": "giftaid:submit",
        "data": {
            "declaration_transaction_id": "f4bc1c50-0c04-4984-bb3c-6f032866b2ac",
            "supporter_uuid": "389d0996-4682-43fe-b90a-f53855dcf7dc",
            "declaration_start_date": "2021-02-08T08:31:02.160Z",
            "declaration_end_date": "2021-02-08T08:31:02.160Z",
            "submission_date": "2021-02-08T08:31:02.160Z",
            "first_name": "first_name",
            "last_name": "last_name",
            "source": "Giftaid Submit",
            "can_claim_giftaid": 1,
            "address_line_1": "CAMELFORD HOUSE 87-90",
            "address_line_2": "ALBERT EMBANKMENT",
            "address_line_3": "",
            "town": "LONDON",
            "postcode": "SE1 7TP",
        },
    },
    "giftaid:update": {
        "type": "giftaid:update",
        "data": {"transactionId": "f3ba0e0c-faf5-4a77-8b92-b983bc393f6c", "claimed": 0},
    },
    "shopify:order:put": {
        "type": "shopify:order:put",
        "data": {
            "shopify_id": "8579183571029",
            "shopify_processed_at": "2020-11-01T12:34:56+00:00",
            "shopify_updated_at": "2020-11-02T12:34:56+00:00",
            "shopify_cancelled_at": "2020-11-03T12:34:56+00:00",
            "shopify_customer_id": "4155130642586",
            "supporter_uuid": "a03add53-1ad6-403b-89b0-7690a7c6ff3d",
            "order_number": "#54321",
            "cancel_reason": "Customer",
            "payment_status": "Paid",
            "fulfilment_status": "Unfulfilled",
            "postcode": "SE1 7TP",
            "total_line_items_price": 60,
            "total_discounts": 0,
            "subtotal_price": 60,
            "subtotal_includes_vat": 1,
            "total_outstanding": 0,
            "total_donation_received": 0,
            "total_postage": 7.5,
            "total_price": 67.5,
            "total_vat": 0,
            "total_refunded": 0,
            "currency": "GBP",
            "line_items": [
                {
                    "variant_id": "37642339877018",
                    "sku": "1003-F",
                    "title": "Box of Red Noses (Schools Deposit) - Full Price (£60)",
                    "quantity": 1,
                    "price": 60,
                    "vat": 0,
                    "discount": 0,
                    "currency": "GBP",
                }
            ],
        },
    },
    "payin:submit": {
        "type": "payin:submit",
        "data": {
            "id": "2fadac8d-02c3-4e6b-bbf7-cd4e75bd49d8",
            "transactionId": "f3ba0e0c-faf5-4a77-8b92-b983bc393f6c",
            "audience": "public",
            "address1": "89",
            "address2": None,
            "address3": None,
            "postcode": "SE17TP",
            "town": "London",
            "country": "UK",
        },
    },
    "fundraiser:signup:submit": {
        "type": "fundraiser:signup:submit",
        "data": {
            "supporter_uuid": "797320c2-82a9-46f4-8404-df8813cbdb1f",
            "uuid": "b3e9a1c5-c855-4aa2-8b96-1f68f08d134b",
            "campaign_code": "RND21",
            "fundraising_segment": "secondary_school",
            "org_name": "Comic Relief",
            "org_id": None,
            "org_id_type": None,
            "job_title": "Head Teacher",
            "address_id": 123456,
            "address_line_1": "CAMELFORD HOUSE 87-90",
            "address_line_2": "ALBERT EMBANKMENT",
            "address_line_3": "",
            "town": "LONDON",
            "postcode": "SE1 7TP",
            "phone": "020 7820 2000",
            "fundraising_tools": [
                "justgiving_page_setup",
                "fundraising_pack",
                "digital_pack",
                "downloadable_tools",
            ],
            "fundraising_ideas": ["baking", "fancy_dress", "quiz_or_games"],
            "justgiving_page_id": None,
            "justgiving_page_url": None,
            "target": "£100 - £200",
            "received_at": "2021-02-08T08:31:02.160Z",
        },
    },
    "justgiving:givingpage:put": {
        "type": "justgiving:givingpage:put",
        "data": {
            "supporter_uuid": "1956a589-5c00-4cc6-94be-33457c320c0d",
            "id": 1,
            "url": "https://www.justgiving.com/fundraising/jack-chester",
            "title": "Jack Chester",
            "targetAmount": 1000,
            "totalDonations": 5,
            "totalDonationsPlusGiftAid": 2,
            "offlineAmount": 400,
            "totalSmsDonations": 2,
            "eventName": "Sport Relief 2020 - Schools",
            "eventId": 434232,
            "charity": 187415,
            "emailConsent": False,
            "postConsent": True,
            "addressLine1": "1st floor, 89 Albert Embankment",
            "addressLine2": "First Floor",
            "town": "London",
            "postcode": "SE1 7TP",
            "region": "",
            "country": "UK",
            "firstName": "Amy",
            "lastName": "Due",
            "email": "test@hotmail.co.uk",
        },
    },
    "justgiving:donation:put": {
        "type": "justgiving:donation:put",
        "data": {
            "supporter_uuid": "4fd1dd59-0d09-4ec8-a042-f56748908a46",
            "id": 123456789012,
            "amount": 20,
            "giftaid": 0,
            "justgivingPage": "48641608",
            "isAnonymous": False,
            "address1": "1st floor, 89 Albert Embankment",
            "address2": "First Floor",
            "country": "UK",
            "county": "Region",
            "postcode": "SE1 7TP",
            "paymentFrequency": "Single",
        },
    },
}

_EMAIL_IDENTITY: Final = {"kind": "email", "content": "dante.alighieri@test.sandbox.comicrelief.com"}
_MOBILE_IDENTITY: Final = {"kind": "mobile", "content": "+447847000000"}
_HASH: Final = "45e64813cd2a41129fef8561d3566dfe"
_OWNER: Final = "b6478c65-3109-447a-ace8-9e8ecdd8f590"
_IDENTITY_MOMENT: Final = datetime(2020, 9, 10, 14, 33, 32, 553000, tzinfo=UTC)
_IDENTITY: Final = {
    "hash": _HASH,
    "ownerUuid": _OWNER,
    "kind": "email",
    "content": "dante.alighieri@test.sandbox.comicrelief.com",
    "hidden": False,
    "verified": False,
    "created": _IDENTITY_MOMENT,
    "updated": _IDENTITY_MOMENT,
}
_UNKNOWN_KIND_IDENTITY: Final = {
    **_IDENTITY,
    "kind": "some-kind",
    "created": "2020-09-10T14:33:32.553Z",
    "updated": "2020-09-10T14:33:32.553Z",
}
_PARTIAL_SIGNUP: Final = {
    "firstName": "Dante",
    "lastName": "Alighieri",
    "identities": [_EMAIL_IDENTITY, _MOBILE_IDENTITY],
}
_INVALID_SIGNUP: Final = {"firstName": None, "lastName": None, "identities": [_UNKNOWN_KIND_IDENTITY]}
_SIGNUP: Final = {
    **_PARTIAL_SIGNUP,
    "identities": [
        {**_IDENTITY, "kind": "email"},
        {**_IDENTITY, "kind": "mobile", "content": "+447847000000"},
    ],
}
_ERP_DEFAULT: Final = {"actions": [_ACTIONS["user:create"], _ACTIONS["transaction:execute"]]}
_ERP_INVALID: Final = {"actions": ["abc"]}
_TICKET_ONLY: Final = {"actions": [_ACTIONS["prize:ticket:put"]]}

VALID_MOBILES: Final = (
    "07000000000",
    "07000 000 000",
    "0700-000-000",
    "(+44) 700 000 000",
    "(0044) 700 000 000",
    "0044 7000 000 000",
    "+447000000000",
    "+447111111111",
)
"""Mobiles accepted after normalisation (spec §4.2)."""
INVALID_MOBILES: Final = ("abc", "%07000000000", "[+44]7000000000", "+1 (432) 555-1212")
VALID_EMAIL: Final = "user-service@email.sandbox.comicrelief.com"
INVALID_EMAIL: Final = "abc"


def _copies(mocks: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(mocks)


def action(action_type: str) -> dict[str, Any]:
    """The DEFAULT valid mock of an ERP action, by its wire ``type``."""
    return copy.deepcopy(_ACTIONS[action_type])


def actions() -> dict[str, dict[str, Any]]:
    """Every action's DEFAULT mock, in data-models' ``erpModelMap`` order."""
    return _copies(_ACTIONS)


def producer_requests() -> dict[str, dict[str, Any]]:
    """Valid supporter-events ``ProducerRequest`` mocks (spec §4.1)."""
    return _copies(
        {
            "DEFAULT": {"user-service": _PARTIAL_SIGNUP, "erp-service": _ERP_DEFAULT},
            "ONLY_USER_SERVICE": {"user-service": _PARTIAL_SIGNUP},
            "ONLY_ERP_SERVICE": {"erp-service": _ERP_DEFAULT},
            "ERP_SERVICE_WITH_IDENTITY_HASH": {"erp-service": _TICKET_ONLY},
            "USER_SERVICE_AND_ERP_SERVICE_WITH_IDENTITY_HASH": {
                "user-service": _PARTIAL_SIGNUP,
                "erp-service": _TICKET_ONLY,
            },
        }
    )


def invalid_producer_requests() -> dict[str, dict[str, Any]]:
    """Invalid supporter-events ``ProducerRequest`` mocks (spec §4.1)."""
    return _copies(
        {
            "DEFAULT": {"user-service": _INVALID_SIGNUP, "erp-service": _ERP_INVALID},
            "EMPTY_REQUEST": {},
            "INVALID_USER_SERVICE": {"user-service": _INVALID_SIGNUP, "erp-service": _ERP_DEFAULT},
            "INVALID_ERP_SERVICE": {"user-service": _PARTIAL_SIGNUP, "erp-service": _ERP_INVALID},
        }
    )


def _signup_variants(valid: dict[str, Any]) -> dict[str, Any]:
    identities = valid["identities"]
    return {
        "DEFAULT": valid,
        "ONE_IDENTITY_EMAIL": {**valid, "identities": identities[:1]},
        "ONE_IDENTITY_MOBILE": {**valid, "identities": identities[1:]},
        "TWO_IDENTITIES_EMAIL_AND_MOBILE": valid,
        "MISSING_FIRSTNAME": {key: item for key, item in valid.items() if key != "firstName"},
        "MISSING_LASTNAME": {key: item for key, item in valid.items() if key != "lastName"},
    }


def _invalid_signup_variants(valid: dict[str, Any], identity: dict[str, Any]) -> dict[str, Any]:
    return {
        "DEFAULT": _INVALID_SIGNUP,
        "INVALID_FIRSTNAME": {**valid, "firstName": None},
        "INVALID_LASTNAME": {**valid, "lastName": None},
        "INVALID_IDENTITY_EMAIL": {
            **valid,
            "identities": [{**identity, "kind": "email", "content": INVALID_EMAIL}],
        },
        "INVALID_IDENTITY_MOBILE": {
            **valid,
            "identities": [{**identity, "kind": "mobile", "content": "abc"}],
        },
        "INVALID_IDENTITY_KIND": {**valid, "identities": [{**identity, "kind": "some-kind"}]},
        "NO_IDENTITIES": {**valid, "identities": []},
        "MISSING_IDENTITIES": {key: item for key, item in valid.items() if key != "identities"},
    }


def partial_signup_requests() -> dict[str, dict[str, Any]]:
    """Valid ``PartialSignupRequest`` mocks (spec §4.2)."""
    return _copies(_signup_variants(_PARTIAL_SIGNUP))


def invalid_partial_signup_requests() -> dict[str, dict[str, Any]]:
    """Invalid ``PartialSignupRequest`` mocks (spec §4.2)."""
    return _copies(_invalid_signup_variants(_PARTIAL_SIGNUP, _EMAIL_IDENTITY))


def signup_requests() -> dict[str, dict[str, Any]]:
    """Valid ``SignupRequest`` mocks: identities carry the mock hash (spec §4.2)."""
    return _copies(_signup_variants(_SIGNUP))


def invalid_signup_requests() -> dict[str, dict[str, Any]]:
    return _copies(_invalid_signup_variants(_SIGNUP, _IDENTITY))


def identity() -> dict[str, Any]:
    """The full ``Identity`` mock (``created``/``updated`` are datetimes, as JavaScript Dates)."""
    return copy.deepcopy(_IDENTITY)


def match_requests() -> dict[str, dict[str, Any]]:
    """Valid ``MatchRequest`` mocks: exactly one key (spec §4.2)."""
    return _copies(
        {
            "USERNAME": {"username": _OWNER},
            "EMAIL": {"email": VALID_EMAIL},
            "MOBILE": {"mobile": "07000 000 000"},
            "IDENTITY_HASH": {"identity_hash": "abc"},
        }
    )


def invalid_match_requests() -> dict[str, dict[str, Any]]:
    return _copies(
        {
            "NONE": {},
            "TWO_AT_ONCE": {"email": VALID_EMAIL, "mobile": "+447000000000"},
            "INVALID_USERNAME": {"username": "abc"},
            "INVALID_EMAIL": {"email": INVALID_EMAIL},
            "INVALID_MOBILE": {"mobile": "abc"},
            "NULL_IDENTITY_HASH": {"identity_hash": None},
        }
    )


def erp_producer_requests() -> dict[str, dict[str, Any]]:
    """Valid ERP ``ProducerRequest`` mocks: DEFAULT and one ``VALID_<TYPE>`` per action (§4.3)."""
    mocks: dict[str, Any] = {"DEFAULT": _ERP_DEFAULT}
    for action_type, mock in _ACTIONS.items():
        mocks["VALID_" + action_type.replace(":", "_").upper()] = {"actions": [mock]}
    return _copies(mocks)


def invalid_erp_producer_requests() -> dict[str, dict[str, Any]]:
    """Invalid ERP ``ProducerRequest`` mocks (§4.3; the ``INVALID_<TYPE>`` ones are not in the spec)."""
    return _copies({"DEFAULT": _ERP_INVALID, "MISSING_ACTIONS": {}, "NO_ACTIONS": {"actions": []}})
