"""Which ERPNext documents each ERP action becomes (spec/supporter-events.md §3.5, §6).

The mapping is declared as data, one entry per action type. Each entry lists the documents to
upsert, in order; every document is named deterministically from the payload, so delivering the
same action twice (a redelivered message) upserts the same documents instead of duplicating them.

The spec infers this mapping from the DocType names of data-models ([I] in §6); docs/erp-mapping.md
describes it for people running an ERPNext site.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from supporterflow.ports import ErpDocument

# Names of documents that the payload does not name itself are UUIDv5 in this namespace, so they
# are the same on every delivery.
_NAMESPACE = uuid.UUID("6f1c4ab2-1f7e-4c1e-9d43-3e6e2a6f8d10")


@dataclass(frozen=True)
class Get:
    """A value of the action: ``Get("amount")`` from its data (or from the action itself for the
    flat actions), ``Get("email", item=True)`` from the list element being expanded."""

    key: str
    item: bool = False


@dataclass(frozen=True)
class Const:
    value: Any


@dataclass(frozen=True)
class NameOf:
    """The name of an earlier document of the same action (a link, e.g. ``postal_id``)."""

    index: int


@dataclass(frozen=True)
class Derived:
    """A stable name made from payload values, for documents the payload does not name."""

    parts: tuple[Get, ...]
    kind: str


@dataclass(frozen=True)
class Rows:
    """A child table: one row per element of the action's list ``each``."""

    each: str
    fields: Mapping[str, Get | Const]


Value = Get | Const | NameOf | Rows
ALL = "all"  # every field of the action's data, as sent


@dataclass(frozen=True)
class Doc:
    doctype: str
    name: Get | Derived
    fields: Mapping[str, Value] | str = ALL
    each: str | None = None  # one document per element of this list of the action
    merge_rows: bool = False  # child rows are added to the stored ones (by id), not replacing them


def _postal(
    line_1: str,
    line_2: str,
    line_3: str,
    postcode: str,
    town: str,
    owner: str,
    country: Value = Get("country"),
) -> Doc:
    """The Postal document that several actions carry inside their own fields."""
    return Doc(
        "Postal",
        name=Derived((Get(owner), Get(postcode), Get(line_1)), "postal"),
        fields={
            "line_1": Get(line_1),
            "line_2": Get(line_2),
            "line_3": Get(line_3),
            "post_code": Get(postcode),
            "town": Get(town),
            "country": country,
        },
    )


# A supporter's emails and phones are child rows of its Supporter document, each with the identity
# hash as its id (spec §2.5 "an identity's hash is the id of its Email/Phone entry", §3.5 observed
# Supporter with a `phone` child table).
_IDENTITY_ROWS: Mapping[str, Value] = {
    "email": Rows(
        "email",
        {
            "id": Get("id", item=True),
            "email": Get("email", item=True),
            "hidden": Get("hidden", item=True),
            "verified": Get("verified", item=True),
        },
    ),
    "phone": Rows(
        "mobile",
        {
            "id": Get("id", item=True),
            "type": Const("Mobile"),
            "number": Get("number", item=True),
            "hidden": Get("hidden", item=True),
            "verified": Get("verified", item=True),
        },
    ),
}


_DONATION = (Doc("Donation", name=Get("id")),)

ACTION_DOCUMENTS: Mapping[str, tuple[Doc, ...]] = {
    "user:create": (
        Doc(
            "Supporter",
            name=Get("cognito_user_id"),
            fields={"first_name": Get("first_name"), "last_name": Get("last_name"), **_IDENTITY_ROWS},
            merge_rows=True,
        ),
    ),
    "identity:add": (Doc("Supporter", name=Get("cognito_user_id"), fields=_IDENTITY_ROWS, merge_rows=True),),
    "transaction:execute": _DONATION,
    "transaction:execute:ivr": _DONATION,
    "transaction:sms:put": (Doc("Donation", name=Get("transaction_id")),),
    "subscription:execute": _DONATION,
    "subscription:update": (Doc("Regular Giving", name=Get("id")),),
    "justgiving:donation:put": (Doc("Donation", name=Derived((Get("id"),), "justgiving-donation")),),
    "giftaid:submit": (
        # A declaration's address is a UK one (HMRC claims): the action has no country field.
        _postal(
            "address_line_1",
            "address_line_2",
            "address_line_3",
            "postcode",
            "town",
            "supporter_uuid",
            Const("GB"),
        ),
        Doc(
            "Gift Aid Declaration",
            name=Get("declaration_transaction_id"),
            fields={
                "supporter_uuid": Get("supporter_uuid"),
                "first_name": Get("first_name"),
                "last_name": Get("last_name"),
                "can_claim_giftaid": Get("can_claim_giftaid"),
                "source": Get("source"),
                "declaration_start_date": Get("declaration_start_date"),
                "declaration_end_date": Get("declaration_end_date"),
                "submission_date": Get("submission_date"),
                "postal_id": NameOf(0),
            },
        ),
    ),
    "giftaid:update": (
        Doc("Donation", name=Get("transactionId"), fields={"giftaid_claimed": Get("claimed")}),
    ),
    "postal:put": (
        Doc("Postal", name=Derived((Get("supporter_uuid"), Get("postcode"), Get("address1")), "postal")),
    ),
    "payin:submit": (
        _postal("address1", "address2", "address3", "postcode", "town", "id"),
        Doc("Payin", name=Get("id")),
    ),
    "psl:payin:put": (
        _postal("address1", "address2", "address3", "postcode", "town", "id"),
        Doc("Payin", name=Get("id")),
    ),
    "prize:prize:put": (Doc("Prize", name=Get("id")),),
    "prize:ticket:put": (Doc("Prize Ticket", name=Get("uuid")),),
    "prize:postalticket:put": (Doc("Prize Postal Ticket", name=Get("id")),),
    "prize:postalticket:setstate": (
        Doc("Prize Postal Ticket", name=Get("id"), fields={"state": Get("state")}),
    ),
    "shopify:order:put": (Doc("Shopify Order", name=Get("shopify_id")),),
    "fundraiser:signup:submit": (
        _postal(
            "address_line_1", "address_line_2", "address_line_3", "postcode", "town", "uuid", Const("GB")
        ),
        Doc("Fundraiser Signup", name=Get("uuid")),
    ),
    "justgiving:givingpage:put": (Doc("JustGiving Page", name=Derived((Get("url"),), "justgiving-page")),),
}


def documents_for(action: Mapping[str, Any]) -> list[ErpDocument]:
    """The documents of one validated, completed ERP action, in the order to write them."""
    rules = ACTION_DOCUMENTS[action["type"]]
    source: Mapping[str, Any] = action.get("data", action)  # the flat actions carry no data
    documents: list[ErpDocument] = []
    for rule in rules:
        items = (source.get(rule.each) or []) if rule.each else [{}]
        for item in items:
            documents.append(
                ErpDocument(
                    rule.doctype,
                    _name(rule.name, source, item),
                    _fields(rule.fields, source, item, documents),
                    merge_rows=rule.merge_rows,
                )
            )
    return documents


def _value(spec: Value, source: Mapping[str, Any], item: Mapping[str, Any], done: list[ErpDocument]) -> Any:
    match spec:
        case Get(key, from_item):
            return (item if from_item else source).get(key)
        case Const(value):
            return value
        case NameOf(index):
            return done[index].name
        case Rows(each, fields):
            return [
                {k: _value(v, source, row, done) for k, v in fields.items()} for row in source.get(each) or []
            ]
    raise TypeError(f"not a value: {spec!r}")


def _name(spec: Get | Derived, source: Mapping[str, Any], item: Mapping[str, Any]) -> str:
    if isinstance(spec, Derived):
        parts = [str(_value(part, source, item, [])) for part in spec.parts]
        return str(uuid.uuid5(_NAMESPACE, "|".join([spec.kind, *parts])))
    return str(_value(spec, source, item, []))


def _fields(
    spec: Mapping[str, Value] | str,
    source: Mapping[str, Any],
    item: Mapping[str, Any],
    done: list[ErpDocument],
) -> dict[str, Any]:
    if spec == ALL:
        return {k: v for k, v in source.items() if k != "type"}
    assert not isinstance(spec, str)
    return {name: _value(value, source, item, done) for name, value in spec.items()}
