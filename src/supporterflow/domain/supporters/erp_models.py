"""ERP-side models of data-models 1.65.0 (namespace ``erp-service``; spec §3).

One declaration per action, transcribed from the compiled data-models schemas: the order of
the fields matters (yup visits them in reverse and sorts errors by it), and so does each
builder call (``defined()`` lets ``null`` through, ``strict()`` stops casting).
:data:`ERP_ACTIONS` keeps data-models' ``erpModelMap`` order: the "must be one of" message
lists the types in that order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Final, cast

from supporterflow.domain.supporters.fields import (
    EMAIL,
    EMAIL_OR_MOBILE,
    ERP_CURRENCY,
    FIRST_NAME,
    LAST_NAME,
    LOWERCASE_STRING,
    MOBILE,
    NON_EMPTY_STRING,
    NUMERIC_BOOL,
    PHONE_NUMBER,
    POSTCODE,
    STRICT_STRING,
    SUPPORTER_UUID,
    TIMESTAMP,
    TIMESTAMP_OR_NOW,
    UUID,
)
from supporterflow.domain.supporters.schema import (
    Model,
    Schema,
    String,
    array,
    boolean,
    dispatch,
    js_truthy,
    number,
    obj,
    string,
)
from supporterflow.domain.supporters.schema.js import UNDEFINED, js_number

ERP_SERVICE: Final = "erp-service"

# ---------------------------------------------------------------- enumerations (spec §3.4)
TRANSACTION_STATUSES: Final = (
    "abandoned",
    "cancelled",
    "complete",
    "declined",
    "error",
    "failed",
    "pending",
    "refunded",
)
TRANSACTION_PROVIDERS: Final = (
    "dummy",
    "fonix",
    "braintree",
    "stripe",
    "paypal_express",
    "worldpay",
    "worldpay_cg",
    "worldpay_rnd",
    "go_cardless",
    "just_giving",
    "n/a",
    "upward_comms",
)
DONATION_METHODS: Final = ("SMS", "Online", "IVR")
GIFT_AID_SOURCES: Final = ("Giftaid Submit", "Giftaid Update", "Giftaid Submit IVR")
TICKET_STATES: Final = ("PENDING", "VERIFIED", "WINNER")
POSTAL_TICKET_STATES: Final = ("PENDING", "PROCESSED", "REJECTED")
PAYMENT_STATUSES: Final = (
    "Pending",
    "Authorized",
    "Partially paid",
    "Paid",
    "Partially refunded",
    "Refunded",
    "Voided",
)
FULFILMENT_STATUSES: Final = ("Fulfilled", "Unfulfilled", "Partial", "Restocked")
CANCEL_REASONS: Final = ("Customer", "Fraud", "Inventory", "Declined", "Other")
PAYIN_AUDIENCES: Final = ("school", "work", "public", "youth")
CAMPAIGNS: Final = (
    "CR",
    "RND17",
    "SR18",
    "RND19",
    "SR20",
    "CV19",
    "RND21",
    "RND22",
    "SRCW22",
    "RND23",
    "YRW",
)
CURRENT_CAMPAIGN: Final = "YRW"
SOURCES: Final = ("fundraiser_signup", "CRSite", "SRSite", "psl_payin")
FUNDRAISING_TOOLS: Final = ("justgiving_page_setup", "fundraising_pack", "digital_pack", "downloadable_tools")
FUNDRAISING_ACTIVITIES: Final = (
    "fancy_dress",
    "baking",
    "sponsored_challenge",
    "quiz_or_games",
    "talent_show",
    "sport_activity",
    "run",
    "walk",
    "cycle",
    "swim",
    "a_combination",
    "something_else",
    "not_sure_yet",
)
FUNDRAISING_SEGMENTS: Final = (
    "work",
    "nursery",
    "primary_school",
    "secondary_school",
    "sixth_form_college",
    "youth_group",
    "school_other",
    "school",
    "individual",
    "sports_club",
    "religious_group",
    "community_group",
    "university",
    "friends_or_family",
    "public",
)
CONFLICT_RULES: Final = ("error", "duplicate", "prefer_email", "prefer_phone")
ACTION_TYPE_CONFLICT_RULES: Final = MappingProxyType({"giftaid:submit": "duplicate"})

# ------------------------------------------------------------------------ shared pieces


def _type(value: str) -> Schema:
    return string().one_of((value,)).required()


def _action(type_value: str, name: str, data: Schema) -> Model:
    """The 18 actions shaped ``{type, data}``."""
    return Model(ERP_SERVICE, name, obj({"type": _type(type_value), "data": data.required()}))


def _email_or_mobile_list(value: object) -> bool:
    """``value && (value.email?.length || value.mobile?.length)`` (the lists are cast by then)."""
    if not isinstance(value, dict):
        return False
    return any(
        isinstance(items, list) and len(items) > 0 for items in (value.get("email"), value.get("mobile"))
    )


_EMAIL_ENTRY: Final = obj(
    {
        "id": string().required(),
        "email": string().email().required(),
        "hidden": boolean().default(False),
        "verified": boolean().default(False),
    }
).required()
_MOBILE_ENTRY: Final = obj(
    {
        "id": string().required(),
        "number": string().required(),
        "hidden": boolean().default(False),
        "verified": boolean().default(False),
    }
).required()


def _flat_identity_action(type_value: str, name: str, names: Mapping[str, Schema]) -> Model:
    """``identity:add`` and ``user:create``: no ``data``, one of the lists must be non-empty."""
    return Model(
        ERP_SERVICE,
        name,
        obj(
            {
                "type": _type(type_value),
                "cognito_user_id": string().required(),
                **names,
                "email": array(_EMAIL_ENTRY),
                "mobile": array(_MOBILE_ENTRY),
            }
        ).test("email-or-mobile", "Please provide either 'email' or 'mobile'", _email_or_mobile_list),
    )


def _fonix_or_other(provider: object) -> str:
    return "sms" if provider == "fonix" and isinstance(provider, str) else "online"


def _sms_default(base: Schema) -> Schema:
    return base.default("SMS")


def _online_default(base: Schema) -> Schema:
    return base.default("Online")


_METHOD_BY_PROVIDER: Final = (
    string()
    .one_of(DONATION_METHODS)
    .when("provider", _fonix_or_other, {"sms": _sms_default, "online": _online_default})
)
"""``method`` defaults to ``SMS`` for the provider ``fonix``, else ``Online``."""
_PROVIDER: Final = LOWERCASE_STRING.one_of(TRANSACTION_PROVIDERS).required()
_UNIX_TIME: Final = number().integer().positive().required()
_NULLABLE_STRING: Final = string().nullable()
_NULLABLE_INTEGER: Final = number().integer().nullable()
_UUID_OR_NULL: Final = string().uuid().nullable().defined()
_TRACKING: Final = {
    "campaign": _NULLABLE_STRING,
    "transSource": _NULLABLE_STRING,
    "transSourceUrl": _NULLABLE_STRING,
    "transType": _NULLABLE_STRING,
    "cartId": _NULLABLE_STRING,
    "providerReference": _NULLABLE_STRING,
    "affiliate": _NULLABLE_STRING,
    "giftaid": _NULLABLE_INTEGER,
}
"""Optional donation tracking fields shared by transaction:execute and the subscriptions."""

# --------------------------------------------------------------------------- actions
POSTAL_PUT: Final = _action(
    "postal:put",
    "PostalPut",
    obj(
        {
            "name": string(),
            "address_id": number().default(None).nullable(),
            "address1": string().required(),
            "address2": string().default("").defined(),
            "address3": string().default("").defined(),
            "postcode": string().required(),
            "town": string().required(),
            "country": string().required(),
            "supporter_uuid": SUPPORTER_UUID,
            "identity_hash": string().default("").defined(),
        }
    ),
)

_BUNDLE: Final = obj({"tickets": number().min(0).required(), "price": number().min(0).required()})
PRIZE_PUT: Final = _action(
    "prize:prize:put",
    "PrizePut",
    obj(
        {
            "id": string().required(),
            "title": string().required(),
            "category_id": string().required(),
            "path": string().required(),
            "url": string().url().default("").defined(),
            "bundles": array(_BUNDLE.required()).required(),
            "start_date": TIMESTAMP.required(),
            "end_date": TIMESTAMP.required(),
            "limit": number().integer().min(-1).default(-1).defined(),
            "winners": number().integer().positive().required(),
            "triggered_tickets_pick": NUMERIC_BOOL.default(0).defined(),
            "completed_tickets_pick": NUMERIC_BOOL.default(0).defined(),
        }
    ),
)

POSTAL_TICKET_PUT: Final = _action(
    "prize:postalticket:put",
    "PostalTicketPut",
    obj(
        {
            "id": STRICT_STRING.required(),
            "prize_id": STRICT_STRING.required(),
            "first_name": FIRST_NAME.required(),
            "last_name": LAST_NAME.required(),
            "email": EMAIL.default("").defined(),
            "mobile": MOBILE.default("").defined(),
            "address1": STRICT_STRING.default("MISSING_POSTAL_INFO").defined(),
            "postcode": STRICT_STRING.default("MISSING_POSTAL_INFO").defined(),
            "town": STRICT_STRING.default("MISSING_POSTAL_INFO").defined(),
            "country": STRICT_STRING.required(),
            "over18": NUMERIC_BOOL.required(),
            "state": STRICT_STRING.one_of(POSTAL_TICKET_STATES).default("PENDING").required(),
        }
    ).with_test(EMAIL_OR_MOBILE),
)

POSTAL_TICKET_SET_STATE: Final = _action(
    "prize:postalticket:setstate",
    "PostalTicketSetState",
    obj({"id": string().required(), "state": string().one_of(POSTAL_TICKET_STATES).required()}),
)


def _postal_entry(postal: object) -> str:
    """``Number(postal) === NumericBool.YES``."""
    return "postal" if js_number(postal) == 1 else "donation"


def _no_donation(base: Schema) -> Schema:
    return base.nullable().one_of((None,))


def _donation_uuid(base: Schema) -> Schema:
    return cast(String, base).uuid().strict().required()


def _derive_donation_uuid(_schema: Schema, value: object, _original: object) -> object:
    """Ticket's transform: ``donation_uuid`` is ``transaction_uuid``, or null for postal entries.

    An absent ``transaction_uuid`` leaves ``donation_uuid`` absent (JavaScript's undefined).
    """
    if not js_truthy(value) or not isinstance(value, dict):
        return value
    derived = dict(value)
    if js_number(value.get("postal", UNDEFINED)) == 1:
        derived["donation_uuid"] = None
    elif "transaction_uuid" in value:
        derived["donation_uuid"] = value["transaction_uuid"]
    else:
        derived.pop("donation_uuid", None)
    return derived


TICKET_PUT: Final = _action(
    "prize:ticket:put",
    "TicketPut",
    obj(
        {
            "uuid": UUID,
            "postal": NUMERIC_BOOL.default(0).defined(),
            "postal_id": string().default(None).nullable(),
            "parent_uuid": string().default(""),
            "prize_id": string().required(),
            "transaction_uuid": string().uuid().required(),
            "donation_uuid": string().when(
                "postal", _postal_entry, {"postal": _no_donation, "donation": _donation_uuid}
            ),
            "supporter_uuid": SUPPORTER_UUID,
            "identity_hash": string().required(),
            "state": string().one_of(TICKET_STATES).required(),
            "timestamp": TIMESTAMP_OR_NOW.defined(),
        }
    ).transform(_derive_donation_uuid),
)

IDENTITY_ADD: Final = _flat_identity_action("identity:add", "IdentityAdd", {})
USER_CREATE: Final = _flat_identity_action(
    "user:create", "UserCreate", {"first_name": FIRST_NAME.default(""), "last_name": LAST_NAME.default("")}
)

_OPTIONAL_BOOLEAN: Final = boolean().nullable().default(None).defined()
_OPTIONAL_TEXT: Final = string().nullable().default(None).defined()
PAYIN_PUT: Final = _action(
    "psl:payin:put",
    "PayinPut",
    obj(
        {
            "id": string().uuid().required(),
            "transactionId": string().uuid().required(),
            "created": TIMESTAMP_OR_NOW.required(),
            "updated": TIMESTAMP_OR_NOW.required(),
            "address1": STRICT_STRING.required(),
            "address2": STRICT_STRING.nullable().default(None).defined(),
            "address3": STRICT_STRING.nullable().default(None).defined(),
            "town": STRICT_STRING.required(),
            "country": STRICT_STRING.required(),
            "postcode": STRICT_STRING.required(),
            "Event": _OPTIONAL_TEXT,
            "audience": string().one_of(PAYIN_AUDIENCES).required(),
            "WhatYouDid": _OPTIONAL_TEXT,
            "permission": _OPTIONAL_BOOLEAN,
            "permissionEmail": _OPTIONAL_BOOLEAN,
            "permissionPhone": _OPTIONAL_BOOLEAN,
            "permissionPost": _OPTIONAL_BOOLEAN,
            "permissionSMS": _OPTIONAL_BOOLEAN,
            "phone": _OPTIONAL_TEXT,
            "mobile": _OPTIONAL_TEXT,
            "establishmentId": _OPTIONAL_TEXT,
            "jobTitle": _OPTIONAL_TEXT,
            "schoolType": _OPTIONAL_TEXT,
            "establishment_name": _OPTIONAL_TEXT,
            "organisation": _OPTIONAL_TEXT,
            "organisationFreetext": _OPTIONAL_TEXT,
            "fundraising_activity": _OPTIONAL_TEXT,
            "ukActiveMember": _OPTIONAL_BOOLEAN,
            "certificate": _OPTIONAL_BOOLEAN,
        }
    ),
)

TRANSACTION_EXECUTE: Final = _action(
    "transaction:execute",
    "TransactionExecute",
    obj(
        {
            "id": string().uuid().required(),
            "supporter_uuid": _UUID_OR_NULL,
            "amount": number().positive().required(),
            "currency": string().required(),
            "client": string().required(),
            "provider": _PROVIDER,
            "created": _UNIX_TIME,
            "updated": _UNIX_TIME,
            "status": string().one_of(TRANSACTION_STATUSES).required(),
            "postcode": string().required(),
            "town": string().required(),
            "country": string().required(),
            "address1": string().required(),
            "address2": _NULLABLE_STRING,
            "address3": _NULLABLE_STRING,
            **_TRACKING,
            "method": _METHOD_BY_PROVIDER,
        }
    ),
)

TRANSACTION_EXECUTE_IVR: Final = _action(
    "transaction:execute:ivr",
    "TransactionExecuteIvr",
    obj(
        {
            "id": string().uuid().required(),
            "supporter_uuid": SUPPORTER_UUID,
            "amount": number().positive().required(),
            "currency": string().required(),
            "client": string().required(),
            "provider": _PROVIDER,
            "created": _UNIX_TIME,
            "status": string().one_of(TRANSACTION_STATUSES).required(),
            "postcode": _NULLABLE_STRING,
            "town": _NULLABLE_STRING,
            "country": _NULLABLE_STRING,
            "address1": _NULLABLE_STRING,
            "address2": _NULLABLE_STRING,
            "address3": _NULLABLE_STRING,
            "campaign": _NULLABLE_STRING,
            "providerReference": _NULLABLE_STRING,
            "giftaid": _NULLABLE_INTEGER,
            "method": string().one_of(DONATION_METHODS),
        }
    ),
)

TRANSACTION_SMS_PUT: Final = _action(
    "transaction:sms:put",
    "TransactionSmsPut",
    obj(
        {
            "transaction_id": string().required(),
            "supporter_uuid": SUPPORTER_UUID,
            "initiated_at": _UNIX_TIME,
            "status": string().one_of(TRANSACTION_STATUSES).required(),
            "amount": number().positive().required(),
            "provider": _PROVIDER,
            "provider_reference": string().strict().nullable().defined(),
            "mobile_number": string().required(),
            "fund": string().required(),
            "project": string().required(),
            "activity": string().required(),
            "keyword": string().defined().nullable(False),
            "short_code": string().required(),
        }
    ),
)

SUBSCRIPTION_EXECUTE: Final = _action(
    "subscription:execute",
    "SubscriptionExecute",
    obj(
        {
            "id": string().uuid().required(),
            "supporter_uuid": _UUID_OR_NULL,
            "subscriptionId": string().uuid().required(),
            "amount": number().positive().required(),
            "currency": string().required(),
            "client": string().required(),
            "provider": _PROVIDER,
            "created": _UNIX_TIME,
            "updated": _UNIX_TIME,
            "status": string().one_of(TRANSACTION_STATUSES).required(),
            **_TRACKING,
            "method": _METHOD_BY_PROVIDER,
        }
    ),
)

SUBSCRIPTION_UPDATE: Final = _action(
    "subscription:update",
    "SubscriptionUpdate",
    obj(
        {
            "id": string().uuid().required(),
            "supporter_uuid": _UUID_OR_NULL,
            "amount": number().positive().required(),
            "billingDayOfMonth": number().positive().required(),
            "currency": string().required(),
            "client": string().required(),
            "provider": string().required(),
            "created": _UNIX_TIME,
            "updated": _UNIX_TIME,
            "cancelled": TIMESTAMP.nullable().default(None),
            "status": string().required(),
            "postcode": string().required(),
            "town": string().required(),
            "country": string().required(),
            "address1": string().required(),
            "address2": _NULLABLE_STRING,
            "address3": _NULLABLE_STRING,
            **_TRACKING,
        }
    ),
)

GIFTAID_SUBMIT: Final = _action(
    "giftaid:submit",
    "GiftaidSubmit",
    obj(
        {
            "declaration_transaction_id": string().uuid().required(),
            "supporter_uuid": _UUID_OR_NULL,
            "declaration_start_date": TIMESTAMP.required(),
            "declaration_end_date": TIMESTAMP.nullable().default(None).defined(),
            "submission_date": TIMESTAMP.required(),
            "first_name": string().required(),
            "last_name": string().required(),
            "source": string().one_of(GIFT_AID_SOURCES).required(),
            "can_claim_giftaid": number().integer().one_of((0, 1)).required(),
            "address_line_1": STRICT_STRING.trim().required().max(100),
            "address_line_2": _NULLABLE_STRING,
            "address_line_3": _NULLABLE_STRING,
            "town": _NULLABLE_STRING,
            "postcode": POSTCODE.required(),
        }
    ),
)

GIFTAID_UPDATE: Final = _action(
    "giftaid:update",
    "GiftaidUpdate",
    obj({"transactionId": string().required(), "claimed": number().integer().one_of((0, 1)).required()}),
)

_LINE_ITEM: Final = obj(
    {
        "variant_id": NON_EMPTY_STRING.nullable().defined(),
        "sku": NON_EMPTY_STRING.nullable().defined(),
        "title": string().required(),
        "quantity": number().positive().integer().required(),
        "price": ERP_CURRENCY.min(0).required(),
        "vat": ERP_CURRENCY.min(0).required(),
        "discount": ERP_CURRENCY.min(0).required(),
        "currency": string().required(),
    }
)
_AMOUNT: Final = ERP_CURRENCY.min(0).required()
SHOPIFY_ORDER_PUT: Final = _action(
    "shopify:order:put",
    "ShopifyOrderPut",
    obj(
        {
            "shopify_id": string().required(),
            "shopify_processed_at": TIMESTAMP.required(),
            "shopify_updated_at": TIMESTAMP.required(),
            "shopify_cancelled_at": TIMESTAMP.nullable().defined(),
            "shopify_customer_id": string().required(),
            "supporter_uuid": SUPPORTER_UUID,
            "order_number": string().required(),
            "cancel_reason": string().nullable().one_of((None, *CANCEL_REASONS)).defined(),
            "payment_status": string().one_of(PAYMENT_STATUSES).required(),
            "fulfilment_status": string().one_of(FULFILMENT_STATUSES).required(),
            "postcode": string().uppercase().required(),
            "total_line_items_price": _AMOUNT,
            "total_discounts": _AMOUNT,
            "subtotal_price": _AMOUNT,
            "subtotal_includes_vat": NUMERIC_BOOL.required(),
            "total_outstanding": _AMOUNT,
            "total_donation_received": _AMOUNT,
            "total_postage": _AMOUNT,
            "total_price": _AMOUNT,
            "total_vat": _AMOUNT,
            "total_refunded": _AMOUNT,
            "currency": string().required(),
            "line_items": array(_LINE_ITEM.required()).min(1).required(),
        }
    ),
)

PAYIN_SUBMIT: Final = _action(
    "payin:submit",
    "PayinSubmit",
    obj(
        {
            "id": string().uuid().required(),
            "transactionId": string().uuid().required(),
            "audience": string().required(),
            "postcode": string().required(),
            "town": string().required(),
            "country": string().required(),
            "address1": string().required(),
            "address2": _NULLABLE_STRING,
            "address3": _NULLABLE_STRING,
        }
    ),
)


def _empty_to_null(_schema: Schema, value: object, _original: object) -> object:
    return None if value == "" else value


def _falsy_to_null(_schema: Schema, value: object, _original: object) -> object:
    """``val || null``."""
    return value if js_truthy(value) else None


def _truthy(value: object) -> str:
    return "then" if js_truthy(value) else "otherwise"


def _when_present(branch: Schema) -> Mapping[str, Callable[[Schema], Schema]]:
    """yup's object form ``when(ref, {is: v => !!v, then})``: the base concatenated with ``then``."""
    return {"then": lambda base: base.concat(branch), "otherwise": lambda base: base}


_TRIMMED_LINE: Final = STRICT_STRING.trim().max(100)
FUNDRAISER_SIGNUP_SUBMIT: Final = _action(
    "fundraiser:signup:submit",
    "FundraiserSignupSubmit",
    obj(
        {
            "supporter_uuid": SUPPORTER_UUID.defined(),
            "uuid": STRICT_STRING.uuid().required(),
            "campaign_code": STRICT_STRING.required(),
            "fundraising_segment": STRICT_STRING.required(),
            "org_name": STRICT_STRING.nullable().defined().transform(_falsy_to_null),
            "org_id": string().nullable().defined().transform(_falsy_to_null),
            "org_id_type": STRICT_STRING.nullable()
            .defined()
            .when(
                "org_id",
                _truthy,
                _when_present(STRICT_STRING.required("${path} is required when org_id is present")),
            ),
            "job_title": STRICT_STRING.nullable().defined().transform(_falsy_to_null),
            "address_id": number().integer().positive().nullable().defined().default(None),
            "address_line_1": STRICT_STRING.trim().required().max(100),
            "address_line_2": _TRIMMED_LINE.ensure().defined(),
            "address_line_3": _TRIMMED_LINE.ensure().defined(),
            "town": STRICT_STRING.trim().required().max(100),
            "postcode": POSTCODE.required(),
            "phone": PHONE_NUMBER.nullable().default(None).defined().transform(_empty_to_null),
            "fundraising_tools": array(STRICT_STRING.required()).strict().ensure().defined().nullable(False),
            "fundraising_ideas": array(STRICT_STRING.required()).strict().ensure().defined().nullable(False),
            "justgiving_page_id": number()
            .nullable()
            .default(None)
            .when(
                "justgiving_page_url",
                _truthy,
                _when_present(
                    number()
                    .integer()
                    .positive()
                    .required("${path} is required when justgiving_page_url is present")
                ),
            ),
            "justgiving_page_url": STRICT_STRING.url()
            .nullable()
            .default(None)
            .when(
                "justgiving_page_id",
                _truthy,
                _when_present(
                    STRICT_STRING.url().required("${path} is required when justgiving_page_id is present")
                ),
            ),
            "target": STRICT_STRING.defined().nullable().transform(_falsy_to_null),
            "received_at": TIMESTAMP.required(),
        },
        excluded_edges=(("justgiving_page_id", "justgiving_page_url"),),
    ),
)

_DEFAULT_EMPTY: Final = string().default("").defined()
GIVING_PAGE_PUT: Final = _action(
    "justgiving:givingpage:put",
    "GivingPagePut",
    obj(
        {
            "supporter_uuid": SUPPORTER_UUID.defined(),
            "id": string(),
            "url": STRICT_STRING.url().defined(),
            "title": string(),
            "targetAmount": number(),
            "totalDonations": number(),
            "totalDonationsPlusGiftAid": number(),
            "totalSmsDonations": number(),
            "offlineAmount": number().required(),
            "eventName": string().required(),
            "eventId": number().required(),
            "charity": number().required(),
            "emailConsent": _OPTIONAL_BOOLEAN,
            "postConsent": _OPTIONAL_BOOLEAN,
            "addressLine1": _DEFAULT_EMPTY,
            "addressLine2": _DEFAULT_EMPTY,
            "town": _DEFAULT_EMPTY,
            "postcode": _DEFAULT_EMPTY,
            "region": _DEFAULT_EMPTY,
            "country": _DEFAULT_EMPTY,
            "firstName": _DEFAULT_EMPTY,
            "lastName": _DEFAULT_EMPTY,
            "email": STRICT_STRING.email().defined(),
        }
    ),
)

DONATION_PUT: Final = _action(
    "justgiving:donation:put",
    "DonationPut",
    obj(
        {
            "supporter_uuid": string().uuid().nullable(),
            "id": number(),
            "amount": number(),
            "giftaid": _NULLABLE_INTEGER,
            "justgivingPage": _OPTIONAL_TEXT,
            "isAnonymous": boolean(),
            "address1": STRICT_STRING.nullable(),
            "address2": STRICT_STRING.nullable(),
            "country": STRICT_STRING.nullable(),
            "county": STRICT_STRING.nullable(),
            "postcode": STRICT_STRING.nullable(),
            "paymentFrequency": _OPTIONAL_TEXT,
        }
    ),
)

ERP_ACTIONS: Final[Mapping[str, Model]] = MappingProxyType(
    {
        "postal:put": POSTAL_PUT,
        "prize:prize:put": PRIZE_PUT,
        "prize:postalticket:put": POSTAL_TICKET_PUT,
        "prize:postalticket:setstate": POSTAL_TICKET_SET_STATE,
        "prize:ticket:put": TICKET_PUT,
        "identity:add": IDENTITY_ADD,
        "user:create": USER_CREATE,
        "psl:payin:put": PAYIN_PUT,
        "transaction:execute": TRANSACTION_EXECUTE,
        "transaction:execute:ivr": TRANSACTION_EXECUTE_IVR,
        "transaction:sms:put": TRANSACTION_SMS_PUT,
        "subscription:execute": SUBSCRIPTION_EXECUTE,
        "subscription:update": SUBSCRIPTION_UPDATE,
        "giftaid:submit": GIFTAID_SUBMIT,
        "giftaid:update": GIFTAID_UPDATE,
        "shopify:order:put": SHOPIFY_ORDER_PUT,
        "payin:submit": PAYIN_SUBMIT,
        "fundraiser:signup:submit": FUNDRAISER_SIGNUP_SUBMIT,
        "justgiving:givingpage:put": GIVING_PAGE_PUT,
        "justgiving:donation:put": DONATION_PUT,
    }
)
"""Every action model by its wire ``type``, in data-models' ``erpModelMap`` order."""
ERP_PAYLOAD_TYPES: Final = tuple(ERP_ACTIONS)

ERP_PRODUCER_REQUEST: Final = Model(
    ERP_SERVICE, "ProducerRequest", obj({"actions": array(dispatch(ERP_ACTIONS).required()).required()})
)
"""``{actions: [...]}``: a required, non-empty list of actions of known types (spec §3.1)."""
