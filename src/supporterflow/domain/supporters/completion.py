"""Completing ``supporter_uuid`` in ERP actions (spec/supporter-events.md §5.1 steps 5-6, §5.2).

Precedence for an action whose ``data.supporter_uuid`` is empty: the uuid of the user the request's
own ``user-service`` part signed up (scenario 1), else the user that ``data.identity_hash`` matches
(scenario 2). An explicit ``supporter_uuid`` is never overwritten and ``identity_hash`` is never
removed. Only actions whose model has a supporter link (§3.3) are completed; the flat
``user:create`` / ``identity:add`` actions are left alone.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

SUPPORTER_LINKED_ACTIONS = frozenset(
    {
        "prize:ticket:put",
        "shopify:order:put",
        "subscription:execute",
        "subscription:update",
        "transaction:execute",
        "transaction:sms:put",
        "transaction:execute:ivr",
        "giftaid:submit",
        "postal:put",
        "fundraiser:signup:submit",
        "justgiving:givingpage:put",
        "justgiving:donation:put",
    }
)


def _needs_supporter(action: Mapping[str, Any]) -> bool:
    data = action.get("data")
    return (
        action.get("type") in SUPPORTER_LINKED_ACTIONS
        and isinstance(data, Mapping)
        and data.get("supporter_uuid") in (None, "")
    )


def hashes_to_match(actions: Sequence[Mapping[str, Any]], signup_uuid: str | None) -> list[str]:
    """Identity hashes to look up, once each, in order of first use (none when a signup gave
    the uuid: it takes precedence)."""
    if signup_uuid:
        return []
    hashes: dict[str, None] = {}
    for action in actions:
        if _needs_supporter(action) and action["data"].get("identity_hash"):
            hashes[action["data"]["identity_hash"]] = None
    return list(hashes)


def complete_supporter_uuids(
    actions: Sequence[Mapping[str, Any]], signup_uuid: str | None, matched: Mapping[str, str]
) -> list[dict[str, Any]]:
    """A completed copy of ``actions``; the stored request itself is never changed, so a
    redelivered message is completed afresh."""
    completed = copy.deepcopy([dict(action) for action in actions])
    for action in completed:
        if not _needs_supporter(action):
            continue
        data = action["data"]
        uuid = signup_uuid or matched.get(data.get("identity_hash") or "")
        if uuid:
            data["supporter_uuid"] = uuid
    return completed
