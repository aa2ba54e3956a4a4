"""Every model the supporter event service needs, in one place (spec §2-§3).

The request accepted by supporter-event-service is :data:`PRODUCER_REQUEST`; its two parts are
:data:`PARTIAL_SIGNUP_REQUEST` (user-service) and :data:`ERP_PRODUCER_REQUEST` (erp-service).
"""

from __future__ import annotations

from typing import Final

from supporterflow.domain.supporters.erp_models import (
    ACTION_TYPE_CONFLICT_RULES,
    CAMPAIGNS,
    CANCEL_REASONS,
    CONFLICT_RULES,
    CURRENT_CAMPAIGN,
    DONATION_METHODS,
    ERP_ACTIONS,
    ERP_PAYLOAD_TYPES,
    ERP_PRODUCER_REQUEST,
    FULFILMENT_STATUSES,
    FUNDRAISING_ACTIVITIES,
    FUNDRAISING_SEGMENTS,
    FUNDRAISING_TOOLS,
    GIFT_AID_SOURCES,
    PAYIN_AUDIENCES,
    PAYMENT_STATUSES,
    POSTAL_TICKET_STATES,
    SOURCES,
    TICKET_STATES,
    TRANSACTION_PROVIDERS,
    TRANSACTION_STATUSES,
)
from supporterflow.domain.supporters.schema import Model, js_truthy, obj
from supporterflow.domain.supporters.user_models import (
    IDENTITY,
    IDENTITY_REQUEST,
    IDENTITY_TYPES,
    MATCH_REQUEST,
    MATCH_TYPES,
    PARTIAL_SIGNUP_REQUEST,
    SIGNUP_REQUEST,
)

SUPPORTER_EVENTS: Final = "supporter-events"


def _not_empty(value: object) -> bool:
    """At least one part is truthy; anything but an object fails (spec §2.2)."""
    return isinstance(value, dict) and (
        js_truthy(value.get("user-service")) or js_truthy(value.get("erp-service"))
    )


PRODUCER_REQUEST: Final = Model(
    SUPPORTER_EVENTS,
    "ProducerRequest",
    obj(
        {
            "user-service": PARTIAL_SIGNUP_REQUEST.schema.default(None).nullable(),
            "erp-service": ERP_PRODUCER_REQUEST.schema.default(None).nullable(),
        }
    ).test("non-empty", "Request cannot be empty", _not_empty),
)
"""The body supporter-event-service accepts; validate it with ``context={"partial": True}``."""

__all__ = [
    "ACTION_TYPE_CONFLICT_RULES",
    "CAMPAIGNS",
    "CANCEL_REASONS",
    "CONFLICT_RULES",
    "CURRENT_CAMPAIGN",
    "DONATION_METHODS",
    "ERP_ACTIONS",
    "ERP_PAYLOAD_TYPES",
    "ERP_PRODUCER_REQUEST",
    "FULFILMENT_STATUSES",
    "FUNDRAISING_ACTIVITIES",
    "FUNDRAISING_SEGMENTS",
    "FUNDRAISING_TOOLS",
    "GIFT_AID_SOURCES",
    "IDENTITY",
    "IDENTITY_REQUEST",
    "IDENTITY_TYPES",
    "MATCH_REQUEST",
    "MATCH_TYPES",
    "PARTIAL_SIGNUP_REQUEST",
    "PAYIN_AUDIENCES",
    "PAYMENT_STATUSES",
    "POSTAL_TICKET_STATES",
    "PRODUCER_REQUEST",
    "SIGNUP_REQUEST",
    "SOURCES",
    "SUPPORTER_EVENTS",
    "TICKET_STATES",
    "TRANSACTION_PROVIDERS",
    "TRANSACTION_STATUSES",
]
